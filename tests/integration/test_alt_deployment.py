"""End to end, the draft's §7 deployment (examples/domain-alt.yaml): legacy MAGs, eLMA(DRF)s,
independent LMFs, a border gateway and anycast routers with DRF, on real OVS and Mininet.

Module order matters: mn1 moves mag1 -> mag2 (eLMA2, the nearest to mag2) -> mag1 (eLMA1 again).
"""

from __future__ import annotations

import json
import subprocess
import time

from integration.helpers import fn_packets, hnp, iperf_server, settled, tunnels
from mininet_topos.harness import UdpStream, dump_flows, wait_for
from openflow_rules.pipeline import Fn, Table

EXAMPLE_FILE = "domain-alt.yaml"
CNO, CNA, CNB = "2001:db8:e::10", "2001:db8:f1::10", "2001:db8:f2::10"


def binding(live, mn: str) -> dict:
    return live.rest(f"/epmip/v1/bindings/{mn}")[1]


def all_packets(switch: str) -> int:
    """Packets a switch forwarded (labels, UPLINK, routes); not the Neighbour Solicitations its
    hosts send for the router, which table 0 punts."""
    return sum(f["n_packets"] for f in dump_flows(switch) if f["table"] != Table.CLASSIFY)


def messages(live) -> list[tuple[str, str, str]]:
    _, body = live.rest("/epmip/v1/messages?limit=1000")
    return [(m["type"], m["src"], m["dst"]) for m in body["messages"]]


def lmf_location(live, mn: str) -> str | None:
    _, switches = live.rest("/epmip/v1/switches")
    for sw in switches["switches"] if isinstance(switches, dict) else switches:
        for loc in sw.get("locations", []):
            if loc["mn_id"] == mn:
                return loc["coa"]
    return None


def address_of(live, switch: str) -> str:
    return str(live.domain.switches[switch].address)


def test_72_legacy_mags_register_with_elmas_that_update_the_lmfs(live):
    assert {m: binding(live, m)["lma"] for m in ("mn1", "mn2", "mn3")} == {
        "mn1": "elma1", "mn2": "elma3", "mn3": "elma2",
    }  # fmt: skip
    assert binding(live, "mn1")["proxy_coa"] == address_of(live, "mag1")
    log = messages(live)
    assert ("LUR", "elma1", "lmf1") in log and ("LUA", "lmf1", "elma1") in log
    assert ("LUR", "elma3", "lmf2") in log and ("LUA", "lmf2", "elma3") in log
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["messages"]["LUR"] >= 3
    assert stats["signalling_errors"].get("unauthenticated", 0) == 0  # every message carried its HMAC
    assert lmf_location(live, "mn1") == address_of(live, "elma1")
    assert lmf_location(live, "mn2") == address_of(live, "elma3")


def test_72_elma1_tunnels_straight_to_elma3_and_no_third_anchor_is_crossed(live):
    assert live.net.ping6("mn1", live.addresses["mn2"], count=3, interval=0.1)[1] >= 2
    assert tunnels(live, "elma1")[("mn1", hnp(live, "mn2"))] == ("direct", "elma3")
    assert tunnels(live, "elma3")[("mn2", hnp(live, "mn1"))] == ("direct", "elma1")
    others = ("elma2", "r1", "r2", "bg")
    before = {s: settled(lambda s=s: all_packets(s)) for s in others}
    drf = {s: settled(lambda s=s: fn_packets(s, Fn.DRF)) for s in ("elma1", "elma3")}
    assert live.net.ping6("mn1", live.addresses["mn2"], count=20, interval=0.05) == (20, 20)
    assert {s: settled(lambda s=s: all_packets(s)) for s in others} == before
    after = {s: settled(lambda s=s: fn_packets(s, Fn.DRF)) for s in ("elma1", "elma3")}
    assert after["elma1"] - drf["elma1"] >= 20 and after["elma3"] - drf["elma3"] >= 20  # requests, replies


def test_72_handoff_to_the_nearest_elma_keeps_hnp_and_udp_stream(live, tmp_path):
    hoa, mn1_hnp = live.addresses["mn1"], hnp(live, "mn1")
    stream = UdpStream(live.net, "mn1", "mn2", rate=200, seconds=4, tmp=tmp_path)
    time.sleep(1.0)
    live.net.move("mn1", "mag2")
    wait_for(lambda: binding(live, "mn1").get("proxy_coa") == address_of(live, "mag2"), 5, "mn1 bound via mag2")
    records = stream.finish()
    lost_down, _ = stream.figures(records["mn1"])
    lost_up, _ = stream.figures(records["mn2"])
    assert lost_down <= 30 and lost_up <= 30, (lost_down, lost_up)  # the link-layer gap only
    b = binding(live, "mn1")
    assert (b["lma"], b["hnps"][0]) == ("elma2", mn1_hnp)  # the best eLMA for mag2, the same HNP
    assert live.net.global_address("mn1") == hoa
    log = messages(live)
    assert ("PBCI", "elma2", "elma1") in log and ("PBCI", "elma1", "elma3") in log
    wait_for(lambda: lmf_location(live, "mn1") == address_of(live, "elma2"), 3, "the LMF to hold elma2")
    assert tunnels(live, "elma3")[("mn2", mn1_hnp)] == ("direct", "elma2")
    assert tunnels(live, "elma2")[("mn1", hnp(live, "mn2"))] == ("direct", "elma3")
    wait_for(lambda: not live.rest("/epmip/v1/switches/elma1/drf")[1]["redirects"], 5, "elma1's redirect to go")
    old = settled(lambda: all_packets("elma1"))
    assert live.net.ping6("mn2", hoa, count=10, interval=0.05) == (10, 10)
    assert settled(lambda: all_packets("elma1")) == old  # the old eLMA is off the path


def test_72_tcp_session_survives_a_handoff_back_to_elma1(live):
    srv = live.net.host("mn2")
    iperf_server(srv, 5207)
    client = live.net.host("mn1").popen(
        ["timeout", "30", "iperf3", "-6", "-c", live.addresses["mn2"], "-p", "5207", "-t", "5", "-J", "-b", "20M"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    live.net.move("mn1", "mag1")
    out, _ = client.communicate(timeout=40)
    result = json.loads(out[out.index("{") :])
    assert "error" not in result, result.get("error")
    assert result["end"]["sum_received"]["bytes"] > 1_000_000
    assert binding(live, "mn1")["lma"] == "elma1"
    assert tunnels(live, "elma3")[("mn2", hnp(live, "mn1"))] == ("direct", "elma1")


def test_73_outside_cn_is_reached_through_the_border_gateway(live):
    assert live.net.ping6("mn1", CNO, count=3, interval=0.1)[1] >= 2
    assert tunnels(live, "elma1")[("mn1", "2001:db8:e::/64")] == ("direct", "bg")
    # bg's direction toward mn1: its own entry for the CN, made when a reply misses there and its
    # query is answered (under load that can come after the pings above: a few more replies to
    # learn from), or - when traffic from inside the area toward mn1 reached bg earlier (anycast,
    # during the handoffs above) - its transit entry (any source -> mn1's HNP), which the replies
    # then match without a miss.  Either is a direct tunnel to mn1's eLMA.
    transit = live.rest("/epmip/v1/switches/bg/drf")[1]["transit"]
    mn1_hnp = hnp(live, "mn1")

    def toward_mn1() -> tuple[str, str | None] | None:
        got = tunnels(live, "bg")
        return got.get(("cno", mn1_hnp)) or got.get((transit, mn1_hnp))

    deadline = time.monotonic() + 5.0
    while toward_mn1() is None and time.monotonic() < deadline:
        live.net.ping6("mn1", CNO, count=1, interval=0.1)
        time.sleep(0.2)
    assert toward_mn1() == ("direct", "elma1"), live.rest("/epmip/v1/switches/bg/drf")[1]
    before = settled(lambda: fn_packets("bg", Fn.DRF)), settled(lambda: fn_packets("elma1", Fn.DRF))
    others = {s: settled(lambda s=s: all_packets(s)) for s in ("elma2", "elma3", "r1", "r2")}
    assert live.net.ping6("mn1", CNO, count=10, interval=0.05) == (10, 10)
    after = settled(lambda: fn_packets("bg", Fn.DRF)), settled(lambda: fn_packets("elma1", Fn.DRF))
    assert after[0] - before[0] >= 10 and after[1] - before[1] >= 10  # MN1 <-> MAG <-> eLMA1 <-> BG <-> CN
    assert {s: settled(lambda s=s: all_packets(s)) for s in others} == others


def test_73_fixed_cns_reach_the_mn_through_their_nearest_anycast_router(live):
    for cn in ("cna", "cnb"):
        assert live.net.ping6(cn, live.addresses["mn1"], count=3, interval=0.1)[1] >= 2
    assert tunnels(live, "r1")[("(transit)", hnp(live, "mn1"))] == ("direct", "elma1")
    assert tunnels(live, "r2")[("(transit)", hnp(live, "mn1"))] == ("direct", "elma1")
    for cn, near, far in (("cna", "r1", "r2"), ("cnb", "r2", "r1")):
        near0, far0 = settled(lambda n=near: fn_packets(n, Fn.DRF)), settled(lambda f=far: all_packets(f))
        assert live.net.ping6(cn, live.addresses["mn1"], count=10, interval=0.05) == (10, 10)
        assert settled(lambda n=near: fn_packets(n, Fn.DRF)) - near0 >= 10, cn  # through its nearest router
        assert settled(lambda f=far: all_packets(f)) == far0, cn  # and not the other one
