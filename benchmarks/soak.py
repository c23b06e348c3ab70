"""``epmip bench soak``: K mobile nodes on a random walk under UDP streams, then a stale-state audit.

The domain is generated (``soak_domain``; ``examples/soak.yaml`` is its K=12 output): three eLMAs
with their own prefixes, six eMAGs (two per eLMA area, spread over a ring of four core switches, so
shortest paths have ties), a legacy MAG with a legacy LMA, an access router with DRF and a fixed
host (cn1), K MNs - the odd ones with no LMA in their profile (the policy store anchors them at
their first eMAG's eLMA), the even ones with one, not always their first eMAG's.  Handoff
buffering is ``predictive`` by default: every move is announced with a link-going-down hint, the
only configuration in which the controller claims no loss beyond the link-layer gap.

1. Start Open vSwitch, the controller and Mininet; wait for every MN's address (its HoA).
2. Start the streams: two-way UDP sequence streams between MN pairs, some one-way, and a two-way one
   between cn1 and mn1, ``rate`` packets/s each way (``benchmarks/udpstream.py``, with send logs).
3. The walk (``soak_checks.plan_walk``, seeded): every ``interval`` seconds one MN moves to another
   access switch (``Network.move``), after a link-going-down hint; the binding is polled until it
   shows the new Proxy-CoA.
4. Stop the streams; let the controller settle (bindings at the MNs' switches, no redirect, no
   query pending, signalling quiet).
5. Audit: flows per switch (start and end) and flows left behind (``soak_checks.stale_flows``); for
   every stream direction whose two ends are now on DRF-capable switches, a short burst, all at
   once: every packet arrives, the (e)LMAs' table-0 counters stay flat, the DRF entries on the
   sender's switch count the burst, and the switches' counters grow exactly as if every burst took
   its shortest path (``controller/topology.py``); if not, each direction again alone to say which.
   Every MN's global addresses and binding (LMA, HNPs) against the start.

Loss attribution per direction: a lost packet sent while the sender's or the receiver's link was
being moved (from the start of ``Network.move`` until it returned, the port on its new switch) is a
link-layer loss; any other loss is the controller's.  The longest time without an arrival "outside
moves" leaves out every interval that overlaps a move of either end (hint to binding seen).

Needs root (Open vSwitch, Mininet) and a machine where nothing else uses them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from benchmarks import analysis
from benchmarks.handoff import (
    HOST_PYTHON,
    BenchError,
    _finish,
    _get,
    _listening,
    _stats,
    _stop_procs,
    _wait,
    print_json,
    run_guarded,
)
from benchmarks.soak_checks import (
    DRF_ROLES,
    Move,
    Owners,
    count_flows,
    crossed,
    direction_figures,
    drf_entries,
    expected_visits,
    plan_walk,
    stale_flows,
    summarize_losses,
)
from benchmarks.udpstream import RECORD, load_records
from controller.config import Domain, load_domain
from controller.topology import Topology

ROOT = Path(__file__).resolve().parent.parent
UDPSTREAM = Path(__file__).resolve().with_name("udpstream.py")
MIN_MNS, MAX_MNS = 12, 120
STREAM_PORT = 47100  # + stream number
BURST_PORT = 47400  # + direction number
BURST_PACKETS = 100
STRAY = 10  # packets a switch may count besides a burst (hosts' neighbour discovery)
WARMUP_TIMEOUT = 15.0
SETTLE_TIMEOUT = 15.0
SETTLE_QUIET = 1.5  # seconds without a signalling message
DRAIN = 0.5
NOTABLE = (  # controller events worth a line in the report when not zero
    "openflow_errors", "handler_errors", "buffer_dropped_overflow", "buffer_dropped_timeout", "buffer_dropped_no_mn",
    "dmf_pbci_unanswered", "drf_query_timeout", "unexpected_message", "registration_rejected",
)  # fmt: skip

Say = Callable[[str], None]


# --------------------------------------------------------------------------- the domain


EMAGS = (  # name, dpid, eLMA area, core switch
    ("emag1", 1, "elma1", "c1"), ("emag2", 2, "elma1", "c2"), ("emag3", 3, "elma2", "c2"),
    ("emag4", 4, "elma2", "c3"), ("emag5", 5, "elma3", "c3"), ("emag6", 6, "elma3", "c4"),
)  # fmt: skip
ELMAS = (("elma1", 11, "2001:db8:a::/48", "c1"), ("elma2", 12, "2001:db8:b::/48", "c2"),
         ("elma3", 13, "2001:db8:c::/48", "c4"))  # fmt: skip
CORE = ("c1", "c2", "c3", "c4")  # a ring
FIXED_NET = "2001:db8:f::/64"


def _switch(name: str, dpid: int, role: str, **extra) -> dict:
    return {"name": name, "dpid": dpid, "role": role, "address": f"2001:db8:ffff::{dpid}", **extra}


def soak_domain(mns: int = MIN_MNS, buffer: str = "predictive") -> dict:
    """The soak's domain file (a dict for ``yaml.safe_dump``) with ``mns`` mobile nodes."""
    if not MIN_MNS <= mns <= MAX_MNS:
        raise BenchError(f"--mns {mns}: expected {MIN_MNS}..{MAX_MNS} mobile nodes")
    switches = [_switch(n, d, "emag", lma=lma) for n, d, lma, _ in EMAGS]
    switches.append(_switch("mag7", 7, "mag", lma="lma"))
    switches += [_switch(n, d, "elma", prefixes=[p]) for n, d, p, _ in ELMAS]
    switches.append(_switch("lma", 19, "lma", prefixes=["2001:db8:1::/48"]))
    switches.append(_switch("ar1", 21, "ar_drf"))
    switches += [_switch(c, 31 + i, "core") for i, c in enumerate(CORE)]
    links = [[a, b] for a, b in zip(CORE, CORE[1:] + CORE[:1], strict=True)]
    links += [[n, c] for n, _, _, c in EMAGS] + [[n, c] for n, _, _, c in ELMAS]
    links += [["mag7", "c1"], ["lma", "c4"], ["ar1", "c3"]]
    nodes = []
    for i in range(1, mns + 1):
        mn: dict = {"id": f"mn{i}", "mac": f"02:00:00:01:{i >> 8:02x}:{i & 0xFF:02x}",
                    "attach": EMAGS[(i - 1) % len(EMAGS)][0]}  # fmt: skip
        if i % 2 == 0:
            mn["lma"] = ELMAS[(i // 2) % len(ELMAS)][0]
        if i == 3:
            mn["hnp_count"] = 2  # several HNPs (RFC 5213), all kept across the walk
        nodes.append(mn)
    return {
        "domain": "soak",
        "mode": "epmip",
        "handoff_buffer": buffer,
        "security": {"key": "soak-only-epmip-signalling-key"},
        # short binding lifetime: refreshes, DRF location refreshes (80 %) happen during the walk
        "timers": {
            "binding_lifetime": 20,
            "min_delay_before_bce_delete": 2,
            "query_timeout": 0.5,
            "query_retries": 2,
        },  # fmt: skip
        "switches": switches,
        "links": links,
        "fixed_networks": [{"prefix": FIXED_NET, "router": "ar1"}],
        "fixed_nodes": [{"name": "cn1", "mac": "02:00:00:00:02:01", "address": "2001:db8:f::10", "attach": "ar1"}],
        "mobile_nodes": nodes,
    }


def write_domain(doc: dict, path: Path) -> str:
    """Write the domain file: one line per switch, link and node, so that it reads like the example."""

    def flow(value) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16, sort_keys=False).strip()
        return text.removesuffix("...").strip()  # a bare scalar ends its document

    lines = [
        "# Generated by benchmarks/soak.py (soak_domain) for `epmip bench soak`; see docs/benchmarks.md.",
        "# Ring c1-c2-c3-c4; eLMA areas: emag1, emag2 -> elma1; emag3, emag4 -> elma2; emag5, emag6 -> elma3;",
        "# mag7 (legacy MAG) -> lma; ar1 (access router with DRF) serves cn1 (fixed).  Odd MNs name no LMA.",
    ]
    for key, value in doc.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"  - {flow(item)}" for item in value]
        else:
            lines.append(f"{key}: {flow(value)}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# --------------------------------------------------------------------------- streams


@dataclass(frozen=True)
class Direction:
    stream: int
    src: str
    dst: str
    port: int

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"


def plan_streams(domain: Domain) -> list[tuple[str, str, bool]]:
    """(a, b, one_way) per stream: MN pairs in order, every third pair one-way (a -> b); cn1 <-> mn1
    two-way; an odd last MN gets a one-way stream from cn1."""
    mns = list(domain.mobile_nodes)
    fixed = next(iter(domain.fixed_nodes), None)
    out = [(mns[i], mns[i + 1], (i // 2) % 3 == 2) for i in range(0, len(mns) - 1, 2)]
    if fixed is not None:
        out.append((fixed, mns[0], False))
        if len(mns) % 2:
            out.append((fixed, mns[-1], True))
    return out


def directions(streams: list[tuple[str, str, bool]]) -> list[Direction]:
    out = []
    for k, (a, b, one_way) in enumerate(streams):
        out.append(Direction(k, a, b, STREAM_PORT + k))
        if not one_way:
            out.append(Direction(k, b, a, STREAM_PORT + k))
    return out


class Hosts:
    """udpstream processes inside the Mininet hosts, in a temporary directory."""

    def __init__(self, net, tmp: Path) -> None:
        self.net = net
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def start(self, host: str, name: str, args: list[str]) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.out", "w")  # noqa: SIM115 - the child owns it
        try:
            p = self.net.host(host).popen([HOST_PYTHON, str(UDPSTREAM), *args], stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        self.procs.append(p)
        return p

    def receivers(self, dirs: list[Direction], tag: str, seconds: float) -> dict[tuple[str, int], subprocess.Popen]:
        recv: dict[tuple[str, int], subprocess.Popen] = {}
        for d in dirs:
            if (d.dst, d.port) not in recv:
                recv[(d.dst, d.port)] = self.start(d.dst, f"{tag}-{d.dst}-{d.port}.recv", [
                    "recv", "--port", str(d.port), "--out", str(self.tmp / f"{tag}-{d.dst}-{d.port}.rec"),
                    "--duration", f"{seconds:.0f}"])  # fmt: skip
        _wait(lambda: all(_listening(self.net.host(h), port) for h, port in recv), 10,
              "the receivers to listen", procs={f"{h}:{p}": v for (h, p), v in recv.items()})  # fmt: skip
        return recv

    def senders(self, dirs: list[Direction], tag: str, address: dict[str, str], rate: float,
                count: int) -> dict[Direction, subprocess.Popen]:  # fmt: skip
        return {
            d: self.start(
                d.src,
                f"{tag}-{d.src}-{d.port}.send",
                [
                    "send",
                    "--dst",
                    address[d.dst],
                    "--port",
                    str(d.port),
                    "--rate",
                    f"{rate:g}",
                    "--count",
                    str(count),
                    "--log",
                    str(self.tmp / f"{tag}-{d.src}-{d.port}.sent"),
                ],
            )  # fmt: skip
            for d in dirs
        }

    def received(self, d: Direction, tag: str) -> list:
        """Records of one direction: the receiver's file, only what this sender sent (its source)."""
        return load_records(str(self.tmp / f"{tag}-{d.dst}-{d.port}.rec"))

    def sent(self, d: Direction, tag: str) -> list:
        return load_records(str(self.tmp / f"{tag}-{d.src}-{d.port}.sent"))

    def summary(self, name: str) -> dict | None:
        try:
            lines = (self.tmp / f"{name}.out").read_text(errors="replace").strip().splitlines()
            return json.loads(lines[-1]) if lines else None
        except (OSError, ValueError):
            return None


# --------------------------------------------------------------------------- the run


def run(moves: int = 40, interval: float = 1.0, rate: float = 200.0, mns: int = MIN_MNS, seed: int = 1,
        json_out: bool = False, buffer: str = "predictive", log_dir: str | None = None) -> int:  # fmt: skip
    """``epmip bench soak``: run, print the report (or one JSON object); 0 if every check passed,
    1 on an error of the run itself, 3 if a check failed."""
    from mininet_topos.harness import HarnessError

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def work() -> dict:
        _check_args(moves, interval, rate)
        return soak(moves, interval, rate, mns, seed, say, buffer=buffer, log_dir=log_dir)

    result, status = run_guarded("soak", "soak", json_out, (BenchError, HarnessError), work)
    if status is not None:
        return status
    if json_out:
        print_json(result)
    else:
        print(report(result), flush=True)
    return 0 if result["verdict"]["passed"] else 3


def _check_args(moves: int, interval: float, rate: float) -> None:
    if moves < 1:
        raise BenchError(f"--moves {moves}: need at least one move")
    if not 0.3 <= interval <= 60:
        raise BenchError(f"--interval {interval}: expected 0.3..60 seconds")
    if not 0 < rate <= 2000:
        raise BenchError(f"--rate {rate}: expected packets per second in (0, 2000]")


def soak(moves: int, interval: float, rate: float, mns: int, seed: int, say: Say, buffer: str = "predictive",
         log_dir: str | None = None) -> dict:  # fmt: skip
    """One soak run; the result dict ``report`` prints (``verdict`` says what failed)."""
    from mininet_topos.harness import Controller, Network, ensure_ovs

    if os.geteuid() != 0:
        raise BenchError("needs root (Open vSwitch and Mininet)")
    if not os.access(HOST_PYTHON, os.X_OK):
        raise BenchError(f"{HOST_PYTHON} is missing: the Mininet hosts run udpstream.py with it")
    others = _controllers_running()
    if others:
        # The domain's switch and host names are the reference domain's too, and the harness removes
        # "leftover" bridges and veths by name: starting now would tear down the other run's network.
        raise BenchError(f"another controller is running ({'; '.join(others)}): one Open vSwitch/Mininet run "
                         "at a time")  # fmt: skip
    logs = Path(log_dir) if log_dir else ROOT / "var" / "logs" / datetime.now().strftime("bench-soak-%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    domain_file = write_domain(soak_domain(mns, buffer), logs / "soak.yaml")
    domain = load_domain(domain_file)
    walk = plan_walk(domain, moves, seed)
    streams = plan_streams(domain)
    dirs = directions(streams)
    kinds = [m.kind(domain) for m in walk]
    say(f"soak: {mns} MNs, {moves} moves every {interval:g} s (seed {seed}: "
        f"{kinds.count('area')} between eLMA areas, {kinds.count('legacy')} to/from the legacy MAG), "
        f"{len(streams)} streams ({len(dirs)} directions) at {rate:g} packets/s each way, buffer {buffer}; "
        f"logs in {logs}")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="epmip-soak-"))
    ctl = net = hosts = None
    try:
        say("starting Open vSwitch, the controller and Mininet ...")
        ensure_ovs()
        ctl = Controller(domain_file, logs)
        ctl.start()
        net = Network(domain_file, ctl)
        net.start()
        names = list(domain.mobile_nodes)
        addrs = net.wait_addresses(names, timeout=45)
        addrs.update({fn.name: str(fn.address) for fn in domain.fixed_nodes.values()})
        before = {mn: _host_state(net, ctl, mn) for mn in names}
        say(f"{len(names)} MNs have addresses; starting the streams")
        hosts = Hosts(net, tmp)
        budget = WARMUP_TIMEOUT + moves * (interval + 1) + 60
        recv = hosts.receivers(dirs, "walk", budget + 30)
        send = hosts.senders(dirs, "walk", addrs, rate, int(rate * budget))
        _wait(lambda: all(_size(tmp / f"walk-{d.dst}-{d.port}.rec") >= RECORD.size for d in dirs), WARMUP_TIMEOUT,
              "packets to arrive on every stream", procs={**{str(k): v for k, v in recv.items()},
                                                         **{d.name: p for d, p in send.items()}})  # fmt: skip
        t_ready = time.time()
        flows_start = _dump_all(domain)
        log = _walk(net, ctl, domain, walk, interval, say)
        time.sleep(interval)  # the last move gets a full interval of traffic after it too
        say("stopping the streams ...")
        t_stop = time.time()
        sender_summary = {d: _finish(p, tmp / f"walk-{d.src}-{d.port}.send.out") for d, p in send.items()}
        time.sleep(DRAIN)
        for p in recv.values():
            _finish(p, Path(os.devnull))
        settle = _settle(ctl, net, domain, say)
        dumps = _dump_all(domain)
        where = {h: net.attachment(h) for h in [*names, *domain.fixed_nodes]}
        owners = _owners(ctl, domain, where)
        stale = stale_flows(domain, dumps, owners)
        say(f"flows left behind: {len(stale)}; bursts for the path check ...")
        after = {mn: _host_state(net, ctl, mn) for mn in names}
        sources = {mn: after[mn]["addresses"] or [addrs[mn]] for mn in names}
        sources.update({fn.name: [str(fn.address)] for fn in domain.fixed_nodes.values()})
        paths = _path_check(domain, hosts, dirs, where, addrs, sources, rate, say)
        final = _stats(ctl)
        figures = []
        window = {e["move"]: (e["t_hint"], e["t_bound"] or e["t_attached"] + interval) for e in log}
        for d in dirs:
            gaps = [(e["t_move"], e["t_port_added"]) for e in log if e["mn"] in (d.src, d.dst)]
            own = [(e["t_move"], e["t_port_added"]) for e in log if e["mn"] == d.src]
            windows = [window[e["move"]] for e in log if e["mn"] in (d.src, d.dst)]
            f = direction_figures(hosts.received(d, "walk"), hosts.sent(d, "walk"), gaps, windows,
                                  sent_count=(sender_summary[d] or {}).get("sent"),
                                  all_move_windows=list(window.values()), sender_gaps=own)  # fmt: skip
            figures.append({"direction": d.name, "stream": d.stream, "src": d.src, "dst": d.dst,
                            "moves_of_ends": len(gaps), "end_switches": [where[d.src], where[d.dst]],
                            "sender_late_max_ms": (sender_summary[d] or {}).get("late_max_ms"),
                            **f.as_dict()})  # fmt: skip
    finally:
        if hosts is not None:
            _stop_procs(hosts.procs)
        try:
            if net is not None:
                net.stop()
        finally:
            if ctl is not None:
                ctl.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    hoa = [{"mn": mn, "before": before[mn], "after": after[mn], "unchanged": before[mn] == after[mn]} for mn in names]
    events = final.get("events") or {}
    notable = {k: events[k] for k in NOTABLE if events.get(k)}
    notable.update({f"signalling:{k}": v for k, v in (final.get("signalling_errors") or {}).items() if v})
    counts_start, counts_end = count_flows(flows_start), count_flows(dumps)
    result = {
        "benchmark": "soak", "config": domain_file, "seed": seed, "mns": mns, "moves_requested": moves,
        "interval_s": interval, "rate_pps": rate, "handoff_buffer": buffer, "t_ready": t_ready, "t_stop": t_stop,
        "clock": "time.time() (CLOCK_REALTIME), shared by all Mininet hosts",
        "walk": log, "directions": figures, "losses": summarize_losses(figures), "settle": settle,
        "paths": paths, "hoa": hoa,
        "flows": {
            "per_switch": {sw: {"start": counts_start[sw]["total"], "end": counts_end[sw]["total"],
                                "end_by_fn": counts_end[sw]} for sw in domain.switches},  # fmt: skip
            "stale": stale,
        },
        "controller": {"events": notable, "messages": final.get("messages", {}),
                       "messages_total": final.get("messages_total"), "latency": final.get("latency", {}),
                       "log": str(ctl.log_path) if ctl else None},  # fmt: skip
    }  # fmt: skip
    result["verdict"] = verdict(result)
    return result


def _controllers_running() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "epmip-manager|ryu-manager"], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _host_state(net, ctl, mn: str) -> dict:
    out = net.host(mn).cmd(f"ip -6 -o addr show dev {mn}-eth0 scope global")
    addresses = sorted(line.split()[3].split("/")[0] for line in out.splitlines() if " inet6 " in line)
    b = _get(ctl, f"/epmip/v1/bindings/{mn}")
    return {"addresses": addresses, "lma": b.get("lma"), "hnps": sorted(b.get("hnps") or [])}


def _dump_all(domain: Domain) -> dict[str, list[dict]]:
    from mininet_topos.harness import dump_flows

    return {sw: dump_flows(sw) for sw in domain.switches}


def _walk(net, ctl, domain: Domain, walk: list[Move], interval: float, say: Say) -> list[dict]:
    """The moves, one every ``interval`` s (absolute schedule); returns one entry per move."""
    log = []
    t0 = time.time()
    for k, m in enumerate(walk, 1):
        due = t0 + k * interval
        time.sleep(max(due - time.time(), 0))
        if net.attachment(m.mn) != m.source:
            raise BenchError(f"move {k}: {m.mn} is on {net.attachment(m.mn)}, the walk has it on {m.source}")
        t_hint = time.time()
        hint = None
        if domain.handoff_buffer == "predictive":
            hint, _ = ctl.post(f"/epmip/v1/mobility/{m.mn}/link-going-down", {})
        t_move = time.time()
        t_gone, t_port = _move(net, m.mn, m.target)
        t_attached = time.time()
        coa = domain.switches[m.target].address
        t_bound = None
        while time.time() < due + interval - 0.05:
            got = _get(ctl, f"/epmip/v1/bindings/{m.mn}").get("proxy_coa")
            if got and ipaddress.IPv6Address(got) == coa:
                t_bound = time.time()
                break
            time.sleep(0.02)
        entry = {"move": k, "mn": m.mn, "from": m.source, "to": m.target, "kind": m.kind(domain),
                 "hint_status": hint, "t_hint": t_hint, "t_move": t_move, "t_port_gone": t_gone,
                 "t_port_added": t_port, "t_attached": t_attached, "t_bound": t_bound,
                 "gap_ms": 1000 * (t_port - t_move), "move_ms": 1000 * (t_attached - t_move),
                 "registration_ms": None if t_bound is None else 1000 * (t_bound - t_move)}  # fmt: skip
        log.append(entry)
        reg = "NOT re-registered" if t_bound is None else f"bound {entry['registration_ms']:.0f} ms"
        bad = "" if hint in (None, 202) else f", hint refused ({hint})"
        say(f"move {k}/{len(walk)}: {m.mn} {m.source} -> {m.target} ({entry['kind']}): port on the new switch "
            f"after {entry['gap_ms']:.0f} ms, move done after {entry['move_ms']:.0f} ms, {reg}{bad}")  # fmt: skip
    return log


def _move(net, mn: str, target: str) -> tuple[float, float]:
    """``Network.move`` step by step (Mininet's ``MobilitySwitch.moveIntf`` and ``attach``), so that
    the link-layer gap ends when ``ovs-vsctl add-port`` on the new switch returned - not after
    Mininet's own check of the port number, one more ``ovs-vsctl`` call, by which time the
    controller has often registered the MN already.  Returns (port removed, port added) times."""
    host = net.host(mn)
    old = net.net.get(net.attachment(mn))
    new = net.net.get(target)
    _hintf, sintf = host.connectionsTo(old)[0]
    port = max(new.ports.values(), default=0) + 1
    old.detach(sintf)  # ovs-vsctl del-port
    t_gone = time.time()
    old.delIntf(sintf)
    new.addIntf(sintf, port=port, rename=True)
    new.cmd("ovs-vsctl add-port", new, sintf, "-- set Interface", sintf, f"ofport_request={port}")
    t_added = time.time()
    new.validatePort(sintf)
    return t_gone, t_added


HANDOFF_MESSAGES = ("PBCI", "PBCA", "HI", "HACK", "PPQ", "PPA")  # PBU/PBA, PBQR/PBQA also refresh


def _settle(ctl, net, domain: Domain, say: Say) -> dict:
    """Wait until every MN's binding names its switch, no DRF has a redirect or a query pending and
    no handoff message (HANDOFF_MESSAGES: refreshes go on all the time) has been sent for
    SETTLE_QUIET s; at most SETTLE_TIMEOUT s."""
    start = time.monotonic()
    drfs = [s.name for s in domain.switches.values() if s.role in DRF_ROLES]
    last_total, last_change = None, time.monotonic()
    why: list[str] = []
    while True:
        why = []
        for mn in domain.mobile_nodes:
            got = _get(ctl, f"/epmip/v1/bindings/{mn}").get("proxy_coa")
            want = domain.switches[net.attachment(mn)].address
            if not got or ipaddress.IPv6Address(got) != want:
                why.append(f"{mn}'s binding is {got}, not {want}")
        for sw in drfs:
            body = _get(ctl, f"/epmip/v1/switches/{sw}/drf")
            why += [f"{sw} redirects {r['mn_id']}" for r in body.get("redirects", [])]
            why += [f"{sw} queries {q['prefix']}" for q in body.get("pending_queries", [])]
        sent = _stats(ctl).get("messages") or {}
        total = sum(sent.get(k, 0) for k in HANDOFF_MESSAGES)
        now = time.monotonic()
        if total != last_total:
            last_total, last_change = total, now
        if now - last_change < SETTLE_QUIET:
            why.append(f"handoff signalling ({'/'.join(HANDOFF_MESSAGES)}) not quiet yet")
        if not why or now - start >= SETTLE_TIMEOUT:
            break
        time.sleep(0.2)
    took = time.monotonic() - start
    say(f"settled in {took:.1f} s" if not why else f"NOT settled after {took:.1f} s: {'; '.join(why[:5])}")
    return {"seconds": took, "settled": not why, "pending": why}


def _owners(ctl, domain: Domain, where: dict[str, str]) -> Owners:
    prefixes: dict[ipaddress.IPv6Network, str] = {}
    for b in _get(ctl, "/epmip/v1/bindings").get("bindings", []):
        for h in b.get("hnps", []):
            prefixes[ipaddress.IPv6Network(h)] = b["mn_id"]
    for fn in domain.fixed_nodes.values():
        prefixes[ipaddress.IPv6Network(f"{fn.address}/128")] = fn.name
        for net in domain.fixed_networks:
            if fn.address in net.prefix:
                prefixes.setdefault(net.prefix, fn.name)
    return Owners(
        mn_by_index=dict(enumerate(domain.mobile_nodes)),  # controller/view.py Shared.mn_index
        fixed_by_index=dict(enumerate(domain.fixed_nodes)),
        attachment=where, prefixes=prefixes,
    )  # fmt: skip


def _entries(domain: Domain, switch: str, sources: list[str], dst: str) -> list[dict]:
    from mininet_topos.harness import dump_flows

    by_label = {sw.label: sw.name for sw in domain.switches.values()}
    return drf_entries(dump_flows(switch, 2), sources, dst, by_label)


def _direct_packets(entries: list[dict]) -> int:
    return sum(e["n_packets"] for e in entries if e["kind"] == "direct")


def _burst(hosts: Hosts, dirs: list[Direction], tag: str, addrs: dict[str, str], rate: float) -> dict[Direction, int]:
    recv = hosts.receivers(dirs, tag, 60)
    send = hosts.senders(dirs, tag, addrs, rate, BURST_PACKETS)
    for d, p in send.items():
        try:
            p.wait(BURST_PACKETS / rate + 10)
        except subprocess.TimeoutExpired:
            _finish(p, hosts.tmp / f"{tag}-{d.src}-{d.port}.send.out")
    time.sleep(DRAIN)
    for p in recv.values():
        _finish(p, hosts.tmp / "ignored.out")
    return {d: len({r[0] for r in hosts.received(d, tag)}) for d in dirs}


def _path_check(domain: Domain, hosts: Hosts, dirs: list[Direction], where: dict[str, str], addrs: dict[str, str],
                sources: dict[str, list[str]], rate: float, say: Say) -> dict:  # fmt: skip
    """Bursts on every direction whose ends are both on DRF-capable switches (see the module doc).

    A direction is optimized if, before its burst, the sender's switch has a direct DRF entry toward
    the receiver's switch (and no fallback), the direct entry counts the whole burst, every packet
    arrives, and the switches' table-0 counters show the shortest path and no (e)LMA.  The counters
    are read for all bursts together first; if they do not add up, for the directions with a right
    entry together again, and if that does not add up either, one direction at a time (which also
    shows where a direction with a wrong entry goes)."""
    topo = Topology(domain)
    role = {s.name: s.role for s in domain.switches.values()}

    def drf_capable(h: str) -> bool:
        return role[where[h]] in DRF_ROLES

    skipped = [{"direction": d.name, "why": f"{d.src} on {where[d.src]} ({role[where[d.src]]}), "
                f"{d.dst} on {where[d.dst]} ({role[where[d.dst]]})"}
               for d in dirs if not (drf_capable(d.src) and drf_capable(d.dst))]  # fmt: skip
    todo = [Direction(i, d.src, d.dst, BURST_PORT + i) for i, d in enumerate(dirs)
            if drf_capable(d.src) and drf_capable(d.dst)]  # fmt: skip
    out: dict = {"skipped": skipped, "directions": [], "rounds": []}
    rows: dict[Direction, dict] = {}
    for d in todo:
        entries = _entries(domain, where[d.src], sources[d.src], addrs[d.dst])
        want = None if where[d.src] == where[d.dst] else where[d.dst]
        rows[d] = {
            "direction": d.name, "from": where[d.src], "to": where[d.dst], "sent": BURST_PACKETS,
            "entry_before": [{"kind": e["kind"], "to": e["to"]} for e in entries],
            "entry_ok": bool(entries) and all(e["kind"] == "direct" and e["to"] == want for e in entries),
            "received": None, "drf_packets": None, "shortest": topo.path(where[d.src], where[d.dst]),
            "hops": None, "lma_packets": None, "crossed": None, "optimized": False,
        }  # fmt: skip
        out["directions"].append(rows[d])
    pending = list(todo)
    for round_no in (1, 2):
        group = pending if round_no == 1 else [d for d in pending if rows[d]["entry_ok"]]
        if not group or (round_no == 2 and len(group) == len(pending)):
            break
        r = _burst_round(domain, hosts, group, f"burst{round_no}", where, addrs, sources, rate, rows)
        out["rounds"].append(r)
        if r["ok"]:
            pending = [d for d in pending if d not in group]
            say(f"paths: {len(group)} bursts together took their shortest paths, no (e)LMA crossed")
            break
        say(f"paths: {len(group)} bursts together NOT as expected: (e)LMAs {r['lma_growth']}, off {r['off']}")
    for i, d in enumerate(pending):
        alone = Direction(d.stream, d.src, d.dst, BURST_PORT + 200 + i)
        rows[alone] = rows[d]
        r = _burst_round(domain, hosts, [alone], f"alone{i}", where, addrs, sources, rate, rows)
        out["rounds"].append(r)
        row = rows[d]
        say(f"  {d.name} alone: {row['from']} -> {row['to']}, entry before {row['entry_before']}: crossed "
            f"{', '.join(row['crossed'])} (shortest {len(row['shortest'])}), (e)LMA packets {row['lma_packets']}, "
            f"direct DRF packets {row['drf_packets']}, received {row['received']}/{BURST_PACKETS}")  # fmt: skip
    return out


def _burst_round(domain: Domain, hosts: Hosts, group: list[Direction], tag: str, where: dict[str, str],
                 addrs: dict[str, str], sources: dict[str, list[str]], rate: float,
                 rows: dict[Direction, dict]) -> dict:  # fmt: skip
    """One round of bursts (``group`` at once): fills each direction's row, returns the counters."""
    from mininet_topos.harness import settled_table_packets

    switches = list(domain.switches)
    lmas = [s.name for s in domain.switches.values() if s.is_lma]
    drf0 = {d: _direct_packets(_entries(domain, where[d.src], sources[d.src], addrs[d.dst])) for d in group}
    c0 = settled_table_packets(switches)
    got = _burst(hosts, group, tag, addrs, rate)
    c1 = settled_table_packets(switches)
    growth = {sw: c1[sw] - c0[sw] for sw in switches}
    expect = expected_visits((rows[d]["shortest"], BURST_PACKETS) for d in group)
    off = {sw: growth[sw] - expect.get(sw, 0) for sw in switches if abs(growth[sw] - expect.get(sw, 0)) > STRAY}
    lma_growth = {sw: growth[sw] for sw in lmas}
    ok = not off and not any(lma_growth.values())
    for d in group:
        row = rows[d]
        drf = _direct_packets(_entries(domain, where[d.src], sources[d.src], addrs[d.dst])) - drf0[d]
        row.update(received=got[d], drf_packets=drf)
        if ok:
            row.update(hops=len(row["shortest"]), lma_packets=0, crossed=row["shortest"])
        elif len(group) == 1:
            path = crossed(growth, BURST_PACKETS, STRAY)
            row.update(hops=len(path), lma_packets=sum(lma_growth.values()), crossed=path)
        row["optimized"] = bool(row["entry_ok"] and got[d] == BURST_PACKETS and drf >= BURST_PACKETS
                                and row["hops"] == len(row["shortest"]) and row["lma_packets"] == 0)  # fmt: skip
    return {"directions": [d.name for d in group], "ok": ok, "switch_growth": growth, "expected": expect,
            "off": off, "lma_growth": lma_growth, "visits": sum(growth.values()),
            "expected_visits": sum(expect.values())}  # fmt: skip


# --------------------------------------------------------------------------- verdict and report


def verdict(result: dict) -> dict:
    """The issue's acceptance, check by check (``passed``: all of them)."""
    outside = {d["direction"]: d["lost_outside_gaps"] for d in result["directions"] if d["lost_outside_gaps"]}
    not_opt = [p["direction"] for p in result["paths"]["directions"] if not p["optimized"]]
    hoa = [h["mn"] for h in result["hoa"] if not h["unchanged"]]
    checks = {
        "no loss outside link-layer gaps": not outside,
        "optimized paths at the end": not not_opt,
        "HoAs unchanged": not hoa,
        "no flows left behind": not result["flows"]["stale"],
        "settled": result["settle"]["settled"],
        "no controller errors": not {
            k: v for k, v in result["controller"]["events"].items() if "error" in k or k.startswith("signalling:")
        },  # fmt: skip
    }
    return {"passed": all(checks.values()), "checks": checks, "lost_outside": outside, "not_optimized": not_opt,
            "hoa_changed": hoa}  # fmt: skip


def report(result: dict) -> str:
    fmt = analysis.fmt
    walk = result["walk"]
    kinds = [e["kind"] for e in walk]
    reg = [e["registration_ms"] for e in walk]
    out = [
        "",
        f"soak: {result['mns']} MNs, {len(walk)} moves every {result['interval_s']:g} s (seed {result['seed']}; "
        f"{kinds.count('local')} within an eLMA area, {kinds.count('area')} between areas, "
        f"{kinds.count('legacy')} to/from the legacy MAG), UDP at {result['rate_pps']:g} packets/s each way, "
        f"handoff buffer {result['handoff_buffer']}",
        f"  moves: port on the new switch after {fmt(analysis.median(e['gap_ms'] for e in walk))} ms, move done "
        f"after {fmt(analysis.median(e['move_ms'] for e in walk))} ms (medians); binding seen "
        f"{fmt(analysis.median(reg))} / {fmt(analysis.p95(reg))} ms after the move (median / p95), "
        f"{sum(r is None for r in reg)} not seen before the next move; "
        f"{sum(e['hint_status'] not in (None, 202) for e in walk)} hints refused",
        "",
    ]  # fmt: skip
    rows: list[list | None] = []
    for d in result["directions"]:
        rows.append([
            d["direction"], " -> ".join(d["end_switches"]), d["moves_of_ends"], d["sent"], d["lost"],
            f"{d['lost_in_gaps']} ({d['lost_in_sender_gaps']})", d["lost_outside_gaps"], d["duplicates"],
            d["reordered"], fmt(d["longest_gap_outside_moves_ms"], 1),
            fmt(d["longest_gap_away_from_all_moves_ms"], 1), fmt(d["longest_gap_at_moves_ms"], 1),
        ])  # fmt: skip
    s = result["losses"]

    def most(key: str) -> str:
        return fmt(max((d[key] for d in result["directions"] if d[key] is not None), default=None), 1)

    rows.append(None)
    rows.append([
        "all", "", "", s["sent"], s["lost"], f"{s['lost_in_gaps']} ({s['lost_in_sender_gaps']})",
        s["lost_outside_gaps"], s["duplicates"], s["reordered"], most("longest_gap_outside_moves_ms"),
        most("longest_gap_away_from_all_moves_ms"), most("longest_gap_at_moves_ms"),
    ])  # fmt: skip
    header = ["direction", "ends at", "moves", "sent", "lost", "in L2 gaps (sender's)", "outside", "dup", "reord",
              "gap ms, not at its moves", "not at any move", "at its moves"]  # fmt: skip
    out += [analysis.text_table(header, rows, align="llrrrrrrrrrr", indent="  "), ""]
    out.append(
        "  lost: sent, never received; in L2 gaps: sent while the sender's or receiver's link was being moved "
        "(move start until ovs-vsctl add-port on the new switch returned), in brackets those of the sender's own "
        "moves; outside: every other loss.  gap ms: the longest time without an arrival, away from its ends' "
        "moves (hint until the binding was seen), away from every MN's moves (a port change pauses every bridge "
        "of the userspace datapath), and at its ends' moves (the handoff interruption)"
    )
    when = sorted({round(d["longest_gap_away_from_all_moves_at"] - result["t_ready"], 1) for d in result["directions"]
                   if d.get("longest_gap_away_from_all_moves_at") is not None})  # fmt: skip
    if when:
        starts = ", ".join(f"{t:+.1f}" for t in when)
        out.append(f"  the longest gap away from every move began, per direction, at {starts} s from the start "
                   "of the walk's streams")  # fmt: skip
    late = [d.get("sender_late_max_ms") for d in result["directions"] if d.get("sender_late_max_ms") is not None]
    if late:
        out.append(f"  the senders were at most {max(late):.1f} ms behind their schedule (pacing on a loaded machine: "
                   "a gap not at a move may be the sender's)")  # fmt: skip
    for d in result["directions"]:
        for x in d["outside_losses"][:5]:
            at = "?" if x["sent_at"] is None else f"{x['sent_at'] - result['t_ready']:+.3f} s"
            out.append(f"  LOST OUTSIDE A GAP: {d['direction']} seq {x['seq']} sent at {at} (from the stream's "
                       f"start), {x['nearest_gap_ms']} ms from the nearest gap")  # fmt: skip
    p = result["paths"]
    path_rows: list[list | None] = []
    for r in p["directions"]:
        entry = ", ".join(f"{e['kind']} {e['to'] or 'here'}" for e in r["entry_before"]) or "none"
        path_rows.append([r["direction"], f"{r['from']} -> {r['to']}", entry, f"{r['received']}/{r['sent']}",
                          r["drf_packets"], fmt(r["lma_packets"]), f"{fmt(r['hops'])}/{len(r['shortest'])}",
                          "optimized" if r["optimized"] else "NOT OPTIMIZED"])  # fmt: skip
    out.append("  paths at the end (a burst per direction whose ends are on eMAGs / the access router):")
    path_header = [
        "direction",
        "switches",
        "DRF entry",
        "received",
        "direct DRF pkts",
        "(e)LMA pkts",
        "hops/shortest",
        "",
    ]
    if path_rows:
        out.append(analysis.text_table(path_header, path_rows, align="llllrrrl", indent="    "))
    else:
        out.append("    none")
    for sk in p["skipped"]:
        out.append(f"    not checked: {sk['direction']}: {sk['why']}")
    for t in p["rounds"]:
        what = f"{len(t['directions'])} bursts together" if len(t["directions"]) > 1 else t["directions"][0]
        out.append(f"    {what}: {t['visits']} switch visits for {t['expected_visits']} on shortest paths; "
                   f"(e)LMA growth {t['lma_growth']}; off: {t['off'] or 'none'}")  # fmt: skip
    out.append("")
    changed = [h for h in result["hoa"] if not h["unchanged"]]
    out.append(f"  HoAs: {len(result['hoa']) - len(changed)} of {len(result['hoa'])} MNs kept their addresses, "
               "LMA and HNPs")  # fmt: skip
    for h in changed:
        out.append(f"    CHANGED {h['mn']}: {h['before']} -> {h['after']}")
    per = result["flows"]["per_switch"]
    out.append(
        "  flows per switch, start -> end: " + ", ".join(f"{sw} {v['start']}->{v['end']}" for sw, v in per.items())
    )
    stale = result["flows"]["stale"]
    out.append(f"  flows left behind (per-MN flows of MNs elsewhere, tunnels toward where nobody is): {len(stale)}")
    for x in stale[:20]:
        out.append(f"    {x['switch']} {x['fn']} {x['match']} -> {x['actions']}: {x['why']}")
    st = result["settle"]
    pending = "" if st["settled"] else f", NOT settled: {st['pending'][:5]}"
    out.append(f"  settle after the walk: {st['seconds']:.1f} s{pending}")
    ev = result["controller"]["events"]
    out.append(f"  controller: {result['controller']['messages_total']} signalling messages; notable events: "
               f"{ev or 'none'}; log {result['controller']['log']}")  # fmt: skip
    v = result["verdict"]
    out.append("")
    out += [f"  {'ok  ' if ok else 'FAIL'} {name}" for name, ok in v["checks"].items()]
    return "\n".join(out)
