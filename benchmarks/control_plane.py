"""``epmip bench control-plane``: control-plane throughput and binding memory, in-process.

No Open vSwitch, Mininet or Ryu event loop: the framework-free core (``controller/core.py``) is
driven directly, on one thread, with a generated domain of N mobile nodes (default 10k, 100k, 1M):
the switch/link layout of ``examples/domain.yaml`` (HNP pools widened to /40 so that 1M MNs fit),
MNs spread round-robin over the eMAGs that have an eLMA (emag1/emag2 -> elma1, emag3/emag4 ->
elma3), MACs ``02:10:..`` (unique, bit 0x04 clear).  Every switch is connected (``switch_up`` with
its trunk ports).  Each size runs in a fresh Python process, so sizes do not share a heap.

Measured per N (rates are operations per second of wall time on one core; nothing is asserted on
time):

1. registrations/s: ``port_added`` for an MN's access port (MAC ``access_port_mac(mn.mac)``) ->
   MAG PBU -> dispatcher -> LMA BCE + binding flow -> PBA -> MAG flows + RA; timed on a
   random sample of MNs after the others are registered (so at ~N bindings).  The others are
   registered without the core's port-MAC lookup (``Mag.host_seen`` + the bus: the same
   PBU/PBA/flows/RA path); that fill is timed too and reported as its own figure, which separates
   the cost of the lookup from the rest.  Above ``--max-full`` MNs only samples of both are timed
   (the cache then holds only the sampled bindings; route set-ups and handoffs are skipped).
2. route set-ups/s: ``packet_in(table=UPLINK)`` with a 54-byte Ethernet+IPv6 header from an MN
   to the HNP of an MN on another eMAG that this eMAG has not located yet: DRF miss -> PBQR ->
   LMF lookup -> PBQA -> DRF flow intent.  Also: the same through the Ryu app's own packet-in
   handler (``EpmipApp._packet_in``, OFPPacketIn event in, the flow-mod packed by
   ``apps/ofp_adapter.to_bytes`` and handed to ``Datapath.send``), and DRF misses answered from the
   location cache.  Through real sockets: ``epmip bench load`` (benchmarks/load.py).
3. handoffs/s: ``port_removed`` on the old eMAG then ``port_added`` on the other eMAG of the same
   eLMA, for MNs that have DRF sessions (de-registration PBU/PBA, PBU/PBA with previous CoA,
   PBCI/PBCA with the correspondents, redirect, re-pointed DRF entries); also without the
   port-MAC lookup.
4. memory per binding: a ``BindingCache`` filled directly with entries built like ``on_pbu``
   builds them (new HNP network, CoA address, MAC string and floats per entry; the MN id string
   belongs to the domain and is not counted), in a fresh process: RSS delta, and tracemalloc up to
   ``DEFAULT_TRACE_MAX`` entries (it slows the fill ~5x).  Plus the whole controller's RSS growth per
   registered MN (full path), and the time of one timer ``tick`` with N bindings (nothing due).
5. the same run times ``ryu.app.simple_switch_13`` on a fake datapath: OFPPacketIn event for a
   learned destination -> OFPFlowMod + OFPPacketOut, serialized.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import ipaddress
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from benchmarks import analysis
from controller.config import Domain, MobileNode, Switch, access_port_mac, parse_domain

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "examples" / "domain.yaml"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 5_000)
DEFAULT_BUDGET = 3.0  # seconds per timed phase per size
QUICK_BUDGET = 0.5
DEFAULT_MAX_FULL = 100_000  # above: samples only (filling 1M via the registration path takes minutes)
DEFAULT_TRACE_MAX = 100_000  # tracemalloc slows the fill ~5x; RSS is measured at every size
SAMPLES = {"registration": 1000, "route_setup": 20000, "handoff": 2000, "ryu": 10000}
QUICK_SAMPLES = {"registration": 200, "route_setup": 2000, "handoff": 200, "ryu": 2000}
POOLS = {"elma1": ["2001:db8:a000::/40"], "elma3": ["2001:db8:c000::/40", "2001:db8:d000::/40"]}
MAX_MNS = (1 << 24) - 2  # /64s in a /40 pool, less the first
SEED = 1
HEAP_EVERY = 1024  # events between looks at the heap's freeze timer
STEP = 1e-4  # the fake clock advances this much per event (PBU timestamps must not go back)
LIFETIME = 60.0


class BenchError(RuntimeError):
    """The controller did not do what a phase expects (a functional failure, never a time)."""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _rate(count: int, seconds: float) -> dict:
    return {
        "count": count,
        "seconds": round(seconds, 6),
        "per_s": round(count / seconds, 1) if count and seconds > 0 else None,
        "us_per_op": round(1e6 * seconds / count, 2) if count else None,
    }


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- the generated domain


def mn_mac(i: int) -> str:
    return f"02:10:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"


def _layout() -> dict:
    doc = yaml.safe_load(LAYOUT.read_text())
    doc.update(mode="epmip", lmf_discovery="config", mobile_nodes=[])
    # the fake clock moves STEP per event: a full fill of 1M MNs passes 100 s, so refreshes of a 60 s
    # binding would fall due (and the timer-tick figure expects nothing due)
    doc.setdefault("timers", {})["binding_lifetime"] = 3600
    for sw in doc["switches"]:
        if sw["name"] in POOLS:
            sw["prefixes"] = POOLS[sw["name"]]
    return doc


def attach_points(doc: dict) -> list[tuple[str, str]]:
    """(eMAG, its eLMA) for every eMAG whose default LMA is an eLMA."""
    roles = {s["name"]: s["role"] for s in doc["switches"]}
    return [(s["name"], s["lma"]) for s in doc["switches"] if s["role"] == "emag" and roles.get(s.get("lma")) == "elma"]


def build_domain(n: int, via_yaml: bool = False) -> Domain:
    """The reference layout with ``n`` generated MN profiles.  ``via_yaml``: the profiles go through
    ``parse_domain`` too (validation; slow for large n), else they are built as dataclasses."""
    if not 1 <= n <= MAX_MNS:
        raise ValueError(f"size {n} is not between 1 and {MAX_MNS}")
    doc = _layout()
    points = attach_points(doc)
    if via_yaml:
        doc["mobile_nodes"] = [
            {"id": f"m{i}", "mac": mn_mac(i), "attach": points[i % len(points)][0], "lma": points[i % len(points)][1]}
            for i in range(n)
        ]
    domain = parse_domain(yaml.safe_dump(doc, sort_keys=False), source=f"<bench control-plane: {n} mobile nodes>")
    if not via_yaml:
        domain.mobile_nodes = {
            f"m{i}": MobileNode(f"m{i}", mn_mac(i), points[i % len(points)][0], points[i % len(points)][1])
            for i in range(n)
        }
    return domain


def trunk_mac(dpid: int, port: int) -> str:
    return f"0a:00:00:{(dpid >> 8) & 255:02x}:{dpid & 255:02x}:{port & 255:02x}"


class FakeDatapath:
    """What Ryu's ``Datapath.send_msg`` does before the socket: set the xid, serialize."""

    def __init__(self, dpid: int) -> None:
        from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

        self.id = dpid
        self.ofproto = ofproto_v1_3
        self.ofproto_parser = ofproto_v1_3_parser
        self.xid = 0
        self.sent: Counter[str] = Counter()
        self.bytes = 0

    def set_xid(self, msg) -> int:
        self.xid = (self.xid + 1) & 0xFFFFFFFF
        msg.set_xid(self.xid)
        return self.xid

    def send_msg(self, msg) -> None:
        if msg.xid is None:
            self.set_xid(msg)
        msg.serialize()
        self.sent[type(msg).__name__] += 1
        self.bytes += len(msg.buf)

    _NAMES = {14: "OFPFlowMod", 13: "OFPPacketOut", 20: "OFPBarrierRequest"}

    def send(self, buf: bytes) -> None:
        """Ryu's ``Datapath.send``: bytes already serialized (the epmip app batches its messages)."""
        off = 0
        while off < len(buf):
            length = int.from_bytes(buf[off + 2 : off + 4], "big")
            self.sent[self._NAMES.get(buf[off + 1], f"type {buf[off + 1]}")] += 1
            off += length
        self.bytes += len(buf)


def packet_in_bytes(dp: FakeDatapath, port: int, frame: bytes, table_id: int = 0) -> bytes:
    """The OFPT_PACKET_IN wire bytes a switch sends (no buffer, the whole frame, match in_port)."""
    import struct

    ofp, parser = dp.ofproto, dp.ofproto_parser
    match = bytearray()
    parser.OFPMatch(in_port=port).serialize(match, 0)
    body = struct.pack(ofp.OFP_PACKET_IN_PACK_STR, ofp.OFP_NO_BUFFER, len(frame), ofp.OFPR_ACTION, table_id, 0)
    length = ofp.OFP_HEADER_SIZE + len(body) + len(match) + 2 + len(frame)
    buf = struct.pack(ofp.OFP_HEADER_PACK_STR, ofp.OFP_VERSION, ofp.OFPT_PACKET_IN, length, 0)
    return buf + body + bytes(match) + bytes(2) + frame


def packet_in_event(dp: FakeDatapath, port: int, frame: bytes, table_id: int = 0):
    """An EventOFPPacketIn as Ryu delivers it: ``packet_in_bytes`` parsed by Ryu's own
    OFPPacketIn.parser."""
    from ryu.controller import ofp_event

    ofp, parser = dp.ofproto, dp.ofproto_parser
    buf = packet_in_bytes(dp, port, frame, table_id)
    msg = parser.OFPPacketIn.parser(dp, ofp.OFP_VERSION, ofp.OFPT_PACKET_IN, len(buf), 0, buf)
    if msg.match.get("in_port") != port or bytes(msg.data) != frame or msg.table_id != table_id:
        raise BenchError("OFPPacketIn round trip failed")
    return ofp_event.EventOFPPacketIn(msg)


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def uplink_header(dst_mac: str, src_mac: str, src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address) -> bytes:
    """What the UPLINK table punts (tests/fakeof.py FakeNet.send): Ethernet + a bare IPv6 header."""
    return _mac_bytes(dst_mac) + _mac_bytes(src_mac) + b"\x86\xdd" + bytes(8) + src.packed + dst.packed


# ---------------------------------------------------------------- one size (in its own process)


class _Where:
    """MN -> (its switch, its port) as the bench attached it, without an entry per MN: the switch is
    the profile's ``attach`` unless a handoff moved the MN (only those are stored) and the port is
    the MAG attachment's.  A dict of tuples here was ~100 B per MN, counted in the controller's RSS
    per registered MN although it is the bench's own bookkeeping."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.moved: dict[str, str] = {}  # MN -> its switch, when not its profile's attach switch

    def __setitem__(self, mn_id: str, where: tuple[Switch, int]) -> None:
        if where[0].name != self.cp.domain.mobile_nodes[mn_id].attach:
            self.moved[mn_id] = where[0].name
        else:
            self.moved.pop(mn_id, None)

    def __getitem__(self, mn_id: str) -> tuple[Switch, int]:
        name = self.moved.get(mn_id) or self.cp.domain.mobile_nodes[mn_id].attach
        att = self.cp.ctl.mags[name].attachments.get(mn_id)
        if att is None:
            raise BenchError(f"{mn_id} is not attached at {name}")
        return self.cp.domain.switches[name], att.port


def _timed(items: Iterable[Any], budget: float, step: Callable[[Any], int | None]) -> tuple[int, float, int]:
    """``step`` on each item until they run out or ``budget`` seconds have passed: (items done,
    seconds, the sum of what ``step`` returned)."""
    total = 0
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + budget
    for item in items:
        total += step(item) or 0
        done += 1
        if time.perf_counter() > deadline:
            break
    return done, time.perf_counter() - t0, total


class ControlPlane:
    def __init__(self, n: int) -> None:
        from apps.heap import Heap
        from controller.core import EpmipController, PortInfo

        self.heap = Heap()
        self._events = 0
        self.PortInfo = PortInfo
        self.domain = build_domain(n)
        self.ctl = EpmipController(self.domain)
        self.now = 0.0
        self.where = _Where(self)
        self.next_port: dict[str, int] = {}
        partner: dict[str, list[str]] = {}
        for emag, lma in attach_points(_layout()):
            partner.setdefault(lma, []).append(emag)
        self.other_emag = {e: next((o for o in group if o != e), e) for group in partner.values() for e in group}
        for sw in self.domain.switches.values():
            trunks = self.domain.trunk_ports(sw.name)
            self.next_port[sw.name] = max(trunks, default=0) + 1
            ports = [PortInfo(p, trunk_mac(sw.dpid, p)) for p in trunks]
            self.ctl.switch_up(sw.dpid, ports, self._tick())
        if len(self.ctl.connected) != len(self.domain.switches):
            raise BenchError("not every switch connected")
        # the heap as epmip-manager keeps it (apps/heap.py): frozen once the domain is loaded, and
        # again every few seconds (here: checked every HEAP_EVERY events, the app's timer does it)
        self.heap.freeze(time.monotonic(), full=True)

    def _tick(self) -> float:
        self.now += STEP
        self._events += 1
        if not self._events % HEAP_EVERY:
            self.heap.tick(time.monotonic())
        return self.now

    def _port(self, switch: str) -> int:
        port = self.next_port[switch]
        self.next_port[switch] += 1
        return port

    def attach(self, mn: MobileNode, switch: str) -> list:
        """The full path: the core gets a port-added event and finds the MN by the port's MAC."""
        sw = self.domain.switches[switch]
        port = self._port(switch)
        self.where[mn.id] = (sw, port)
        return self.ctl.port_added(sw.dpid, self.PortInfo(port, access_port_mac(mn.mac)), self._tick())

    def attach_known(self, mn: MobileNode, switch: str) -> list:
        """``port_added`` minus the port-MAC lookup: what ``_port_up`` does once it has the MN."""
        sw = self.domain.switches[switch]
        port = self._port(switch)
        self.where[mn.id] = (sw, port)
        now = self._tick()
        ctl = self.ctl
        ctl.now = now
        ctl.connected[sw.dpid][port] = mn  # what ``_port_up`` keeps for a host's port: the host itself
        return ctl._run(ctl.mags[switch].mag.host_seen(mn, port, now), now)

    def detach(self, mn_id: str) -> list:
        sw, port = self.where[mn_id]
        return self.ctl.port_removed(sw.dpid, port, self._tick())

    def detach_known(self, mn_id: str) -> list:
        """``port_removed`` minus its port-MAC lookup (which, for an MN's port, finds the MN and
        does nothing more): the port goes, the MAG detaches the MN."""
        sw, port = self.where[mn_id]
        now = self._tick()
        ctl = self.ctl
        ctl.now = now
        ctl.connected[sw.dpid].pop(port, None)
        return ctl._run(ctl.mags[sw.name].mag.detach(port, now), now)

    def bindings(self) -> int:
        return sum(len(lma.cache) for lma in self.ctl.lmas.values())

    def attachment(self, mn_id: str):
        sw, _ = self.where[mn_id]
        return self.ctl.mags[sw.name].attachments.get(mn_id)

    # ------------------------------------------------------------ 1. registrations

    def registrations(self, sample: int, budget: float, fill: bool) -> dict:
        order = list(self.domain.mobile_nodes.values())
        random.Random(SEED).shuffle(order)
        n = len(order)
        sample = max(1, min(sample, n // 2 or 1))
        completed0, ra0 = self.ctl.counters["registration_completed"], self.ctl.counters["ra_sent"]
        msgs0 = Counter(self.ctl.bus.sent)
        if fill:
            known, timed = order[: n - sample], order[n - sample :]
        else:
            timed, known = order[:sample], order[sample : 2 * sample]
        say(f"  registering {len(known):,} MNs without the port lookup ...")
        intents = 0
        t0 = time.perf_counter()
        for mn in known:
            intents += len(self.attach_known(mn, mn.attach))
        known_s = time.perf_counter() - t0
        at_start = self.bindings()
        say(f"  timing port_added for up to {len(timed):,} MNs ({budget:g} s budget) ...")
        done = 0
        t0 = time.perf_counter()
        deadline = t0 + budget
        for mn in timed:
            intents += len(self.attach(mn, mn.attach))
            done += 1
            if time.perf_counter() > deadline:
                break
        timed_s = time.perf_counter() - t0
        rest = timed[done:] if fill else []
        if rest:
            say(f"  registering the other {len(rest):,} MNs without the port lookup (untimed) ...")
            for mn in rest:
                self.attach_known(mn, mn.attach)
        registered = len(known) + done + len(rest)
        completed = self.ctl.counters["registration_completed"] - completed0
        ras = self.ctl.counters["ra_sent"] - ra0
        if not completed == ras == self.bindings() == registered:
            raise BenchError(
                f"{registered} attachments gave {completed} registrations, {ras} RAs, {self.bindings()} bindings"
            )
        msgs = Counter(self.ctl.bus.sent)
        msgs.subtract(msgs0)
        return {
            "port_added": _rate(done, timed_s),
            "bindings_when_timed": at_start,
            "no_port_lookup": _rate(len(known), known_s),
            "bindings": self.bindings(),
            "intents_per_registration": round(intents / max(1, len(known) + done), 2),
            "messages_per_registration": {k: round(v / registered, 2) for k, v in sorted(msgs.items()) if v},
        }

    # ------------------------------------------------------------ 2. route set-ups

    def _pairs(self) -> list[tuple[str, str]]:
        """(source MN, correspondent MN) on different eMAGs; each correspondent used once, so every
        DRF miss needs a location query."""
        ids = list(self.domain.mobile_nodes)
        random.Random(SEED + 1).shuffle(ids)
        half = len(ids) // 2
        return [(a, b) for a, b in zip(ids[:half], ids[half:], strict=False) if self.where[a][0] != self.where[b][0]]

    def _frame(self, src_id: str, dst_id: str) -> tuple[int, int, bytes]:
        sw, port = self.where[src_id]
        src_hnp = self.attachment(src_id).hnps[0]
        dst_hnp = self.attachment(dst_id).hnps[0]
        mac = self.domain.mobile_nodes[src_id].mac
        frame = uplink_header(
            self.domain.router_mac, mac, src_hnp.network_address + 0x10, dst_hnp.network_address + 0x10
        )
        return sw.dpid, port, frame

    def _timed_misses(self, items: list, budget: float) -> tuple[int, float, int]:
        from openflow_rules.pipeline import Table

        ctl, uplink = self.ctl, Table.UPLINK
        return _timed(items, budget, lambda it: len(ctl.packet_in(it[0], it[1], it[2], self._tick(), table=uplink)))

    def _one_route_each(self, path: str, done: int, queries0: int, errors0: int, flow_mods: int) -> None:
        """``path`` set up one route per packet-in: a query each, a flow-mod each, no handler error."""
        ctl = self.ctl
        if ctl.counters["handler_errors"] != errors0 or ctl.bus.sent["PBQR"] - queries0 != done or flow_mods < done:
            raise BenchError(f"{path} did not set up one route per packet-in")

    def route_setups(self, sample: int, budget: float) -> dict:
        from ryu.lib import hub

        from apps.epmip_app import EpmipApp
        from openflow_rules.pipeline import Table

        ctl = self.ctl
        pairs = self._pairs()
        rest = pairs[len(pairs) // 2 :]
        core_pairs, app_pairs = pairs[: len(pairs) // 2][:sample], rest[: len(rest) // 2][:sample]
        fast_pairs = rest[len(rest) // 2 :][:sample]
        say(f"  timing up to {len(core_pairs):,} query-driven route set-ups ({budget:g} s budget) ...")
        sent0, direct0 = Counter(ctl.bus.sent), ctl.counters["drf_direct_installed"]
        items = [self._frame(a, b) for a, b in core_pairs]
        done, seconds, intents = self._timed_misses(items, budget)
        queries = ctl.bus.sent["PBQR"] - sent0["PBQR"]
        answers = ctl.bus.sent["PBQA"] - sent0["PBQA"]
        direct = ctl.counters["drf_direct_installed"] - direct0
        if not (queries == answers == direct == done) or intents < done:
            raise BenchError(f"{done} DRF misses gave {queries} PBQR, {answers} PBQA, {direct} DRF entries")
        set_up = core_pairs[:done]
        result: dict[str, object] = {
            "core": _rate(done, seconds),
            "intents_per_setup": round(intents / max(done, 1), 2),
        }

        # The same through the Ryu app's packet-in handler: event in, OFPFlowMod(s) serialized.
        dps = {sw.dpid: FakeDatapath(sw.dpid) for sw in self.domain.switches.values()}
        # The app without its __init__, which reads a domain file, starts the REST app and the ticker.
        app = EpmipApp.__new__(EpmipApp)
        app.core, app.datapaths = ctl, dps
        app.core_lock = hub.BoundedSemaphore(1)  # as __init__ sets it: every handler takes it
        handler = app._packet_in
        events = []
        for a, b in app_pairs:
            dpid, port, frame = self._frame(a, b)
            events.append(packet_in_event(dps[dpid], port, frame, int(Table.UPLINK)))
        say(f"  timing up to {len(events):,} route set-ups through the Ryu app handler ({budget:g} s budget) ...")
        q0, errors0 = ctl.bus.sent["PBQR"], ctl.counters["handler_errors"]
        done_app, app_s, _ = _timed(events, budget, handler)
        flow_mods = sum(dp.sent["OFPFlowMod"] for dp in dps.values())
        self._one_route_each("the Ryu app handler", done_app, q0, errors0, flow_mods)
        result["ryu_app"] = _rate(done_app, app_s) | {
            "flow_mods": flow_mods,
            "bytes_serialized": sum(dp.bytes for dp in dps.values()),
        }

        # The same through epmip-manager's receive path (apps/fastpath.py): the packet-in's wire
        # bytes in, the flow-mod bytes out (what the loop writes to the switch), no Ryu objects.
        raw = []
        for a, b in fast_pairs:
            dpid, port, frame = self._frame(a, b)
            raw.append((dps[dpid], bytearray(packet_in_bytes(dps[dpid], port, frame, int(Table.UPLINK)))))
        say(f"  timing up to {len(raw):,} route set-ups through the receive path ({budget:g} s budget) ...")
        q0, mods0 = ctl.bus.sent["PBQR"], sum(dp.sent["OFPFlowMod"] for dp in dps.values())
        out: dict[int, list[bytes]] = {}

        def receive(item: tuple[FakeDatapath, bytearray]) -> None:
            dp, buf = item
            app._fast_packet_in(dp, buf, 0, len(buf), out)
            for dpid, parts in out.items():
                dps[dpid].send(b"".join(parts))
            out.clear()

        done_fast, fast_s, _ = _timed(raw, budget, receive)
        fast_mods = sum(dp.sent["OFPFlowMod"] for dp in dps.values()) - mods0
        self._one_route_each("the receive path", done_fast, q0, errors0, fast_mods)
        result["fast_path"] = _rate(done_fast, fast_s) | {"flow_mods": fast_mods}

        # DRF misses for correspondents this eMAG has located already: no query.
        by_emag: dict[str, list[tuple[str, str]]] = {}
        for a, b in set_up:
            by_emag.setdefault(self.where[a][0].name, []).append((a, b))
        hits = []
        for group in by_emag.values():
            if len(group) > 1:
                hits += [(group[(k + 1) % len(group)][0], b) for k, (_, b) in enumerate(group)]
        items = [self._frame(a, b) for a, b in hits[:sample]]
        say(f"  timing up to {len(items):,} DRF misses answered from the location cache ...")
        hit0, q0 = ctl.counters["drf_cache_hit"], ctl.bus.sent["PBQR"]
        done_hit, hit_s, _ = self._timed_misses(items, budget)
        if ctl.counters["drf_cache_hit"] - hit0 != done_hit or ctl.bus.sent["PBQR"] != q0:
            raise BenchError("location-cache hits sent queries")
        result["cache_hit"] = _rate(done_hit, hit_s)
        self.with_sessions = [a for a, _ in set_up]
        return result

    # ------------------------------------------------------------ timers

    def ticks(self, count: int = 3) -> dict:
        """``tick`` (the Ryu app calls it every 0.2 s) with nothing due (no binding expires, no
        refresh, no query pending).  One untimed tick first: it pops the registrations' PBA
        timeouts, which fell due meanwhile (a one-off cost per registration, not per tick)."""
        self.ctl.tick(self._tick())
        sent0 = sum(self.ctl.bus.sent.values())
        t0 = time.perf_counter()
        for _ in range(count):
            self.ctl.tick(self._tick())
        seconds = time.perf_counter() - t0
        if sum(self.ctl.bus.sent.values()) != sent0:
            raise BenchError("a timer tick sent signalling; the benchmark expects nothing to be due")
        return {"count": count, "ms_per_tick": round(1000 * seconds / count, 3)}

    # ------------------------------------------------------------ 3. handoffs

    def handoffs(self, sample: int, budget: float) -> dict:
        ctl = self.ctl
        movers = [m for m in self.with_sessions if self.where[m][0].name != self.other_emag[self.where[m][0].name]]
        half = len(movers) // 2
        result = {}
        for key, group, detach, attach in (
            ("port_added", movers[:half], self.detach, self.attach),
            ("no_port_lookup", movers[half:], self.detach_known, self.attach_known),
        ):
            group = group[:sample]
            say(f"  timing up to {len(group):,} handoffs ({key}, {budget:g} s budget) ...")
            sent0 = Counter(ctl.bus.sent)
            reg0 = ctl.counters["registration_completed"]
            done = 0
            t0 = time.perf_counter()
            deadline = t0 + budget
            for mn_id in group:
                new = self.other_emag[self.where[mn_id][0].name]
                detach(mn_id)
                attach(self.domain.mobile_nodes[mn_id], new)
                done += 1
                if time.perf_counter() > deadline:
                    break
            seconds = time.perf_counter() - t0
            sent = Counter(ctl.bus.sent)
            sent.subtract(sent0)
            for mn_id in group[:done]:
                sw, _ = self.where[mn_id]
                profile_lma = self.domain.mobile_nodes[mn_id].lma  # build_domain names one for every MN
                bce = ctl.lmas[profile_lma].cache.get(mn_id) if profile_lma else None
                if bce is None or bce.coa != sw.address or bce.state != "active":
                    raise BenchError(f"{mn_id} is not bound at {sw.name} after its handoff")
            if ctl.counters["registration_completed"] - reg0 != done or (done and not sent["PBCI"]):
                raise BenchError(f"{done} handoffs: {sent['PBCI']} PBCI")
            result[key] = _rate(done, seconds)
            result[key]["messages_per_handoff"] = {k: round(v / max(done, 1), 2) for k, v in sorted(sent.items()) if v}
        return result


def run_size(n: int, budget: float, max_full: int, samples: dict) -> dict:
    t_start = time.perf_counter()
    say(f"N={n:,}: building the domain and connecting the switches ...")
    rss0 = _rss()
    cp = ControlPlane(n)
    say(f"  built in {time.perf_counter() - t_start:.1f} s")
    rss_ready = _rss()
    full = n <= max_full
    out: dict = {"n": n, "full": full, "domain_rss_bytes_per_mn": round((rss_ready - rss0) / n, 1)}
    out["registration"] = cp.registrations(samples["registration"], budget, fill=full)
    if full:
        gc.collect()
        out["controller_rss_bytes_per_registered_mn"] = round((_rss() - rss_ready) / n, 1)
        out["route_setup"] = cp.route_setups(samples["route_setup"], budget)
        out["tick"] = cp.ticks()
        out["handoff"] = cp.handoffs(samples["handoff"], budget)
    else:
        why = f"N > --max-full {max_full:,}: the {n:,} bindings were not all registered"
        out["route_setup"] = {"skipped": why}
        out["handoff"] = {"skipped": why}
        out["tick"] = {"skipped": why}
    out["seconds"] = round(time.perf_counter() - t_start, 2)
    return out


# ---------------------------------------------------------------- 4. memory (own process)


def fill_binding_cache(n: int):
    """A BindingCache of ``n`` entries built the way ``LmaFunction.on_pbu`` builds them: per entry a
    new HNP network, CoA address (from the PBU's string), MAC string and float values."""
    from controller.binding_cache import BindingCache, BindingCacheEntry

    ids = [f"m{i}" for i in range(n)]  # the MN ids belong to the domain's profiles: not counted
    coas = ["2001:db8:ffff::1", "2001:db8:ffff::2", "2001:db8:ffff::3", "2001:db8:ffff::4"]
    pool = int(ipaddress.IPv6Address("2001:db8:a000::"))
    gc.collect()
    mark = _memory_mark()
    t0 = time.perf_counter()
    cache = BindingCache()
    for i in range(n):
        now = i * STEP
        lifetime = float(LIFETIME)  # decoded from the PBU: one float object per entry
        cache.put(
            BindingCacheEntry(
                mn_id=ids[i], mn_ll_id=mn_mac(i), hnps=[ipaddress.IPv6Network((pool + ((i + 1) << 64), 64))],
                coa=ipaddress.IPv6Address(coas[i & 3]), lifetime=lifetime, timestamp=1.7e9 + now,
                registered_at=now, expires_at=now + lifetime,
            )
        )  # fmt: skip
    seconds = time.perf_counter() - t0
    gc.collect()
    used = _memory_mark() - mark
    if len(cache) != n or cache.lookup(ipaddress.IPv6Address(pool + (n << 64) + 1)) is None:
        raise BenchError("the binding cache does not hold what was put in")
    return used, seconds


def _memory_mark() -> int:
    return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else _rss()


def run_memory(n: int, method: str) -> dict:
    if method == "tracemalloc":
        tracemalloc.start()
    say(f"memory: filling a BindingCache with {n:,} entries ({method}) ...")
    used, seconds = fill_binding_cache(n)
    return {
        "n": n,
        "method": method,
        "bytes": used,
        "bytes_per_binding": round(used / n, 1),
        "fill": _rate(n, seconds),
    }


# ---------------------------------------------------------------- 5. Ryu simple_switch_13


def run_ryu(count: int, budget: float) -> dict:
    from apps import compat

    compat.apply()
    from ryu.app import simple_switch_13

    app = simple_switch_13.SimpleSwitch13()
    dp = FakeDatapath(1)

    def frame(dst: str, src: str) -> bytes:  # 54 bytes like the DRF punts: IPv6, no next header
        return _mac_bytes(dst) + _mac_bytes(src) + b"\x86\xdd" + b"\x60\0\0\0\0\0\x3b\x40" + bytes(32)

    hosts = [(f"02:30:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01", 1 + i % 48) for i in range(count)]
    say(f"ryu simple_switch_13: learning {count:,} destinations (untimed) ...")
    for mac, port in hosts:
        app._packet_in_handler(packet_in_event(dp, port, frame("ff:ff:ff:ff:ff:ff", mac)))
    events = [
        packet_in_event(
            dp, 49 + i % 16, frame(mac, f"02:20:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01")
        )
        for i, (mac, _) in enumerate(hosts)
    ]
    before = Counter(dp.sent)
    bytes0 = dp.bytes
    say(f"ryu simple_switch_13: timing up to {count:,} packet-ins to learned destinations ({budget:g} s budget) ...")
    done = 0
    handler = app._packet_in_handler
    t0 = time.perf_counter()
    deadline = t0 + budget
    for ev in events:
        handler(ev)
        done += 1
        if time.perf_counter() > deadline:
            break
    seconds = time.perf_counter() - t0
    sent = Counter(dp.sent)
    sent.subtract(before)
    if sent["OFPFlowMod"] != done:
        raise BenchError(f"simple_switch_13 sent {sent['OFPFlowMod']} flow-mods for {done} packet-ins")
    out = _rate(done, seconds)
    out.update(flow_mods=sent["OFPFlowMod"], packet_outs=sent["OFPPacketOut"], bytes_serialized=dp.bytes - bytes0)
    return out


# ---------------------------------------------------------------- orchestration and report


def environment() -> dict:
    cpu = analysis.cpu_model()
    try:
        ryu = importlib.metadata.version("ryu")
    except importlib.metadata.PackageNotFoundError:
        ryu = None
    try:
        commit = (
            subprocess.run(
                ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "cpu_model": cpu,
        "cpus_online": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "ryu": ryu,
        "platform": platform.platform(),
        "git": commit,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "threads": "one: the controller core is single-threaded; each size runs in its own process",
    }


def _child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.control_plane", *args], stdout=subprocess.PIPE, text=True, check=False
    )
    if proc.returncode != 0:
        raise BenchError(f"benchmark step {' '.join(args)} failed (exit {proc.returncode})")
    return json.loads(proc.stdout)


def measure(
    sizes: list[int],
    quick: bool = False,
    budget: float | None = None,
    max_full: int = DEFAULT_MAX_FULL,
    trace_max: int = DEFAULT_TRACE_MAX,
) -> dict:
    budget = budget if budget is not None else (QUICK_BUDGET if quick else DEFAULT_BUDGET)
    samples = QUICK_SAMPLES if quick else SAMPLES
    t0 = time.perf_counter()
    result: dict = {
        "benchmark": "control-plane",
        "environment": environment(),
        "parameters": {"sizes": sizes, "quick": quick, "budget_s": budget, "max_full": max_full,
                       "trace_max": trace_max, "samples": samples},
    }  # fmt: skip
    result["sizes"] = [_child(["size", json.dumps({"n": n, "budget": budget, "max_full": max_full,
                                                   "samples": samples})]) for n in sizes]  # fmt: skip
    memory = []
    for n in sizes:
        entry = {"n": n, "rss": _child(["memory", str(n), "rss"])}
        if n <= trace_max:
            entry["tracemalloc"] = _child(["memory", str(n), "tracemalloc"])
        memory.append(entry)
    result["memory"] = memory
    result["ryu_simple_switch_13"] = run_ryu(samples["ryu"], budget)
    result["environment"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["notes"] = notes(result)
    return result


def _exponent(points: list[tuple[int, float | None]]) -> float | None:
    """d log(figure) / d log(N) between the smallest and largest N with a figure."""
    pts = [(n, v) for n, v in points if v]
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return None
    (n1, v1), (n2, v2) = pts[0], pts[-1]
    return round(math.log(v2 / v1) / math.log(n2 / n1), 2)


def _get(d: dict, *path: str):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


ROWS = (
    ("registrations/s: port_added, full path", ("registration", "port_added", "per_s")),
    ("  bindings when timed", ("registration", "bindings_when_timed")),
    ("registrations/s without the port-MAC lookup", ("registration", "no_port_lookup", "per_s")),
    ("route set-ups/s: DRF miss -> PBQR/PBQA -> flow intent", ("route_setup", "core", "per_s")),
    ("route set-ups/s: Ryu app handler -> OFPFlowMod serialized", ("route_setup", "ryu_app", "per_s")),
    ("route set-ups/s: receive path, packet-in bytes -> flow-mod bytes", ("route_setup", "fast_path", "per_s")),
    ("DRF misses/s answered from the location cache", ("route_setup", "cache_hit", "per_s")),
    ("handoffs/s: port_removed + port_added", ("handoff", "port_added", "per_s")),
    ("handoffs/s without the port-MAC lookups", ("handoff", "no_port_lookup", "per_s")),
    ("timer tick (every 0.2 s in the app), ms", ("tick", "ms_per_tick")),
    ("controller RSS per registered MN, bytes", ("controller_rss_bytes_per_registered_mn",)),
)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 100:
        return f"{value:,.1f}"
    return f"{round(value):,}"


def notes(result: dict) -> list[str]:
    out = []
    sizes = result["sizes"]
    target = 30_000
    setups = [(s["n"], _get(s, "route_setup", "core", "per_s")) for s in sizes]
    best = max((v for _, v in setups if v), default=None)
    if best is not None:
        out.append(
            f"route set-ups: best {best:,.0f}/s against a target of {target:,}/s "
            f"({'met' if best >= target else f'{best / target:.0%} of it'})."
        )
    mem = [(m["n"], m["rss"]["bytes_per_binding"]) for m in result["memory"]]
    if mem:
        n, b = mem[-1]
        out.append(f"binding memory at {n:,} bindings: {b:,.0f} bytes (RSS) against a target of 1,024 bytes.")
    falling = []
    for label, path in ROWS:
        if "/s" in label:
            exp = _exponent([(s["n"], _get(s, *path)) for s in sizes])
            if exp is not None and exp <= -0.5:
                falling.append(f"{label} {exp:+.2f}")
    if falling:
        out.append(
            "figures that fall with N (exponent <= -0.5: the per-operation cost grows with N): " + "; ".join(falling)
        )
    for s in sizes:
        if not s["full"]:
            out.append(
                f"N={s['n']:,}: only samples were registered ({s['registration']['bindings']:,} bindings); "
                "route set-ups and handoffs skipped (filling this many via the registration path takes too long)."
            )
    return out


def report(result: dict) -> str:
    env = result["environment"]
    sizes = result["sizes"]
    from benchmarks.analysis import text_table

    lines = [
        f"epmip bench control-plane: in-process, single thread; CPU {env['cpu_model']} ({env['cpus_online']} online), "
        f"{env['implementation']} {env['python']}, Ryu {env['ryu']}, git {env['git']}, "
        f"load average {env['loadavg_start'][0]} -> {env['loadavg_end'][0]}",
        "",
    ]
    header = ["figure"] + [f"N={s['n']:,}" for s in sizes] + ["exponent"]
    rows: list[list[str] | None] = []
    for label, path in ROWS:
        vals = [_get(s, *path) for s in sizes]
        exp = None if "bindings" in label else _exponent([(s["n"], v) for s, v in zip(sizes, vals, strict=True)])
        rows.append([label] + [_fmt(v) for v in vals] + [f"{exp:+.2f}" if exp is not None else ""])
    rows.append(None)
    by_n = {m["n"]: m for m in result["memory"]}
    for label, method in (("binding cache bytes/binding (RSS)", "rss"), ("  (tracemalloc)", "tracemalloc")):
        vals = [_get(by_n.get(s["n"], {}), method, "bytes_per_binding") for s in sizes]
        rows.append([label] + [_fmt(v) for v in vals] + [""])
    lines.append(text_table(header, rows))
    lines.append("")
    ryu = result["ryu_simple_switch_13"]
    first = next((s for s in sizes if s["full"]), None)
    cmp_rows = [["ryu.app.simple_switch_13: packet-in -> OFPFlowMod + OFPPacketOut", _fmt(ryu["per_s"]),
                 _fmt(ryu["us_per_op"]), ryu["flow_mods"]]]  # fmt: skip
    if first is not None:
        core, app = first["route_setup"]["core"], first["route_setup"]["ryu_app"]
        cmp_rows.append([f"epmip core (N={first['n']:,}): DRF miss -> PBQR/PBQA -> FlowMod intent", _fmt(core["per_s"]),
                         _fmt(core["us_per_op"]), core["count"]])  # fmt: skip
        cmp_rows.append([f"epmip Ryu handler (N={first['n']:,}): packet-in -> OFPFlowMod", _fmt(app["per_s"]),
                         _fmt(app["us_per_op"]), app["flow_mods"]])  # fmt: skip
        fast = first["route_setup"].get("fast_path")
        if fast:
            cmp_rows.append([f"epmip receive path (N={first['n']:,}): packet-in bytes -> flow-mod bytes",
                             _fmt(fast["per_s"]), _fmt(fast["us_per_op"]), fast["flow_mods"]])  # fmt: skip
    lines.append(text_table(["packet-in -> flow-mod (same run)", "per s", "us each", "flow-mods"], cmp_rows))
    lines += ["", "notes:"]
    lines += [f"  - {n}" for n in result["notes"]]
    lines += [f"  - {n}" for n in EXPLAIN]
    lines.append(f"  total run time {result['seconds']} s")
    return "\n".join(lines)


EXPLAIN = (
    "per s: operations per second of wall time on one thread; us each: the inverse.  exponent: "
    "d log(figure)/d log(N) from the smallest to the largest N (0: flat, -1: each operation costs O(N)).",
    "registrations, full path: EpmipController.port_added (access-port MAC -> MN profile, PBU/PBA through the "
    "dispatcher (in-process: records, counted at their wire size), BCE, LMA binding flow, MAG flows, RA) "
    "on a random sample, timed after the other MNs "
    "were registered; without the port-MAC lookup: Mag.host_seen + the bus (the same signalling, flows, RA).",
    "route set-ups: packet_in(table=UPLINK) of a 54-byte header to an MN on another eMAG not yet located: "
    "DRF miss, PBQR, LMF binding-cache lookup, PBQA, DRF flow intent (no Ryu objects).  Ryu app handler: the "
    "same set-up through EpmipApp._packet_in with a prebuilt EventOFPPacketIn, the intents packed by "
    "apps/ofp_adapter.to_bytes (one buffer per switch) and handed to a fake datapath's send().  Receive path: "
    "what epmip-manager runs (apps/fastpath.py): EpmipApp._fast_packet_in on the packet-in's wire bytes, "
    "the flow-mod bytes handed to the fake datapath.",
    "simple_switch_13: its own packet-in handler with a prebuilt EventOFPPacketIn for a learned destination: "
    "Ethernet parse, MAC learning, OFPFlowMod and OFPPacketOut built and serialized on the same fake datapath.  "
    "Neither figure includes socket I/O, Ryu's OpenFlow parsing of the packet-in or its event queue.",
    "handoffs: port_removed on the old eMAG (DRF/DMF detach, de-registration PBU/PBA) then port_added on "
    "the other eMAG of its eLMA (PBU/PBA with the previous CoA, PBCI/PBCA with its correspondents, redirect, "
    "re-pointed DRF entries), for MNs that have DRF sessions; without the port-MAC lookups: the same with "
    "MagFunction.detach / host_seen called directly.",
    "one run per figure on whatever else the machine is doing (load average above): on a shared VM repeated "
    "runs differ by tens of percent; the exponents and the orders of magnitude are the robust part.",
    "timer tick: EpmipController.tick with nothing due (the Ryu app calls it every 0.2 s), after one untimed "
    "tick; binding and attachment timers are on heaps, DAF queries/redirects/fallbacks are still scanned.",
    "binding cache bytes/binding: a BindingCache filled directly (not via registrations) with entries built "
    "like LmaFunction.on_pbu builds them, in a fresh process: RSS growth, and tracemalloc (Python allocations "
    "only).  Controller RSS per registered MN: the whole controller's growth while registering every MN.",
)


# (label, path under a size's result, higher is better) for the before/after table: rates are
# better higher, the figures in ", ms" and ", bytes" lower (not "packet-in bytes -> flow-mod bytes")
COMPARED = tuple(
    (label, path, not label.endswith((", ms", ", bytes"))) for label, path in ROWS if "when timed" not in label
)


def before_after(before: dict, after: dict) -> str:
    """The figures of ``after`` beside those of an earlier run (``--before``), per size both have."""
    from benchmarks import before_after as ba

    old = {s["n"]: s for s in before.get("sizes", []) if isinstance(s, dict) and "n" in s}
    out = []
    for size in after["sizes"]:
        prev = old.get(size["n"])
        if prev is None:
            continue
        rows = [(label, (lambda r, p=path: ba.get(r, p)), higher) for label, path, higher in COMPARED]
        env_b, env_a = before.get("environment", {}), after.get("environment", {})
        note = f"git {env_b.get('git', '?')} -> {env_a.get('git', '?')}"
        out.append(ba.table(f"N={size['n']:,}: before -> after", prev, size, rows, note))
    ss = ("ryu_simple_switch_13", "per_s")
    out.append(ba.table("simple_switch_13 in the same runs", before, after,
                        [("packet-ins/s (in-process)", lambda r: ba.get(r, ss), True)]))  # fmt: skip
    if len(out) == 1:
        out.insert(0, "(the --before run has none of this run's sizes)")
    return "\n\n".join(out)


def run(
    json_out: bool = False,
    sizes: list[int] | None = None,
    quick: bool = False,
    budget: float | None = None,
    max_full: int = DEFAULT_MAX_FULL,
    trace_max: int = DEFAULT_TRACE_MAX,
    before: str | None = None,
) -> int:
    sizes = list(sizes or (QUICK_SIZES if quick else DEFAULT_SIZES))
    try:
        from benchmarks import before_after as ba

        earlier = ba.load(before, "control-plane", ("sizes",)) if before else None
        for n in sizes:
            if not 1 <= n <= MAX_MNS:
                raise ValueError(f"size {n} is not between 1 and {MAX_MNS}")
        if budget is not None and not budget > 0:
            raise ValueError(f"--budget {budget} is not a positive number of seconds")
        result = measure(sizes, quick=quick, budget=budget, max_full=max_full, trace_max=trace_max)
    except (BenchError, ValueError) as exc:
        print(f"epmip bench control-plane: {exc}", file=sys.stderr)
        return 1
    if json_out:
        print(json.dumps(result))
    else:
        print(report(result))
        if earlier is not None:
            print("\n" + before_after(earlier, result))
    return 0


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not sizes or any(n < 1 or n > MAX_MNS for n in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be between 1 and {MAX_MNS}")
    return sizes


def _child_main(argv: list[str]) -> int:
    """``python -m benchmarks.control_plane size PARAMS`` or ``memory N METHOD``: one step in a
    fresh process; prints one JSON object."""
    if argv[0] == "size":
        p = json.loads(argv[1])
        out = run_size(p["n"], p["budget"], p["max_full"], p["samples"])
    elif argv[0] == "memory":
        out = run_memory(int(argv[1]), argv[2])
    else:
        raise SystemExit(f"unknown step {argv[0]!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
