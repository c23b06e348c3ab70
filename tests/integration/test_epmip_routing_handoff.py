"""End to end on real OVS + Mininet: DRF optimized routing (§4.2) and DMF handoff (§4.3).

The tests run in file order on one network: first optimized routing from a fresh controller
(message counts are exact), then handoffs of mn1 between eMAGs under traffic.
"""

from __future__ import annotations

import json
import subprocess
import time

from integration.helpers import anchor_packets, fn_packets, hnp, iperf_server, settled, tunnels
from mininet_topos.harness import UdpStream, dump_flows, wait_for
from openflow_rules.pipeline import Fn


def test_first_packets_via_the_lmas_then_a_direct_tunnel_both_ways(live):
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["messages"].get("PBQR", 0) == 0
    assert live.net.ping6("mn1", live.addresses["mn2"], count=5, interval=0.1) == (5, 5)  # none lost
    # eMAG1 located MN2 at eMAG4 and eMAG4 located MN1 at eMAG1: one query per direction
    assert tunnels(live, "emag1")[("mn1", hnp(live, "mn2"))] == ("direct", "emag4")
    assert tunnels(live, "emag4")[("mn2", hnp(live, "mn1"))] == ("direct", "emag1")
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["messages"]["PBQR"] == 2 and stats["messages"]["PBQA"] == 2
    # from now on the eLMAs see nothing of this conversation
    lmas_before = {s: settled(lambda s=s: anchor_packets(s)) for s in ("elma1", "elma3")}
    drf_before = fn_packets("emag1", Fn.DRF)
    assert live.net.ping6("mn1", live.addresses["mn2"], count=20, interval=0.05) == (20, 20)
    wait_for(lambda: fn_packets("emag1", Fn.DRF) - drf_before >= 20, 3, "emag1's DRF tunnel to count")
    wait_for(lambda: fn_packets("emag4", Fn.DRF) >= 20, 3, "emag4's DRF tunnel to count the replies")
    assert {s: settled(lambda s=s: anchor_packets(s)) for s in ("elma1", "elma3")} == lmas_before
    _, stats = live.rest("/epmip/v1/stats")
    # no further query, but for a DRF asking again before the location's lifetime (the binding
    # lifetime, 4 s in these tests) runs out
    assert stats["messages"]["PBQR"] == 2 + stats["events"].get("drf_refresh_query", 0)


def test_same_elma_a21_is_optimized_too_and_legacy_cn_falls_back(live):
    assert live.net.ping6("mn1", live.addresses["mn3"], count=3, interval=0.1) == (3, 3)
    assert tunnels(live, "emag1")[("mn1", hnp(live, "mn3"))] == ("direct", "emag2")
    # CN2 is registered with a legacy LMA (§5.1): no eLMA to ask, PMIP routing stays
    assert live.net.ping6("mn1", live.addresses["cn2"], count=3, interval=0.1) == (3, 3)
    assert tunnels(live, "emag1")[("mn1", hnp(live, "cn2"))] == ("fallback", None)


def test_handoff_keeps_a_udp_stream_in_both_directions_and_the_route_optimized(live, tmp_path):
    old, new = live.net.attachment("mn1"), "emag2"
    assert old == "emag1"
    hoa = live.addresses["mn1"]
    stream = UdpStream(live.net, "mn1", "mn2", rate=200, seconds=4, tmp=tmp_path)
    time.sleep(1.5)
    live.net.move("mn1", new)
    wait_for(lambda: live.rest("/epmip/v1/bindings/mn1")[1]["proxy_coa"] == str(live.domain.switches[new].address),
             5, "mn1's binding to move to emag2")  # fmt: skip
    records = stream.finish()
    got_mn1 = {r[0] for r in records["mn1"]}  # downlink mn2 -> mn1
    got_mn2 = {r[0] for r in records["mn2"]}  # uplink mn1 -> mn2
    lost_down = stream.count - len(got_mn1)
    lost_up = stream.count - len(got_mn2)
    # the stream kept flowing: packets after the move arrived both ways
    assert max(got_mn1) >= stream.count - 50 and max(got_mn2) >= stream.count - 50
    # only the link-layer gap of the move may cost packets (~30-60 ms at 200 packets/s)
    assert lost_down <= 30 and lost_up <= 30, (lost_down, lost_up)
    assert live.net.global_address("mn1") == hoa  # the HoA is unchanged
    # n-eMAG has MN1's direct tunnel to eMAG4; eMAG4 points at n-eMAG
    assert tunnels(live, new)[("mn1", hnp(live, "mn2"))] == ("direct", "emag4")
    assert tunnels(live, "emag4")[("mn2", hnp(live, "mn1"))] == ("direct", new)
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["messages"]["PBCI"] >= 2 and stats["messages"]["PBCA"] >= 2


def test_after_the_handoff_the_path_crosses_neither_an_lma_nor_the_old_emag(live):
    wait_for(lambda: not live.rest("/epmip/v1/switches/emag1/drf")[1]["redirects"], 5,
             "p-eMAG's redirect to be removed")  # fmt: skip
    before = {s: settled(lambda s=s: anchor_packets(s)) for s in ("elma1", "elma3")}
    old_emag = settled(lambda: sum(f["n_packets"] for f in dump_flows("emag1")))
    assert live.net.ping6("mn1", live.addresses["mn2"], count=20, interval=0.05) == (20, 20)
    assert {s: settled(lambda s=s: anchor_packets(s)) for s in ("elma1", "elma3")} == before
    assert settled(lambda: sum(f["n_packets"] for f in dump_flows("emag1"))) == old_emag
    # no stale MN1 flow on p-eMAG
    mn1 = list(live.domain.mobile_nodes).index("mn1")
    stale = [
        f for f in dump_flows("emag1")
        if (f["cookie"] >> 48) & 0xFF in (Fn.ACCESS, Fn.REDIRECT) and f["cookie"] & 0xFFFFFFFFFFFF == mn1
        or (f["cookie"] >> 48) & 0xFF == Fn.DRF and (f["cookie"] >> 24) & 0xFFFFFF == mn1
    ]  # fmt: skip
    assert stale == []


def test_tcp_session_survives_handoffs_back_and_to_a_third_emag(live):
    srv = live.net.host("mn2")
    iperf_server(srv, 5202)
    client = live.net.host("mn1").popen(
        ["timeout", "30", "iperf3", "-6", "-c", live.addresses["mn2"], "-p", "5202", "-t", "6", "-J", "-b", "20M"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    live.net.move("mn1", "emag1")  # back
    time.sleep(1.5)
    live.net.move("mn1", "emag3")  # a third eMAG (mn1's profile keeps it on eLMA1)
    out, _ = client.communicate(timeout=40)
    result = json.loads(out[out.index("{") :])
    assert "error" not in result, result.get("error")
    assert result["end"]["sum_received"]["bytes"] > 1_000_000
    assert live.rest("/epmip/v1/bindings/mn1")[1]["proxy_coa"] == str(live.domain.switches["emag3"].address)
    assert tunnels(live, "emag4")[("mn2", hnp(live, "mn1"))] == ("direct", "emag3")


def test_two_mns_moving_at_once_keep_their_session(live):
    """RFC 6279 §3.2's race for localized routing: both ends move at the same time."""
    assert live.net.attachment("mn1") == "emag3" and live.net.attachment("mn2") == "emag4"
    live.net.move("mn1", "emag1")
    live.net.move("mn2", "emag3")
    for mn, sw in (("mn1", "emag1"), ("mn2", "emag3")):
        wait_for(lambda mn=mn, sw=sw: live.rest(f"/epmip/v1/bindings/{mn}")[1]["proxy_coa"]
                 == str(live.domain.switches[sw].address), 5, f"{mn}'s binding at {sw}")  # fmt: skip
    assert live.net.ping6("mn1", live.addresses["mn2"], count=10, interval=0.05)[1] >= 9
    wait_for(lambda: tunnels(live, "emag1").get(("mn1", hnp(live, "mn2"))) == ("direct", "emag3"), 3,
             "mn1's tunnel to point at emag3")  # fmt: skip
    wait_for(lambda: tunnels(live, "emag3").get(("mn2", hnp(live, "mn1"))) == ("direct", "emag1"), 3,
             "mn2's tunnel to point at emag1")  # fmt: skip
    before = {s: settled(lambda s=s: anchor_packets(s)) for s in ("elma1", "elma3")}
    assert live.net.ping6("mn2", live.addresses["mn1"], count=10, interval=0.05) == (10, 10)
    assert {s: settled(lambda s=s: anchor_packets(s)) for s in ("elma1", "elma3")} == before
