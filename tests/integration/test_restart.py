"""State that survives a restart, end to end (issue 10, part 3): real epmip-manager, OVS, Mininet.

With three MNs attached, UDP streams running on the optimized (eMAG-eMAG) paths and a TCP session
open, the controller is killed (SIGKILL) and started again with the same store - SQLite and a
real redis-server.  Afterwards: the bindings and HoAs are the same, the direct tunnels are back,
no flow was flushed (every flow is still there and its packet counter never went back), the UDP
loss is bounded by the restart gap and the TCP session went on.  A switch that loses its
controller connection and gets it back is resynced the same way, without a restart (pointed
elsewhere and back, or its TCP connection killed; ``ovs-vsctl del-controller`` is not used: Open
vSwitch itself flushes a bridge's flows when its last controller is deleted).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from integration.conftest import LOG_ROOT, write_domain
from integration.helpers import (
    anchor_packets,
    assert_no_controller_errors,
    hnp,
    iperf_server,
    settled,
    show_log_tail,
    tunnels,
)
from mininet_topos.harness import Controller, Network, RedisServer, UdpStream, dump_flows, ensure_ovs, wait_for

GEN_BIT = 1 << 55
WATCHED = ("emag1", "emag2", "emag4", "elma1", "elma3", "c1", "c2")
RATE = 100  # packets/s each way per stream
SECONDS = 16


class World:
    def __init__(self, ctl: Controller, net: Network, domain_file: str, logs: Path) -> None:
        self.ctl, self.net, self.domain_file, self.logs = ctl, net, domain_file, logs
        self.domain = net.domain
        self.addresses: dict[str, str] = {}

    def rest(self, path: str):
        return self.ctl.get(path)


@pytest.fixture
def world(request, tmp_path):
    kind = getattr(request, "param", "sqlite")
    redis = None
    if kind == "redis":
        redis = RedisServer(tmp_path / "redis")
        store = {"kind": "redis", "url": redis.url, "prefix": "it"}
    else:
        store = {"kind": "sqlite", "path": str(tmp_path / "state" / "epmip.db")}
    # lifetimes longer than a restart (the MNs' addresses live as long as their RA said)
    domain_file = write_domain(tmp_path, {"store": store}, binding_lifetime=30, min_delay_before_bce_delete=1.5)
    ensure_ovs()
    logs = LOG_ROOT / f"test_restart_{kind}"
    ctl = Controller(domain_file, logs)
    ctl.start()
    net = None
    w = None
    try:
        net = Network(domain_file, ctl)
        net.start()
        w = World(ctl, net, domain_file, logs)
        wait_for(lambda: all_connected(w), 20, "every switch to connect")
        w.addresses = net.wait_addresses(["mn1", "mn2", "mn3"], timeout=30)
        yield w
        _, stats = w.ctl.get("/epmip/v1/stats")
        assert_no_controller_errors(stats, w.ctl)
    finally:
        try:
            if net is not None:
                net.stop()
        finally:
            (w.ctl if w is not None else ctl).stop()
            if redis is not None:
                redis.stop()
            if request.session.testsfailed and w is not None:
                show_log_tail(w.ctl, 80)


def flows(switches=WATCHED) -> dict[tuple, int]:
    """(switch, table, priority, match, cookie without the generation bit) -> n_packets."""
    out = {}
    for sw in switches:
        for f in dump_flows(sw):
            key = (sw, f["table"], f["priority"], tuple(sorted(f["match"].items())), f["cookie"] & ~GEN_BIT)
            out[key] = f["n_packets"]
    return out


def generations(switch: str) -> set[int]:
    return {bool(f["cookie"] & GEN_BIT) for f in dump_flows(switch) if f["cookie"]}


def all_connected(w: World) -> bool:
    status, body = w.rest("/epmip/v1/switches")
    return status == 200 and all(s["connected"] for s in body["switches"])


def optimize(w: World) -> None:
    """Direct tunnels for the pairs the streams use (one query each way, §4.2)."""
    for a, b in (("mn1", "mn2"), ("mn3", "mn1"), ("mn3", "mn2")):
        assert w.net.ping6(a, w.addresses[b], count=3, interval=0.1)[1] >= 2
    wait_for(lambda: tunnels(w, "emag1").get(("mn1", hnp(w, "mn2"))) == ("direct", "emag4"), 5, "mn1's tunnel")
    wait_for(lambda: tunnels(w, "emag2").get(("mn3", hnp(w, "mn1"))) == ("direct", "emag1"), 5, "mn3's tunnel")


def start_tcp(w: World, seconds: int):
    iperf_server(w.net.host("mn2"), 5211)
    return w.net.host("mn3").popen(
        ["timeout", str(seconds + 30), "iperf3", "-6", "-c", w.addresses["mn2"], "-p", "5211", "-t", str(seconds),
         "-b", "4M", "-i", "1", "-J"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def tcp_result(client) -> dict:
    out, _ = client.communicate(timeout=90)
    return json.loads(out[out.index("{") :])


def check_no_flush(before: dict, after: dict) -> None:
    """Every flow is still there (same table, priority, match, cookie) and none has fewer packets:
    replaced in place, never deleted and re-added."""
    missing = sorted(set(before) - set(after))
    assert not missing, f"flows gone: {missing[:5]}"
    reset = [(k, before[k], after[k]) for k in before if after[k] < before[k]]
    assert not reset, f"counters went back: {reset[:5]}"


def check_streams(stream: UdpStream, records: dict, gap: float, what: str) -> dict:
    figures = {}
    for host, recs in records.items():
        lost, longest_ms = stream.figures(recs)
        figures[host] = (lost, longest_ms)
        # bounded by the restart gap (the data plane does not depend on the controller, so in
        # practice nothing is lost); and the stream ran to its end
        assert lost <= RATE * gap, f"{what} to {host}: lost {lost} in a {gap:.1f} s gap"
        assert max(r[0] for r in recs) >= stream.count - RATE, f"{what} to {host} stopped"
    return figures


def state(w: World) -> tuple:
    _, bindings = w.rest("/epmip/v1/bindings")
    b = sorted((x["mn_id"], tuple(x["hnps"]), x["proxy_coa"], x["lma"], x["state"]) for x in bindings["bindings"])
    return b, {mn: w.net.global_address(mn) for mn in ("mn1", "mn2", "mn3")}


@pytest.mark.parametrize("world", ["sqlite", "redis"], indirect=True)
def test_sigkill_and_restart_keeps_bindings_paths_flows_and_sessions(world, tmp_path):
    w = world
    optimize(w)
    before_state = state(w)
    tunnels_before = {sw: tunnels(w, sw) for sw in ("emag1", "emag2", "emag4")}
    s1 = UdpStream(w.net, "mn1", "mn2", rate=RATE, seconds=SECONDS, tmp=_dir(tmp_path / "s1"), port=9000)
    s2 = UdpStream(w.net, "mn3", "mn1", rate=RATE, seconds=SECONDS, tmp=_dir(tmp_path / "s2"), port=9001,
                   one_way=True)  # fmt: skip
    tcp = start_tcp(w, SECONDS)
    time.sleep(3.0)
    lmas_before = {s: anchor_packets(s) for s in ("elma1", "elma3")}
    flows_before = flows()

    killed_at = time.monotonic()
    w.ctl.kill()
    time.sleep(1.0)
    w.ctl = Controller(w.domain_file, w.logs / "restarted", of_port=w.ctl.of_port, rest_port=w.ctl.rest_port,
                       keep_state=True)  # fmt: skip
    w.ctl.start()
    wait_for(lambda: all_connected(w), 20, "every switch to connect to the restarted controller")
    gap = time.monotonic() - killed_at

    # the state is back: bindings (same HNPs, CoAs, LMAs), HoAs, the direct tunnels
    assert state(w) == before_state
    assert {sw: tunnels(w, sw) for sw in ("emag1", "emag2", "emag4")} == tunnels_before
    _, stats = w.rest("/epmip/v1/stats")
    assert stats["events"]["store_restored"] > 0
    assert stats["events"].get("detached_while_away", 0) == 0
    # no flow was flushed: each is there with its counter carried on, in place
    flows_after = flows()
    check_no_flush(flows_before, flows_after)
    assert set(flows_after) == set(flows_before), sorted(set(flows_after) ^ set(flows_before))[:5]

    r1, r2 = s1.finish(), s2.finish()
    flows_end = flows()
    check_no_flush(flows_after, flows_end)
    # the flows carrying the streams kept counting after the restart
    moved = [k for k in flows_after if flows_end[k] - flows_after[k] >= RATE]
    assert [k for k in moved if k[0] == "emag1"] and [k for k in moved if k[0] == "emag4"]
    # ... on the optimized path: the eLMAs saw (almost) nothing of the streams
    lmas_after = {s: settled(lambda s=s: anchor_packets(s)) for s in ("elma1", "elma3")}
    assert all(lmas_after[s] - lmas_before[s] < RATE for s in lmas_before), (lmas_before, lmas_after)
    figures = check_streams(s1, r1, gap, "mn1<->mn2") | {"mn1 from mn3": check_streams(s2, r2, gap, "mn3->mn1")["mn1"]}
    result = tcp_result(tcp)
    assert "error" not in result, result.get("error")
    intervals = result["intervals"]
    assert len(intervals) >= SECONDS - 1 and all(i["sum"]["bytes"] > 0 for i in intervals), [
        i["sum"]["bytes"] for i in intervals]  # fmt: skip
    print(f"\nrestart gap {gap:.2f} s; UDP (lost, longest gap ms): {figures}; "
          f"TCP received {result['end']['sum_received']['bytes']} bytes")  # fmt: skip
    # and the restarted controller goes on managing: a refresh comes, the paths stay
    assert state(w) == before_state


@pytest.mark.parametrize("how", ["retarget", "kill-connection"])
def test_a_switch_that_reconnects_is_resynced_without_a_flush(world, tmp_path, how):
    w = world
    optimize(w)
    before_state = state(w)
    s1 = UdpStream(w.net, "mn1", "mn2", rate=RATE, seconds=8, tmp=_dir(tmp_path / "s1"), port=9000)
    time.sleep(2.0)
    _, stats = w.rest("/epmip/v1/stats")
    ups = stats["events"]["switch_up"]
    gen_before = generations("emag1")
    flows_before = flows()
    t0 = time.monotonic()
    target = f"tcp:127.0.0.1:{w.ctl.of_port}"
    if how == "retarget":
        # the switch is pointed elsewhere for a second and back: its connection goes, then comes
        # back.  (Not del-controller: Open vSwitch 3.1 flushes a bridge's flows itself when its
        # last controller is deleted - measured - so no controller could keep them.)
        subprocess.run(["ovs-vsctl", "set-controller", "emag1", "tcp:127.0.0.1:9"], check=True)
        wait_for(lambda: not next(s for s in w.rest("/epmip/v1/switches")[1]["switches"] if s["name"] == "emag1")[
            "connected"], 10, "the controller to see emag1 go")  # fmt: skip
        time.sleep(1.0)
        subprocess.run(["ovs-vsctl", "set-controller", "emag1", target], check=True)
    else:  # the switches' TCP connections to the controller are torn down under them (a reset)
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(w.ctl.of_port)], check=True,
                       capture_output=True)  # fmt: skip
    wait_for(lambda: w.rest("/epmip/v1/stats")[1]["events"]["switch_up"] > ups, 15, "emag1 to connect again")
    wait_for(lambda: all_connected(w), 15, "every switch connected")
    gap = time.monotonic() - t0
    time.sleep(1.0)
    flows_after = flows()
    check_no_flush(flows_before, flows_after)
    assert set(flows_after) == set(flows_before)
    assert generations("emag1") != gen_before  # resynced: every flow re-sent in the other generation
    records = s1.finish()
    flows_end = flows()
    check_no_flush(flows_after, flows_end)
    assert [k for k in flows_after if k[0] == "emag1" and flows_end[k] - flows_after[k] >= RATE]
    check_streams(s1, records, gap, "mn1<->mn2")
    assert state(w) == before_state


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
