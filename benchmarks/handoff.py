"""``epmip bench handoff``: loss and interruption of a two-way UDP stream across repeated handoffs.

Starts Open vSwitch (if needed), the controller and the Mininet network of the domain (default
``examples/domain.yaml``), waits for mn1 and mn2 to have addresses, and runs a paced UDP stream
both ways between them (``benchmarks/udpstream.py``: a receiver on each host, a sender each way).
Then, N times: it waits ``--interval`` seconds, moves mn1's access link to the other eMAG under the
same eLMA (emag1 <-> emag2 in the reference domain), waits until ``GET /epmip/v1/bindings/mn1``
shows the new Proxy-CoA, and lets the controller's signalling settle.  Finally it stops the stream
and reports per move: packets lost each way, the interruption each way, the time until the new
binding was seen over REST, the controller's ``handoff_reroute`` latency (if it reports one) and
the signalling messages sent; with the median and p95 over the moves.

Times: everything is ``time.time()`` (see ``benchmarks/analysis.py``).  The records go to a temporary
directory that is removed at the end; the controller's log is kept under ``var/logs/``.

Needs root (Open vSwitch, Mininet); like ``epmip demo`` it deletes leftover bridges named like the
domain's switches, so it cannot run next to another run of the same domain.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import analysis
from benchmarks.udpstream import RECORD, load_records
from controller.config import Domain, load_domain
from controller.topology import Topology

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOMAIN = ROOT / "examples" / "domain.yaml"
UDPSTREAM = Path(__file__).resolve().with_name("udpstream.py")
HOST_PYTHON = "/usr/bin/python3"  # the hosts run the system Python: udpstream.py is stdlib only
PORT = 47011
REROUTE = "handoff_reroute"
ADDRESS_TIMEOUT = 30.0
WARMUP_TIMEOUT = 10.0  # until both directions deliver
BINDING_TIMEOUT = 10.0  # until the new Proxy-CoA shows over REST
BINDING_POLL = 0.02
SETTLE_TIMEOUT = 2.0  # after the binding: until the signalling has gone quiet
SETTLE_QUIET = 0.3
DRAIN = 0.5  # between stopping the senders and stopping the receivers


class BenchError(RuntimeError):
    pass


def run(
    moves: int = 5,
    rate: float = 100.0,
    json_out: bool = False,
    config: str | None = None,
    duration_per_move: float = 2.0,
    size: int = 64,
    mobile: str = "mn1",
    peer: str = "mn2",
    log_dir: str | None = None,
    mode: str | None = None,
    buffer: str | None = None,
) -> int:
    """Run the benchmark and print the report (a table, or one JSON object with ``json_out``).
    Returns the exit status."""
    from mininet_topos.harness import HarnessError

    progress = sys.stderr if json_out else sys.stdout

    def say(text: str, end: str = "\n") -> None:
        print(text, end=end, file=progress, flush=True)

    domain_file = str(config or DEFAULT_DOMAIN)
    if mode or buffer:
        domain_file = _override(domain_file, mode=mode, handoff_buffer=buffer)

    def work() -> dict:
        _check_args(moves, rate, duration_per_move, size)
        return _run(domain_file, moves, rate, duration_per_move, size, mobile, peer, log_dir, say)

    result, status = run_guarded("handoff", "handoff", json_out, (BenchError, HarnessError), work)
    if status is not None:
        return status
    if json_out:
        print_json(result)
    else:
        print(report(result), flush=True)
    return 0


def _check_args(moves: int, rate: float, interval: float, size: int) -> None:
    if moves < 1:
        raise BenchError(f"--moves {moves}: need at least one move")
    if not 0 < rate <= 20000:
        raise BenchError(f"--rate {rate}: expected packets per second in (0, 20000]")
    if interval <= 0:
        raise BenchError(f"--interval {interval}: expected seconds > 0")
    if not 20 <= size <= 1400:
        raise BenchError(f"size {size}: expected 20..1400 bytes")


def pick_emags(domain: Domain, mobile: str) -> tuple[str, str]:
    """The mobile node's first switch and another eMAG under the same (e)LMA (its handoff target)."""
    mn = domain.mobile_nodes.get(mobile)
    if mn is None:
        raise BenchError(f"{mobile!r} is not a mobile node of domain {domain.name!r}")
    home = domain.switches[mn.attach]
    if domain.deployment == "lma_daf":  # §7: legacy MAGs with no LMA of their own; the nearest other MAG
        topo = Topology(domain)
        others = [s.name for s in domain.switches.values() if s.is_mag and s.name != home.name]
        if not others:
            raise BenchError(f"no other MAG in domain {domain.name!r}: nowhere to move {mobile}")
        return home.name, min(others, key=lambda n: (len(topo.path(home.name, n)), n))
    siblings = [
        s.name for s in domain.switches.values()
        if s.is_mag and s.name != home.name and s.lma is not None and s.lma == home.lma
    ]  # fmt: skip
    siblings.sort(key=lambda n: (domain.switches[n].role != "emag", n))
    if not siblings:
        raise BenchError(f"no other (e)MAG shares {home.name}'s LMA {home.lma!r}: nowhere to move {mobile}")
    return home.name, siblings[0]


def _run(
    domain_file, moves, rate, interval, size, mobile, peer, log_dir, say,
    keep_records: bool = False, count_switches: Sequence[str] = (), emags: tuple[str, str] | None = None,
) -> dict:  # fmt: skip
    """One run; the result dict ``report`` prints.  Optional extras for ``epmip bench compare``:
    ``keep_records`` adds ``records`` (the raw udpstream records: ``received`` and ``sent``, by
    host); ``count_switches`` adds ``switch_packets`` (packets that entered each named switch, its
    table-0 counters, from before the senders started until after they stopped); ``emags`` the two
    (e)MAGs to move between (default: ``pick_emags``).  A domain file with a ``controllers:``
    section runs one epmip-manager per instance (``SplitControllers``)."""
    from mininet_topos.harness import Controller, Network, SplitControllers, ensure_ovs, settled_table_packets

    if os.geteuid() != 0:
        raise BenchError("needs root (Open vSwitch and Mininet)")
    if not os.access(HOST_PYTHON, os.X_OK):
        raise BenchError(f"{HOST_PYTHON} is missing: the Mininet hosts run udpstream.py with it")
    domain = load_domain(domain_file)
    if peer not in domain.mobile_nodes:
        raise BenchError(f"{peer!r} is not a mobile node of domain {domain.name!r}")
    home, other = emags or pick_emags(domain, mobile)
    logs = Path(log_dir) if log_dir else (
        ROOT / "var" / "logs" / datetime.now().strftime("bench-handoff-%Y%m%d-%H%M%S")
    )  # fmt: skip
    # Senders need a bounded count: enough for the slowest run that does not fail.
    budget = WARMUP_TIMEOUT + moves * (interval + BINDING_TIMEOUT + SETTLE_TIMEOUT + 1) + interval + 5
    count = math.ceil(rate * budget)
    say(f"handoff benchmark: {moves} moves of {mobile} ({home} <-> {other}), UDP {size} bytes at "
        f"{rate:g} packets/s each way {mobile} <-> {peer}, {interval:g} s between moves")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="epmip-bench-"))
    procs: list[subprocess.Popen] = []
    ctl: Any = None  # a Controller or SplitControllers: the same interface
    net = None
    try:
        say("starting Open vSwitch, the controller and Mininet ...")
        ensure_ovs()
        if domain.controllers:
            split = SplitControllers(domain_file, logs)
            ctl = split
            split.start()
            net = Network(domain_file, next(iter(split.instances.values())))
            net.start_split(split.instances)
        else:
            single = Controller(domain_file, logs)
            ctl = single
            single.start()
            net = Network(domain_file, single)
            net.start()
        addrs = net.wait_addresses([mobile, peer], timeout=ADDRESS_TIMEOUT)
        say(f"addresses: {mobile} {addrs[mobile]}, {peer} {addrs[peer]}; starting the stream")

        def start(host: str, name: str, args: list[str]) -> subprocess.Popen:
            out = open(tmp / f"{name}.out", "w")  # noqa: SIM115 - the child owns it
            try:
                p = net.host(host).popen([HOST_PYTHON, str(UDPSTREAM), *args], stdout=out,
                                         stderr=subprocess.STDOUT)  # fmt: skip
            finally:
                out.close()
            procs.append(p)
            return p

        receivers = {
            h: start(h, f"{h}.recv", ["recv", "--port", str(PORT), "--out", str(tmp / f"{h}.recv"),
                                      "--duration", f"{budget + 30:.0f}"])
            for h in (mobile, peer)
        }  # fmt: skip
        _wait(lambda: all(_listening(net.host(h), PORT) for h in receivers), 5, "the receivers to listen",
              procs=receivers)  # fmt: skip
        counted = settled_table_packets(count_switches) if count_switches else {}
        senders = {
            h: start(h, f"{h}.send", ["send", "--dst", addrs[dst], "--port", str(PORT), "--rate", f"{rate:g}",
                                      "--count", str(count), "--size", str(size),
                                      "--log", str(tmp / f"{h}.sent")])
            for h, dst in ((mobile, peer), (peer, mobile))
        }  # fmt: skip
        _wait(lambda: all(_size(tmp / f"{h}.recv") >= RECORD.size for h in receivers), WARMUP_TIMEOUT,
              f"packets to arrive both ways between {mobile} and {peer}",
              procs={**receivers, **senders})  # fmt: skip
        t_ready = time.time()

        at = home
        log: list[dict] = []
        for k in range(1, moves + 1):
            time.sleep(interval)
            target = other if at == home else home
            say(f"move {k}/{moves}: {at} -> {target} ...", end="")
            before = _stats(ctl)
            if domain.handoff_buffer == "predictive":
                # IEEE 802.21-style "link going down" before the move (RFC 5949 predictive mode)
                status, body = ctl.post(f"/epmip/v1/mobility/{mobile}/link-going-down", {})
                if status != 202:
                    raise BenchError(f"link-going-down hint refused: {status} {body}")
            t_move = time.time()
            net.move(mobile, target)
            t_attached = time.time()
            t_bound = _wait_binding(ctl, mobile, domain.switches[target].address)
            after = _settle(ctl, before)
            entry = {"move": k, "from": at, "to": target, "t_move": t_move, "t_attached": t_attached,
                     "t_bound": t_bound, "before": before, "after": after}  # fmt: skip
            log.append(entry)
            sig = analysis.message_deltas(before, after)
            reg = "not re-registered in time"
            if t_bound is not None:
                reg = f"re-registered {1000 * (t_bound - t_move):.0f} ms after the move began"
            say(f" {reg}, {sum(sig.values())} signalling messages")
            at = target
        time.sleep(interval)  # the last move's window gets its second half too

        say("stopping the stream ...")
        t_stop = time.time()
        sender_summary = {h: _finish(p, tmp / f"{h}.send.out") for h, p in senders.items()}
        time.sleep(DRAIN)
        receiver_summary = {h: _finish(p, tmp / f"{h}.recv.out") for h, p in receivers.items()}
        final = _stats(ctl)
        if count_switches:
            now = settled_table_packets(count_switches)
            counted = {name: now[name] - counted[name] for name in count_switches}
        records = {h: load_records(str(tmp / f"{h}.recv")) for h in receivers}
        sent_logs = {h: load_records(str(tmp / f"{h}.sent")) for h in senders}
    finally:
        _stop_procs(procs)
        try:
            if net is not None:
                net.stop()
        finally:
            if ctl is not None:
                ctl.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    move_times = [e["t_move"] for e in log]

    def direction(src: str, dst: str) -> analysis.StreamFigures:
        sent = sent_logs[src]
        n = max(len(sent), (sender_summary[src] or {}).get("sent", 0))
        return analysis.analyze_stream(records[dst], n, move_times, send_times={s: t for s, t, _ in sent},
                                       rate=rate, start=t_ready, end=t_stop)  # fmt: skip

    down = direction(peer, mobile)
    up = direction(mobile, peer)
    up_seen = {r[0] for r in records[peer]}
    up_lost_times = [t for seq, t, _ in sent_logs[mobile] if seq not in up_seen]
    rows = []
    for e, dw, uw in zip(log, down.windows, up.windows, strict=True):
        reroute = analysis.latency_delta(e["before"], e["after"], REROUTE)
        names = set(e["after"].get("latency") or {})
        rows.append({
            "move": e["move"], "from": e["from"], "to": e["to"], "t_move": e["t_move"],
            "move_ms": 1000 * (e["t_attached"] - e["t_move"]),
            "registration_ms": None if e["t_bound"] is None else 1000 * (e["t_bound"] - e["t_move"]),
            "reroute_ms": reroute["ms"], "reroute_samples": reroute["count"],
            "downlink_lost": dw.lost, "downlink_interruption_ms": _ms(dw.interruption_s),
            "uplink_lost": uw.lost, "uplink_interruption_ms": _ms(uw.interruption_s),
            # sent while the host's link was being moved: never reached any switch (L2 gap)
            "uplink_l2_gap_lost": sum(1 for t in up_lost_times if e["t_move"] <= t <= e["t_attached"]),
            "signalling": analysis.message_deltas(e["before"], e["after"]),
            "signalling_bytes": e["after"].get("signalling_bytes", 0) - e["before"].get("signalling_bytes", 0),
            "latency": {n: analysis.latency_delta(e["before"], e["after"], n) for n in sorted(names)},
            "downlink": dw.as_dict(), "uplink": uw.as_dict(),
        })  # fmt: skip
        rows[-1]["signalling_total"] = sum(rows[-1]["signalling"].values())
    errors = {k: v for k, v in (final.get("events") or {}).items() if "error" in k and v}
    errors.update({f"signalling:{k}": v for k, v in (final.get("signalling_errors") or {}).items() if v})
    result = {
        "benchmark": "handoff",
        "config": domain_file,
        "mode": domain.mode, "handoff_buffer": domain.handoff_buffer,
        "mobile_node": mobile, "correspondent": peer, "emags": [home, other],
        "controllers": max(len(domain.controllers), 1),
        "rate_pps": rate, "size_bytes": size, "interval_s": interval, "moves_requested": moves,
        "clock": "time.time() (CLOCK_REALTIME), shared by all Mininet hosts",
        "moves": rows,
        "summary": analysis.summarize(rows, SUMMARY_KEYS),
        "overall": {
            "downlink": {k: v for k, v in down.as_dict().items() if k != "moves"},
            "uplink": {k: v for k, v in up.as_dict().items() if k != "moves"},
            "senders": sender_summary, "receivers": receiver_summary,
        },
        "controller": {"latency": final.get("latency", {}), "errors": errors, "log": str(ctl.log_path)},
    }  # fmt: skip
    if count_switches:
        result["switch_packets"] = counted
    if keep_records:
        result["records"] = {"received": records, "sent": sent_logs}
    return result


SUMMARY_KEYS = (
    "registration_ms", "reroute_ms", "downlink_lost", "downlink_interruption_ms", "uplink_lost",
    "uplink_l2_gap_lost", "uplink_interruption_ms", "signalling_total",
)  # fmt: skip


def report(result: dict) -> str:
    """The text report of a result dict (what ``run`` prints without --json)."""
    rows: list[list | None] = []
    for r in result["moves"]:
        rows.append([
            r["move"], f"{r['from']} -> {r['to']}",
            analysis.fmt(r["registration_ms"]), analysis.fmt(r["reroute_ms"]),
            r["downlink_lost"], analysis.fmt(r["downlink_interruption_ms"]),
            r["uplink_lost"], r.get("uplink_l2_gap_lost", "-"), analysis.fmt(r["uplink_interruption_ms"]),
            r["signalling_total"], ", ".join(f"{k} {v}" for k, v in r["signalling"].items()) or "-",
        ])  # fmt: skip
    rows.append(None)
    for stat in ("median", "p95"):
        s = {k: v[stat] for k, v in result["summary"].items()}
        rows.append([
            stat, "", analysis.fmt(s["registration_ms"]), analysis.fmt(s["reroute_ms"]),
            analysis.fmt(s["downlink_lost"], 1 if stat == "median" else 0),
            analysis.fmt(s["downlink_interruption_ms"]),
            analysis.fmt(s["uplink_lost"], 1 if stat == "median" else 0),
            analysis.fmt(s["uplink_l2_gap_lost"], 1 if stat == "median" else 0),
            analysis.fmt(s["uplink_interruption_ms"]),
            analysis.fmt(s["signalling_total"], 1 if stat == "median" else 0), "",
        ])  # fmt: skip
    header = ["move", "handoff", "reg ms", "reroute ms", "down lost", "down gap ms", "up lost", "of which L2 gap",
              "up gap ms", "msgs", "signalling messages"]  # fmt: skip
    mn, cn, rate = result["mobile_node"], result["correspondent"], result["rate_pps"]
    move_ms = analysis.median(r.get("move_ms") for r in result["moves"])
    out = [
        "",
        f"handoff benchmark: {len(result['moves'])} moves of {mn} between {' and '.join(result['emags'])}; "
        f"UDP {result['size_bytes']}-byte packets at {rate:g} packets/s each way ({mn} <-> {cn}); "
        f"{result['interval_s']:g} s between moves; mode {result.get('mode')}, "
        f"handoff buffer {result.get('handoff_buffer')}",
        "",
        analysis.text_table(header, rows, align="llrrrrrrrrl", indent="  "),
        "",
        f"  reg ms: from the start of the move (old link cut) until GET /epmip/v1/bindings/{mn} showed the "
        f"new Proxy-CoA (polled every {BINDING_POLL * 1000:.0f} ms); the move itself (ovs-vsctl del-port, "
        f"add-port) took {analysis.fmt(move_ms)} ms (median)",
        f"  reroute ms: the controller's {REROUTE} latency (attach at the new eMAG until the correspondent's "
        "eMAG re-pointed); n/a if not reported or not separable from the aggregate",
        f"  down = {cn} -> {mn}, up = {mn} -> {cn}; lost: packets sent in the move's window (midpoint to "
        "midpoint between moves) never received",
        "  of which L2 gap: uplink packets the host sent while its link was being moved (they never reach a switch)",
        f"  gap ms: the longest time without an arrival in the window ({1000 / rate:.1f} ms, one packet "
        "interval, when nothing is lost); p95 by nearest rank (the maximum for fewer than 20 moves)",
    ]
    for name in ("downlink", "uplink"):
        o = result["overall"][name]
        pct = "n/a" if o["loss_ratio"] is None else f"{100 * o['loss_ratio']:.2f} %"
        out.append(f"  overall {name}: {o['lost']} of {o['sent']} packets lost ({pct}), "
                   f"{o['reordered']} reordered, {o['duplicates']} duplicates")  # fmt: skip
    lat = result["controller"]["latency"].get(REROUTE)
    if lat:
        med, top = analysis.fmt(lat.get("median_ms"), 1), analysis.fmt(lat.get("max_ms"), 1)
        out.append(f"  controller {REROUTE} over the run: {lat.get('count')} samples, "
                   f"median {med} ms, max {top} ms")  # fmt: skip
    else:
        out.append(f"  controller {REROUTE}: n/a (this controller does not report it)")
    if result["controller"]["errors"]:
        out.append(f"  CONTROLLER ERRORS: {result['controller']['errors']}")
    out.append(f"  controller log: {result['controller']['log']}")
    return "\n".join(out)


# --------------------------------------------------------------------------- helpers


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _listening(host, port: int) -> bool:
    return f":{port}" in host.cmd(f"ss -Hnul 'sport = :{port}'")


def _wait(predicate, timeout: float, what: str, procs: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for name, p in (procs or {}).items():
            if p.poll() is not None:
                raise BenchError(f"udpstream on {name} exited with {p.returncode} while waiting for {what}")
        time.sleep(0.05)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")


def _get(ctl, path: str) -> dict:
    try:
        status, body = ctl.get(path)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BenchError(f"GET {path} failed ({exc}); controller log tail:\n{ctl.tail()}") from exc
    return body if status == 200 else {}


def _stats(ctl) -> dict:
    return _get(ctl, "/epmip/v1/stats")


def _wait_binding(ctl, mobile: str, coa: ipaddress.IPv6Address) -> float | None:
    """The time the binding of ``mobile`` was first seen pointing at ``coa`` (None: not in time)."""
    deadline = time.monotonic() + BINDING_TIMEOUT
    while time.monotonic() < deadline:
        got = _get(ctl, f"/epmip/v1/bindings/{mobile}").get("proxy_coa")
        try:
            if got and ipaddress.IPv6Address(got) == coa:
                return time.time()
        except ValueError:
            pass
        time.sleep(BINDING_POLL)
    return None


def _settle(ctl, before: dict) -> dict:
    """Stats once the signalling of the move is over: no new message for SETTLE_QUIET s and, if the
    controller reports handoff_reroute, a new sample of it; at most SETTLE_TIMEOUT s."""
    reroute_known = REROUTE in (before.get("latency") or {})
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last_total, last_change = None, time.monotonic()
    while True:
        st = _stats(ctl)
        now = time.monotonic()
        total = sum((st.get("messages") or {}).values())
        if total != last_total:
            last_total, last_change = total, now
        rerouted = not reroute_known or analysis.latency_delta(before, st, REROUTE)["count"] > 0
        if (rerouted and now - last_change >= SETTLE_QUIET) or now >= deadline:
            return st
        time.sleep(0.05)


def _finish(p: subprocess.Popen, out: Path, timeout: float = 3.0) -> dict | None:
    """SIGTERM a udpstream process, wait for it, return its JSON summary line."""
    if p.poll() is None:
        p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(2)
    try:
        lines = out.read_text(errors="replace").strip().splitlines()
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def _stop_procs(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(2)


def run_guarded(
    command: str, label: str, json_out: bool, errors: tuple[type[Exception], ...], work: Callable[[], Any]
) -> tuple[Any, int | None]:
    """Run ``work`` as every ``epmip bench`` run on Mininet runs: with --json, stdout goes to stderr
    meanwhile; SIGTERM ends it through the ``finally`` blocks; an error of ``errors`` is reported
    (with --json also as a JSON object naming ``label``) with exit status 1, Ctrl-C with 130.
    Returns (the result, None), or (None, the exit status)."""
    try:
        with _stdout_to_stderr(json_out), _sigterm_exits():
            return work(), None
    except errors as exc:
        print(f"epmip bench {command}: error: {exc}", file=sys.stderr)
        if json_out:
            print(json.dumps({"benchmark": label, "error": str(exc)}), flush=True)
        return None, 1
    except KeyboardInterrupt:
        print(f"epmip bench {command}: interrupted (everything it started was stopped)", file=sys.stderr)
        return None, 130


def print_json(result: Any) -> None:
    """A run's result as the one JSON object on stdout (--json)."""
    print(json.dumps(analysis.json_ready(result), allow_nan=False), flush=True)


@contextlib.contextmanager
def _stdout_to_stderr(active: bool):
    """With --json, anything written to stdout during the run (by us or a child) goes to stderr, so
    that stdout carries only the JSON object."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _sigterm_exits():
    """SIGTERM ends the run through the ``finally`` blocks (stopping hosts, network, controller)."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _override(domain_file: str, **fields) -> str:
    """A copy of the domain file with top-level fields changed (kept next to the logs)."""
    import yaml

    doc = yaml.safe_load(Path(domain_file).read_text())
    doc.update({k: v for k, v in fields.items() if v})
    out = Path(tempfile.mkdtemp(prefix="epmip-bench-domain-")) / "domain.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(out)
