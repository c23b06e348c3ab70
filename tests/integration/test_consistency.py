"""Issue 9 on real OVS + Mininet: the MN's anchor is the MN's, one-way traffic follows a move,
and an MN that leaves for good is withdrawn from every DRF that held its location.

mn3's profile names no LMA here: emag2 (its first MAG, whose LMA is elma1) chooses elma1 and the
policy store keeps that choice, so mn3 keeps elma1, its HNP and HoA on emag3 (elma3's area).
"""

from __future__ import annotations

import json
import subprocess
import time

from integration.helpers import hnp, iperf_server, settled, tunnels
from mininet_topos.harness import UdpStream, dump_flows, wait_for
from openflow_rules.pipeline import Fn, split_cookie

DOMAIN = {
    "mobile_nodes": [
        {"id": "mn1", "mac": "02:00:00:00:01:01", "attach": "emag1", "lma": "elma1"},
        {"id": "mn2", "mac": "02:00:00:00:01:02", "attach": "emag4", "lma": "elma3"},
        {"id": "mn3", "mac": "02:00:00:00:01:03", "attach": "emag2"},
        {"id": "cn2", "mac": "02:00:00:00:01:05", "attach": "mag5", "hnp": "2001:db8:1:5::/64"},
    ]
}


def binding(live, mn: str) -> dict:
    return live.rest(f"/epmip/v1/bindings/{mn}")[1]


def wait_bound_at(live, mn: str, switch: str) -> None:
    coa = str(live.domain.switches[switch].address)
    wait_for(lambda: binding(live, mn).get("proxy_coa") == coa, 5, f"{mn}'s binding at {switch}")


def drf_flows_toward(switch: str, prefix: str) -> list[dict]:
    return [
        f for f in dump_flows(switch) if split_cookie(f["cookie"])[0] == Fn.DRF and f["match"].get("ipv6_dst") == prefix
    ]


def test_an_mn_moved_into_another_elmas_area_keeps_its_hoa_and_tcp_session(live):
    before = binding(live, "mn3")
    assert before["lma"] == "elma1"
    hoa = live.addresses["mn3"]
    srv = live.net.host("mn2")
    iperf_server(srv, 5203)
    client = live.net.host("mn3").popen(
        ["timeout", "30", "iperf3", "-6", "-c", live.addresses["mn2"], "-p", "5203", "-t", "5", "-J", "-b", "20M"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    live.net.move("mn3", "emag3")  # emag3's own LMA is elma3
    wait_bound_at(live, "mn3", "emag3")
    out, _ = client.communicate(timeout=40)
    result = json.loads(out[out.index("{") :])
    assert "error" not in result, result.get("error")
    assert result["end"]["sum_received"]["bytes"] > 1_000_000
    after = binding(live, "mn3")
    assert (after["lma"], after["hnps"]) == ("elma1", before["hnps"])
    assert live.net.global_address("mn3") == hoa
    # the route to mn2 is optimized from emag3 (§4.3 handoff: PBCI/PBCA, not a new registration)
    wait_for(lambda: tunnels(live, "emag3").get(("mn3", hnp(live, "mn2"))) == ("direct", "emag4"), 3,
             "mn3's tunnel from emag3 to emag4")  # fmt: skip


def test_traffic_only_toward_the_mn_follows_its_move(live, tmp_path):
    """Only mn2 -> mn1: emag4 (mn2's eMAG) learnt mn1's location from elma1, so it is a holder and
    mn1's p-eMAG tells it where mn1 went - its DRF entry then tunnels to the new eMAG."""
    assert live.net.attachment("mn1") == "emag1"
    mn1_hnp = hnp(live, "mn1")
    stream = UdpStream(live.net, "mn2", "mn1", rate=200, seconds=5, tmp=tmp_path, one_way=True)
    time.sleep(1.5)
    live.net.move("mn1", "emag2")
    wait_bound_at(live, "mn1", "emag2")
    records = stream.finish()
    got = {r[0] for r in records["mn1"]}
    assert stream.count - len(got) <= 30, stream.count - len(got)  # the link-layer gap only
    assert max(got) >= stream.count - 20
    wait_for(lambda: tunnels(live, "emag4").get(("mn2", mn1_hnp)) == ("direct", "emag2"), 3,
             "emag4's entry toward mn1 to point at emag2")  # fmt: skip
    (flow,) = drf_flows_toward("emag4", mn1_hnp)
    assert f"set_field:{live.domain.switches['emag2'].label}->mpls_label" in flow["actions"]
    # the entry carries the traffic now, and mn1's old eMAG sees none of it
    wait_for(lambda: not live.rest("/epmip/v1/switches/emag1/drf")[1]["redirects"], 5, "the redirect to go")
    old = settled(lambda: sum(f["n_packets"] for f in dump_flows("emag1")))
    count0 = settled(lambda: drf_flows_toward("emag4", mn1_hnp)[0]["n_packets"])
    (tmp_path / "second").mkdir(exist_ok=True)
    second = UdpStream(live.net, "mn2", "mn1", rate=200, seconds=1, tmp=tmp_path / "second", one_way=True)
    assert len(second.finish()["mn1"]) >= second.count - 2
    assert settled(lambda: drf_flows_toward("emag4", mn1_hnp)[0]["n_packets"]) - count0 >= second.count - 2
    assert settled(lambda: sum(f["n_packets"] for f in dump_flows("emag1"))) == old


def test_an_mn_that_leaves_for_good_is_withdrawn_from_every_holder(live):
    mn1_hnp = hnp(live, "mn1")
    where = live.net.attachment("mn1")
    assert tunnels(live, "emag4").get(("mn2", mn1_hnp)) == ("direct", where)
    live.net.leave("mn1")
    t0 = time.monotonic()
    # within one retransmission period (PBCI_WAIT, 1 s, plus the 0.2 s timer tick)
    wait_for(lambda: ("mn2", mn1_hnp) not in tunnels(live, "emag4"), 2.5, "emag4 to drop its entry toward mn1")
    assert time.monotonic() - t0 < 2.5
    assert drf_flows_toward("emag4", mn1_hnp) == []
    cache = live.rest("/epmip/v1/switches/emag4/drf")[1]["location_cache"]
    assert not [e for e in cache if e["prefix"] == mn1_hnp]
