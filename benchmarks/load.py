"""``epmip bench load``: the control plane end to end, through real OpenFlow sockets.

A driver process emulates every switch of a generated domain: one TCP connection per switch to a
real ``epmip-manager`` on 127.0.0.1 (no Open vSwitch), speaking OpenFlow 1.3 with Ryu's own
message layouts (``benchmarks/ofwire.py``): HELLO, FEATURES_REPLY, the PORT_DESC reply with the
trunk ports, echo and barrier replies.  It then drives, at a target rate (or as fast as the
controller keeps up, with a bounded number of events in flight):

* **attach**: OFPT_PORT_STATUS (ADD) of an MN's access port on its eMAG (the port's MAC names the
  MN): MAG PBU -> LMA binding flow -> PBA -> MAG flows -> RA.  Done when the RA's OFPT_PACKET_OUT
  to that port arrives; the HNP is read from the RA.
* **route set-up**: OFPT_PACKET_IN from the UPLINK table (what the DRF's punt sends) of a packet
  from an MN to the HNP of an MN on another eMAG that this eMAG has not located yet: DRF miss ->
  PBQR -> LMF -> PBQA -> DRF entry.  Done when the OFPT_FLOW_MOD whose ``ipv6_dst`` is that /64
  arrives on the MN's eMAG.
* **handoff**: PORT_STATUS (DELETE) on the MN's eMAG then PORT_STATUS (ADD) on the other eMAG of
  its eLMA, for MNs that have route set-ups (so PBCI/PBCA, a redirect and re-pointed entries
  follow).  Done when the RA on the new port arrives.
* the reference: ``ryu.app.simple_switch_13`` in its own ``epmip-manager``, the same switches and
  driver: OFPT_PACKET_IN of a frame to a learned MAC from a new source MAC -> OFPFlowMod +
  OFPPacketOut.  Done when that packet-out arrives.

Reported per phase: events done, the sustained rate (events / time from the first send to the last
completion), latency from sending the event to its completion message (p50/p99), the controller's
CPU seconds per event (``/proc/PID/stat``), the OpenFlow messages the switches received per event;
route set-ups again at half the sustained rate (the latency figure), and a cProfile summary of
the controller process during an extra route set-up and handoff pass (``benchmarks/load_controller``
turns the profiler on and off by signal; the timed phases run without it).

Nothing is asserted on time.  The controller and the driver share the machine (2 cores here): the
driver is one Python thread that pre-builds every message, so at the highest rates part of what is
measured is the driver; the ratio to simple_switch_13, measured by the same driver in the same run,
is the robust figure.
"""

from __future__ import annotations

import gc
import json
import os
import pstats
import random
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchmarks import ofwire
from benchmarks.control_plane import _layout, attach_points, environment, mn_mac, trunk_mac
from controller.config import access_port_mac, parse_domain

ROOT = Path(__file__).resolve().parent.parent
OFP = ofwire.ofp
DEFAULT_MNS = 20_000
DEFAULT_WINDOW = 64  # events in flight at most (per phase, across all switches)
PHASE_TIMEOUT = 30.0  # seconds without a completion before a phase gives up on the rest
READY_TIMEOUT = 120.0
READY_PER_MN = 3e-4  # more seconds to start per MN in the domain file (libyaml reads ~10k MNs/s)
UPLINK_TABLE = 2  # openflow_rules.pipeline.Table.UPLINK (checked in the tests)
LIFETIME = 3600  # binding lifetime: nothing is refreshed or expires during a run


class LoadError(RuntimeError):
    """The controller did not do what a phase expects (never a time)."""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the generated domain


def domain_doc(n: int, store: str | None = None) -> dict:
    """The reference layout with ``n`` MNs spread round-robin over the eMAGs that have an eLMA
    (as ``bench control-plane`` builds it), long binding lifetimes; no state store unless
    ``store`` names an SQLite file (then every event's records are written to it)."""
    doc = _layout()
    doc["store"] = {"kind": "sqlite", "path": store} if store else {"kind": "none"}
    points = attach_points(doc)
    doc["mobile_nodes"] = [
        {"id": f"m{i}", "mac": mn_mac(i), "attach": points[i % len(points)][0], "lma": points[i % len(points)][1]}
        for i in range(n)
    ]
    doc.setdefault("timers", {})["binding_lifetime"] = LIFETIME
    return doc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the controller process


class Controller:
    """``epmip-manager`` (through ``benchmarks.load_controller``, for the profiler) on free ports."""

    def __init__(self, apps: list[str], config: str | None, log: Path, profile_out: Path) -> None:
        self.port = free_port()
        self.profile_out = profile_out
        args = [sys.executable, "-m", "benchmarks.load_controller", str(profile_out)]
        args += ["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(self.port)]
        args += ["--wsapi-host", "127.0.0.1", "--wsapi-port", str(free_port())]
        if config:
            args += ["--epmip-config", config, "--epmip-reset-state"]
        args += apps
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.log = log
        self._logfh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self._logfh, stderr=subprocess.STDOUT, env=env)
        self.clk = os.sysconf("SC_CLK_TCK")

    def wait_listening(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LoadError(f"controller exited ({self.proc.returncode}); see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise LoadError(f"controller not listening after {timeout:g} s; see {self.log}")

    def cpu(self) -> float:
        """User + system CPU seconds of the controller process so far."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.clk

    def rss(self) -> int:
        with open(f"/proc/{self.proc.pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def profile(self, on: bool) -> None:
        self.proc.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logfh.close()


# ---------------------------------------------------------------- emulated switches


@dataclass
class Event:
    kind: str
    sends: list[tuple[int, bytes]]  # (dpid, message) in order
    key: tuple  # what completes it (see Driver.observe)
    mn: str = ""
    sent: float = 0.0
    done: float = 0.0


@dataclass
class Switch:
    dpid: int
    ports: list[ofwire.Port]
    sock: socket.socket | None = None
    split: ofwire.Splitter = field(default_factory=ofwire.Splitter)
    out: bytearray = field(default_factory=bytearray)
    ready: bool = False  # answered the controller's PORT_DESC request
    last_rx: float = 0.0


class Driver:
    """One thread, non-blocking sockets, a selector; all switches of the domain."""

    def __init__(self, port: int, switches: dict[int, list[ofwire.Port]]) -> None:
        self.sel = selectors.DefaultSelector()
        self.switches = {dpid: Switch(dpid, ports) for dpid, ports in switches.items()}
        self.port = port
        self.received: Counter[str] = Counter()  # message kinds from the controller, this phase
        self.errors: list[str] = []
        self.pending: dict[tuple, Event] = {}
        self.hnps: dict[tuple[int, int], bytes] = {}  # (dpid, port) -> first HNP in its RA (16 bytes)
        self.route_dpids: set[int] = set()  # switches with route set-ups pending (flow-mods looked into)
        self.last_rx = 0.0
        self.last_done = 0.0

    # ------------------------------------------------------------ connections

    def connect(self) -> None:
        for sw in self.switches.values():
            s = socket.create_connection(("127.0.0.1", self.port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            sw.sock = s
            self.sel.register(s, selectors.EVENT_READ, sw)
            self.send(sw, ofwire.hello())

    def wait_ready(self, quiet: float = 1.0, timeout: float = READY_TIMEOUT) -> None:
        """Every switch answered its PORT_DESC request, then nothing came for ``quiet`` seconds
        (the controller has sent its initial flows)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(0.1)
            now = time.monotonic()
            if all(sw.ready for sw in self.switches.values()) and now - self.last_rx > quiet:
                return
        missing = [hex(d) for d, sw in self.switches.items() if not sw.ready]
        raise LoadError(f"switches not connected after {timeout:g} s: {missing or 'no quiet period'}")

    def close(self) -> None:
        for sw in self.switches.values():
            if sw.sock is not None:
                self.sel.unregister(sw.sock)
                sw.sock.close()
                sw.sock = None

    def send(self, sw: Switch, data: bytes) -> None:
        assert sw.sock is not None
        if sw.out:
            sw.out += data
            return
        try:
            n = sw.sock.send(data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            sw.out += data[n:]
            self.sel.modify(sw.sock.fileno(), selectors.EVENT_READ | selectors.EVENT_WRITE, sw)

    def poll(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            sw: Switch = key.data
            sock = sw.sock
            assert sock is not None
            if mask & selectors.EVENT_WRITE and sw.out:
                n = sock.send(sw.out)
                del sw.out[:n]
                if not sw.out:
                    self.sel.modify(sock, selectors.EVENT_READ, sw)
            if mask & selectors.EVENT_READ:
                data = sock.recv(1 << 18)
                if not data:
                    raise LoadError(f"the controller closed the connection of switch {sw.dpid:#x}")
                now = time.perf_counter()
                self.last_rx = sw.last_rx = time.monotonic()
                for mtype, xid, msg in sw.split.feed(data):
                    self.handle(sw, mtype, xid, msg, now)

    # ------------------------------------------------------------ the switch's side of the protocol

    def handle(self, sw: Switch, mtype: int, xid: int, msg: bytes, now: float) -> None:
        if mtype == OFP.OFPT_FLOW_MOD:
            self.received["flow_mod"] += 1
            if sw.dpid in self.route_dpids:
                dst = ofwire.flow_mod_ipv6_dst(msg)
                if dst is not None and ofwire.flow_mod_command(msg) == OFP.OFPFC_ADD:
                    self._done(("route", sw.dpid, dst[:8]), now)
        elif mtype == OFP.OFPT_PACKET_OUT:
            self.received["packet_out"] += 1
            port = ofwire.packet_out_port(msg)
            data = ofwire.packet_out_data(msg)
            if ("ra", sw.dpid, port) in self.pending:
                prefixes = ofwire.ra_prefixes(data)
                if prefixes:
                    self.hnps[(sw.dpid, port or 0)] = prefixes[0][0]
                    self._done(("ra", sw.dpid, port), now)
            elif len(data) >= 12:
                self._done(("out", sw.dpid, data[6:12]), now)
        elif mtype == OFP.OFPT_BARRIER_REQUEST:
            self.received["barrier"] += 1
            self.send(sw, ofwire.barrier_reply(xid))
        elif mtype == OFP.OFPT_ECHO_REQUEST:
            self.send(sw, ofwire.echo_reply(msg))
        elif mtype == OFP.OFPT_FEATURES_REQUEST:
            self.send(sw, ofwire.features_reply(xid, sw.dpid))
        elif mtype == OFP.OFPT_MULTIPART_REQUEST:
            (kind,) = ofwire._U16.unpack_from(msg, 8)
            if kind == OFP.OFPMP_PORT_DESC:
                self.send(sw, ofwire.port_desc_reply(xid, sw.ports))
                sw.ready = True
        elif mtype == OFP.OFPT_ERROR:
            self.errors.append(f"{sw.dpid:#x}: OFPT_ERROR {msg[8:12].hex()}")
        elif mtype in (OFP.OFPT_HELLO, OFP.OFPT_SET_CONFIG, OFP.OFPT_ECHO_REPLY):
            pass
        else:
            self.received[f"type_{mtype}"] += 1

    def _done(self, key: tuple, now: float) -> None:
        ev = self.pending.pop(key, None)
        if ev is not None:
            ev.done = self.last_done = now

    # ------------------------------------------------------------ driving a phase

    def run(self, name: str, events: list[Event], rate: float = 0.0, window: int = DEFAULT_WINDOW) -> dict:
        """Send ``events`` at ``rate`` per second (0: as fast as completions allow, ``window`` in
        flight at most) and wait for their completions.  The driver's own garbage collector is off
        meanwhile (its heap frozen first): a full collection of the driver's event lists stalled it
        for 20-80 ms, which showed up as a burst of controller latency in the p99, for epmip and
        simple_switch_13 alike."""
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            return self._run(name, events, rate, window)
        finally:
            gc.enable()
            gc.unfreeze()

    def _run(self, name: str, events: list[Event], rate: float, window: int) -> dict:
        self.received = Counter()
        self.route_dpids = {ev.key[1] for ev in events if ev.key[0] == "route"}
        interval = 1.0 / rate if rate > 0 else 0.0
        total = len(events)
        i = 0
        t0 = time.perf_counter()
        next_at = t0
        self.last_done = t0
        last_sent = t0
        report_at = time.monotonic() + 2.0
        while i < total or self.pending:
            now = time.perf_counter()
            while i < total and len(self.pending) < window and (interval == 0.0 or now >= next_at):
                ev = events[i]
                i += 1
                self.pending[ev.key] = ev
                ev.sent = last_sent = now = time.perf_counter()
                for dpid, data in ev.sends:
                    self.send(self.switches[dpid], data)
                next_at += interval
            if i < total and len(self.pending) < window:
                wait = max(0.0, next_at - time.perf_counter()) if interval else 0.0
            else:
                wait = 0.05
            self.poll(wait)
            if self.pending and time.perf_counter() - max(self.last_done, last_sent) > PHASE_TIMEOUT:
                say(f"  {name}: {len(self.pending)} events not completed after {PHASE_TIMEOUT:g} s; giving up on them")
                self.pending.clear()
            if time.monotonic() >= report_at:
                report_at += 2.0
                done = i - len(self.pending)
                say(f"  {name}: {done:,}/{total:,} done, {done / (time.perf_counter() - t0):,.0f}/s")
        return self._summary(name, events, t0)

    def _summary(self, name: str, events: list[Event], t0: float) -> dict:
        done = [e for e in events if e.done]
        lat = sorted(e.done - e.sent for e in done)
        end = max((e.done for e in done), default=t0)
        span = end - (events[0].sent if events else t0)
        n = len(done)
        return {
            "phase": name,
            "events": len(events),
            "done": n,
            "seconds": round(span, 4),
            "per_s": round(n / span, 1) if n and span > 0 else None,
            "p50_ms": round(_pct(lat, 0.50) * 1e3, 3) if lat else None,
            "p99_ms": round(_pct(lat, 0.99) * 1e3, 3) if lat else None,
            "max_ms": round(lat[-1] * 1e3, 3) if lat else None,
            "received_per_event": {k: round(v / max(n, 1), 2) for k, v in sorted(self.received.items())},
        }


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


# ---------------------------------------------------------------- one controller, its phases


class Load:
    def __init__(self, n: int, workdir: Path, seed: int = 1, store: bool = False) -> None:
        self.n = n
        self.workdir = workdir
        self.rng = random.Random(seed)
        say(f"generating a domain of {n:,} mobile nodes ...")
        doc = domain_doc(n, str(workdir / "epmip-state.db") if store else None)
        self.config = workdir / "load-domain.yaml"
        self.config.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.domain = parse_domain(yaml.safe_dump({**doc, "mobile_nodes": []}), source="<load layout>")
        self.mns = {m["id"]: m for m in doc["mobile_nodes"]}
        self.emags = [name for name, _ in attach_points(doc)]
        partner: dict[str, list[str]] = {}
        for emag, lma in attach_points(doc):
            partner.setdefault(lma, []).append(emag)
        self.other = {e: next(o for o in g if o != e) for g in partner.values() for e in g if len(g) > 1}
        self.dpid = {sw.name: sw.dpid for sw in self.domain.switches.values()}
        self.next_port = {}
        self.switch_ports: dict[int, list[ofwire.Port]] = {}
        for sw in self.domain.switches.values():
            trunks = self.domain.trunk_ports(sw.name)
            self.switch_ports[sw.dpid] = [ofwire.Port(p, ofwire.mac_bytes(trunk_mac(sw.dpid, p))) for p in trunks]
            self.next_port[sw.dpid] = max(trunks, default=0) + 1
        self.where: dict[str, tuple[int, int]] = {}  # MN -> (dpid, port)
        self.router_mac = self.domain.router_mac
        self.used: set[tuple[int, bytes]] = set()  # (eMAG, correspondent /64) located already

    def _port(self, dpid: int) -> int:
        p = self.next_port[dpid]
        self.next_port[dpid] += 1
        return p

    def attach_event(self, mn_id: str, dpid: int) -> Event:
        mn = self.mns[mn_id]
        port = self._port(dpid)
        self.where[mn_id] = (dpid, port)
        desc = ofwire.Port(port, ofwire.mac_bytes(access_port_mac(mn["mac"])))
        return Event("attach", [(dpid, ofwire.port_status(OFP.OFPPR_ADD, desc))], ("ra", dpid, port), mn_id)

    def handoff_event(self, mn_id: str) -> Event:
        old, old_port = self.where[mn_id]
        emag = next(name for name, d in self.dpid.items() if d == old)
        new = self.dpid[self.other[emag]]
        mn = self.mns[mn_id]
        mac = ofwire.mac_bytes(access_port_mac(mn["mac"]))
        gone = ofwire.port_status(OFP.OFPPR_DELETE, ofwire.Port(old_port, mac))
        ev = self.attach_event(mn_id, new)
        return Event("handoff", [(old, gone), *ev.sends], ev.key, mn_id)

    def hnp(self, mn_id: str) -> bytes:
        return self.hnps[self.where[mn_id]]

    def route_events(self, count: int) -> list[Event]:
        """Packet-ins for (MN, correspondent on another eMAG) pairs that this eMAG has not located."""
        ids = [m for m in self.mns if self.where.get(m) in self.hnps]
        out: list[Event] = []
        tries = 0
        while len(out) < count and tries < 20 * count:
            tries += 1
            a, b = self.rng.choice(ids), self.rng.choice(ids)
            (da, pa), (db, _) = self.where[a], self.where[b]
            dst8 = self.hnp(b)[:8]
            if da == db or (da, dst8) in self.used:
                continue
            self.used.add((da, dst8))
            src = self.hnp(a)[:8] + (0x10).to_bytes(8, "big")
            dst = dst8 + (0x10).to_bytes(8, "big")
            frame = _uplink(self.router_mac, self.mns[a]["mac"], src, dst)
            out.append(Event("route", [(da, ofwire.packet_in(frame, pa, UPLINK_TABLE))], ("route", da, dst8), a))
        return out

    def run(self, args) -> dict:
        result: dict = {"mns": self.n}
        prof = self.workdir / "epmip.prof"
        ctl = Controller(["apps/epmip_app.py"], str(self.config), self.workdir / "epmip-manager.log", prof)
        try:
            t0 = time.monotonic()
            say(f"  starting epmip-manager (it reads the {self.n:,} MNs' profiles) ...")
            ctl.wait_listening(READY_TIMEOUT + self.n * READY_PER_MN)
            rss0 = ctl.rss()
            driver = Driver(ctl.port, self.switch_ports)
            driver.connect()
            driver.wait_ready()
            say(f"  epmip controller up, {len(driver.switches)} switches connected ({time.monotonic() - t0:.1f} s)")
            self.hnps = driver.hnps

            def phase(name: str, events: list[Event], rate: float = 0.0, window: int = args.window) -> dict:
                say(f"phase {name}: {len(events):,} events" + (f" at {rate:,.0f}/s" if rate else ""))
                c0 = ctl.cpu()
                r = driver.run(name, events, rate, window)
                r["cpu_us_per_event"] = round(1e6 * (ctl.cpu() - c0) / max(r["done"], 1), 1)
                if driver.errors:
                    r["openflow_errors"] = driver.errors[:5]
                    driver.errors.clear()
                say(f"  -> {r['done']:,} done, {r['per_s'] or 0:,.0f}/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
                return r

            order = list(self.mns)
            self.rng.shuffle(order)
            attach = [self.attach_event(m, self.dpid[self.mns[m]["attach"]]) for m in order]
            result["attach"] = phase("attach", attach, args.rate)
            if result["attach"]["done"] != len(attach):
                raise LoadError(f"{len(attach) - result['attach']['done']} attachments got no RA")
            result["rss_per_mn"] = round((ctl.rss() - rss0) / self.n)
            routes = self.route_events(args.routes)
            result["route"] = phase("route set-up", routes, args.rate)
            half = (result["route"]["per_s"] or 0) / 2
            if half:
                count = max(200, int(half * args.latency_seconds))
                result["route_half_rate"] = phase("route set-up at half rate", self.route_events(count), half, 10**9)
            movers = list(dict.fromkeys(ev.mn for ev in routes if ev.mn in self.where))[: args.handoffs]
            handoffs = [self.handoff_event(m) for m in movers]
            result["handoff"] = phase("handoff", handoffs, args.rate)
            if args.profile:
                ctl.profile(True)
                p_routes = self.route_events(args.routes // 2)
                movers = list(dict.fromkeys(e.mn for e in p_routes))[: args.handoffs // 2]
                p_moves = [self.handoff_event(m) for m in movers]
                result["profiled_route"] = phase("route set-up, profiled", p_routes, 0.0)
                result["profiled_handoff"] = phase("handoff, profiled", p_moves, 0.0)
                ctl.profile(False)
                time.sleep(1.0)
                result["profile"] = profile_summary(prof)
            driver.close()
        finally:
            ctl.stop()
        result["reference"] = self.run_reference(args)
        return result

    def run_reference(self, args) -> dict:
        """ryu.app.simple_switch_13 through the same driver: the same switches, a frame from a new
        source MAC on port 1 to a MAC learned on port 2, per event."""
        work = self.workdir
        ctl = Controller(["ryu.app.simple_switch_13"], None, work / "simple-switch.log", work / "ss.prof")
        try:
            ctl.wait_listening()
            ports = {d: [ofwire.Port(1, bytes(6)), ofwire.Port(2, bytes(5) + b"\x02")] for d in self.switch_ports}
            driver = Driver(ctl.port, ports)
            driver.connect()
            driver.wait_ready()
            dpids = [self.dpid[e] for e in self.emags]
            learned = "02:20:00:00:00:01"
            for d in dpids:  # the destination's MAC, learned on port 2 (flooded: a packet-out)
                frame = _uplink("33:33:00:00:00:01", learned, bytes(16), bytes(16))
                driver.run("learn", [Event("learn", [(d, ofwire.packet_in(frame, 2))], ("out", d, frame[6:12]))])

            def events(count: int, base: int) -> list[Event]:
                out = []
                for i in range(count):
                    d = dpids[i % len(dpids)]
                    src = mn_mac(base + i)
                    frame = _uplink(learned, src, bytes(16), bytes(16))
                    out.append(Event("packet-in", [(d, ofwire.packet_in(frame, 1))], ("out", d, frame[6:12])))
                return out

            result = {}
            c0 = ctl.cpu()
            say(f"phase simple_switch_13 packet-ins: {args.routes:,} events")
            result["packet_in"] = driver.run("simple_switch_13", events(args.routes, 1 << 24))
            result["packet_in"]["cpu_us_per_event"] = round(
                1e6 * (ctl.cpu() - c0) / max(result["packet_in"]["done"], 1), 1
            )
            r = result["packet_in"]
            say(f"  -> {r['done']:,} done, {r['per_s'] or 0:,.0f}/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
            half = (r["per_s"] or 0) / 2
            if half:
                count = max(200, int(half * args.latency_seconds))
                say(f"phase simple_switch_13 at half rate: {count:,} events at {half:,.0f}/s")
                result["packet_in_half_rate"] = driver.run("simple_switch_13 half", events(count, 1 << 25), half, 10**9)
            driver.close()
        finally:
            ctl.stop()
        return result


def _uplink(dst_mac: str, src_mac: str, src: bytes, dst: bytes) -> bytes:
    """Ethernet + a bare IPv6 header (what the UPLINK table punts: its first 54 bytes)."""
    return ofwire.mac_bytes(dst_mac) + ofwire.mac_bytes(src_mac) + b"\x86\xdd" + bytes(8) + src + dst


# ---------------------------------------------------------------- profile and report


def _area(filename: str) -> str:
    for part, name in (
        ("/controller/", "epmip controller/"),
        ("/openflow_rules/", "epmip openflow_rules/"),
        ("/apps/", "epmip apps/"),
        ("/ryu/", "ryu"),
        ("eventlet", "eventlet"),
        ("msgpack", "msgpack"),
        ("ipaddress", "ipaddress"),
        ("dataclasses", "dataclasses"),
        ("hmac", "hmac/hashlib"),
        ("logging", "logging"),
    ):
        if part in filename:
            return name
    return "other" if filename != "~" else "builtins"


def profile_summary(path: Path, top: int = 15) -> dict:
    if not path.exists():
        return {"error": f"no profile written to {path}"}
    st = pstats.Stats(str(path))
    total = st.total_tt  # type: ignore[attr-defined]
    by_area: Counter[str] = Counter()
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        by_area[_area(filename)] += tt
        rows.append((tt, ct, nc, f"{Path(filename).name}:{line}({func})" if filename != "~" else func))
    rows.sort(reverse=True)
    return {
        "total_s": round(total, 3),
        "by_area": {k: round(100 * v / total, 1) for k, v in by_area.most_common()} if total else {},
        "top": [
            {"function": name, "calls": nc, "tottime_s": round(tt, 4), "cumtime_s": round(ct, 4)}
            for tt, ct, nc, name in rows[:top]
        ],
    }


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if v >= 100 else f"{v:,.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def report(result: dict) -> str:
    env = result.get("environment", {})
    lines = [
        f"epmip bench load: {result['mns']:,} MNs, emulated switches over TCP to epmip-manager; "
        f"CPU {env.get('cpu_model', '?')} ({env.get('cpus_online', '?')} online), CPython {env.get('python', '?')}, "
        f"Ryu {env.get('ryu', '?')}, git {env.get('git', '?')}, load average {env.get('loadavg_start', ['?'])[0]} -> "
        f"{env.get('load_after', '?')}; state store: {result.get('store', 'none')}",
        "",
    ]
    head = ("phase", "events", "done", "per s", "p50 ms", "p99 ms", "max ms", "CPU us/event", "OpenFlow msgs/event")
    rows = []
    ref = result.get("reference", {})
    for key, label in (
        ("attach", "attach (PortStatus -> RA)"),
        ("route", "route set-up (packet-in -> DRF flow-mod)"),
        ("route_half_rate", "route set-up at half rate"),
        ("handoff", "handoff (PortStatus x2 -> RA)"),
    ):
        r = result.get(key)
        if r:
            rows.append((label, r))
    for key, label in (
        ("packet_in", "simple_switch_13 packet-in"),
        ("packet_in_half_rate", "simple_switch_13 half rate"),
    ):
        r = ref.get(key)
        if r:
            rows.append((label, r))
    table = [head] + [
        (
            label, _fmt(r["events"]), _fmt(r["done"]), _fmt(r["per_s"]), _fmt(r["p50_ms"]), _fmt(r["p99_ms"]),
            _fmt(r["max_ms"]), _fmt(r.get("cpu_us_per_event")),
            ", ".join(f"{k} {v:g}" for k, v in r["received_per_event"].items()),
        )
        for label, r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for j, row in enumerate(table):
        cells = (c.ljust(w) if i in (0, 8) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    ratio = _ratio(result)
    if ratio is not None:
        lines.append(f"route set-ups / simple_switch_13 packet-ins (same driver, same run): {ratio:.2f}")
    if "rss_per_mn" in result:
        lines.append(f"controller RSS growth per attached MN: {result['rss_per_mn']:,} bytes")
    prof = result.get("profile")
    if prof and "top" in prof:
        lines += ["", f"controller profile (cProfile, extra route set-up + handoff pass, {prof['total_s']} s):"]
        lines.append("  by area (own time): " + ", ".join(f"{k} {v}%" for k, v in prof["by_area"].items()))
        lines.append(f"  {'own s':>8}  {'cum s':>8}  {'calls':>9}  function")
        for row in prof["top"]:
            lines.append(f"  {row['tottime_s']:8.3f}  {row['cumtime_s']:8.3f}  {row['calls']:9,}  {row['function']}")
    lines += [
        "",
        "notes:",
        "  - per s: completed events / time from the first send to the last completion; events in flight are",
        "    bounded by --window (half rate: paced, unbounded).  Latency: event sent -> its completion message",
        "    received by the emulated switch (RA packet-out, DRF flow-mod, simple_switch_13's packet-out).",
        "  - CPU us/event: the controller process's user+system time over the phase / events.",
        "  - the driver is one Python thread on the same machine: at the top rates it takes part of a core the",
        "    controller could use; simple_switch_13 runs through the same driver, so the ratio is fair.",
    ]
    return "\n".join(lines)


def _ratio(r: dict) -> float | None:
    """Route set-ups per simple_switch_13 packet-in, same driver and run (the issue's figure)."""
    route, ss = r.get("route", {}).get("per_s"), r.get("reference", {}).get("packet_in", {}).get("per_s")
    return route / ss if route and ss else None


def before_after(before: dict, after: dict) -> str:
    """This run's figures beside an earlier run's (``--before``: its --json output)."""
    from benchmarks import before_after as ba

    def figure(path: tuple[str, ...]) -> Callable[[dict], float | None]:
        return lambda r: ba.get(r, path)

    rows: list[ba.Row] = []
    for key, label in PHASES:
        at = ("reference", key) if key.startswith("packet_in") else (key,)
        rows.append((f"{label}: per s", figure((*at, "per_s")), True))
        rows.append((f"{label}: p99 ms", figure((*at, "p99_ms")), False))
        rows.append((f"{label}: CPU us/event", figure((*at, "cpu_us_per_event")), False))
    rows.append(("route set-ups / simple_switch_13 packet-ins", _ratio, True))
    env_b, env_a = before.get("environment", {}), after.get("environment", {})
    git = f"git {env_b.get('git', '?')} -> {env_a.get('git', '?')}"
    note = f"{git}; MNs {before.get('mns', '?')} -> {after.get('mns', '?')}"
    return ba.table("before -> after", before, after, rows, note)


PHASES = (
    ("attach", "attach"),
    ("route", "route set-up"),
    ("route_half_rate", "route set-up at half rate"),
    ("handoff", "handoff"),
    ("packet_in", "simple_switch_13"),
    ("packet_in_half_rate", "simple_switch_13 at half rate"),
)


def run(
    mns: int = DEFAULT_MNS, routes: int = 20_000, handoffs: int = 3_000, rate: float = 0.0,
    window: int = DEFAULT_WINDOW, latency_seconds: float = 3.0, profile: bool = True, as_json: bool = False,
    logs: str | None = None, store: bool = False, before: str | None = None,
) -> int:  # fmt: skip
    from benchmarks import before_after as ba

    try:
        earlier = ba.load(before, "load", ("route", "reference")) if before else None
    except ba.BeforeError as exc:
        say(f"epmip bench load: {exc}")
        return 1

    class Args:
        pass

    args = Args()
    args.routes, args.handoffs, args.rate, args.window = routes, handoffs, rate, window  # type: ignore[attr-defined]
    args.latency_seconds, args.profile = latency_seconds, profile  # type: ignore[attr-defined]
    env = environment()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="epmip-load-") as tmp:
        work = Path(logs) if logs else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            result = Load(mns, work, store=store).run(args)
            result["store"] = "sqlite" if store else "none"
        except LoadError as exc:
            say(f"epmip bench load: {exc}")
            for log in work.glob("*.log"):
                say(f"--- {log.name} (tail)")
                say("\n".join(log.read_text(errors="replace").splitlines()[-30:]))
            return 1
    env["load_after"] = round(os.getloadavg()[0], 2)
    result["environment"] = env
    result["seconds"] = round(time.monotonic() - t0, 1)
    if as_json:
        print(json.dumps(result))
    else:
        print(report(result))
        print(f"  total run time {result['seconds']} s")
        if earlier is not None:
            print("\n" + before_after(earlier, result))
    return 0
