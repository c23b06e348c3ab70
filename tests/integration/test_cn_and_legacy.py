"""End to end, §4.4.1 configuration method: CNs that are not registered with an eLMA (§5.1), fixed
CNs behind an access router with DRF (§5.2), handoff between an eMAG and a legacy MAG (§6).

Module order matters: it starts from a fresh controller and moves mn1 emag1 -> emag2 -> mag5 ->
emag2.
"""

from __future__ import annotations

import time

from integration.helpers import anchor_packets, fn_packets, hnp, settled, tunnels
from mininet_topos.harness import UdpStream, wait_for
from openflow_rules.pipeline import Fn

DOMAIN = {"lmf_discovery": "config"}
CN1 = "2001:db8:f::10"


def coa_of(live, mn: str) -> str:
    return live.rest(f"/epmip/v1/bindings/{mn}")[1]["proxy_coa"]


def address_of(live, switch: str) -> str:
    return str(live.domain.switches[switch].address)


def test_441_configuration_locates_mn2_with_one_query(live):
    assert live.net.ping6("mn1", live.addresses["mn2"], count=3, interval=0.1) == (3, 3)
    _, msgs = live.rest("/epmip/v1/messages?limit=100")
    queries = [(m["type"], m["src"], m["dst"]) for m in msgs["messages"] if m["type"] in ("PBQR", "PBQA")]
    # one query each way, each to the eLMA the configuration names; emag1's (for the request) and
    # emag4's (for the reply) punts come from two switches, so their order is not fixed
    assert sorted(queries[:4]) == sorted([("PBQR", "emag1", "elma3"), ("PBQA", "elma3", "emag1"),
                                          ("PBQR", "emag4", "elma1"), ("PBQA", "elma1", "emag4")])  # fmt: skip
    assert tunnels(live, "emag1")[("mn1", hnp(live, "mn2"))] == ("direct", "emag4")


def test_51_cn_on_a_legacy_lma_keeps_pmip_routing_and_its_session(live):
    """§5.1: CN2's prefix belongs to a legacy LMA: no eLMA to ask, no message, PMIP via eLMA1."""
    _, s0 = live.rest("/epmip/v1/stats")
    assert live.net.ping6("mn1", live.addresses["cn2"], count=3, interval=0.1) == (3, 3)
    _, s1 = live.rest("/epmip/v1/stats")
    assert s1["messages"].get("PBQR", 0) == s0["messages"].get("PBQR", 0)  # fast: nothing asked
    assert tunnels(live, "emag1")[("mn1", hnp(live, "cn2"))] == ("fallback", None)
    before = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("lma"))
    assert live.net.ping6("mn1", live.addresses["cn2"], count=10, interval=0.05) == (10, 10)
    after = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("lma"))
    assert after[0] - before[0] >= 10 and after[1] - before[1] >= 10  # MN1 -> eLMA1 -> LMA -> CN2


def test_52_fixed_cn_gets_a_direct_tunnel_both_ways(live):
    """§5.2: the access router's LMF answers with its own address; its DRF locates MN1."""
    assert live.net.ping6("mn1", CN1, count=3, interval=0.1) == (3, 3)
    assert tunnels(live, "emag1")[("mn1", "2001:db8:f::/64")] == ("direct", "ar1")
    assert tunnels(live, "ar1")[("cn1", hnp(live, "mn1"))] == ("direct", "emag1")
    before = settled(lambda: anchor_packets("elma1"))
    ar_before = settled(lambda: fn_packets("ar1", Fn.DRF))
    assert live.net.ping6("mn1", CN1, count=10, interval=0.05) == (10, 10)
    assert settled(lambda: anchor_packets("elma1")) == before  # no eLMA on the way, either way
    assert settled(lambda: fn_packets("ar1", Fn.DRF)) - ar_before >= 10  # replies: AR's direct tunnel


def test_52_fixed_cn_route_follows_the_mn_across_a_handoff(live, tmp_path):
    stream = UdpStream(live.net, "mn1", "cn1", rate=200, seconds=3, tmp=tmp_path)
    time.sleep(1.0)
    live.net.move("mn1", "emag2")
    wait_for(lambda: coa_of(live, "mn1") == address_of(live, "emag2"), 5, "mn1's binding at emag2")
    records = stream.finish()
    lost_down, _ = stream.figures(records["mn1"])
    lost_up, _ = stream.figures(records["cn1"])
    assert lost_down <= 30 and lost_up <= 30, (lost_down, lost_up)  # the link-layer gap only
    assert tunnels(live, "ar1")[("cn1", hnp(live, "mn1"))] == ("direct", "emag2")  # PBCI reached the AR
    assert tunnels(live, "emag2")[("mn1", "2001:db8:f::/64")] == ("direct", "ar1")
    before = settled(lambda: anchor_packets("elma1"))
    assert live.net.ping6("cn1", live.addresses["mn1"], count=10, interval=0.05) == (10, 10)
    assert settled(lambda: anchor_packets("elma1")) == before


def test_6_emag_to_legacy_mag_falls_back_to_pmip_without_stale_tunnels(live, tmp_path):
    """§6: mn1 moves from eMAG2 to the legacy MAG5; MAG5 registers it with eLMA1; correspondents'
    eMAGs forget the direct route (p-eMAG withdraws it), the stream keeps going via the eLMAs."""
    assert live.net.ping6("mn2", live.addresses["mn1"], count=3, interval=0.1) == (3, 3)
    assert tunnels(live, "emag4")[("mn2", hnp(live, "mn1"))] == ("direct", "emag2")
    stream = UdpStream(live.net, "mn1", "mn2", rate=200, seconds=4, tmp=tmp_path)
    time.sleep(1.0)
    live.net.move("mn1", "mag5")
    wait_for(lambda: coa_of(live, "mn1") == address_of(live, "mag5"), 5, "mn1's binding at mag5")
    assert live.rest("/epmip/v1/bindings/mn1")[1]["lma"] == "elma1"
    # after PBCI_WAIT the old eMAG withdraws the location: no direct tunnel toward emag2 is left
    wait_for(lambda: tunnels(live, "emag4").get(("mn2", hnp(live, "mn1")), ("", None))[1] != "emag2", 5,
             "emag4 to drop its tunnel toward emag2")  # fmt: skip
    records = stream.finish()
    assert stream.figures(records["mn1"])[0] <= 30 and stream.figures(records["mn2"])[0] <= 30
    # the path is PMIP through both eLMAs now
    before = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))
    assert live.net.ping6("mn2", live.addresses["mn1"], count=10, interval=0.05) == (10, 10)
    after = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))
    assert after[0] - before[0] >= 10 and after[1] - before[1] >= 10
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["events"]["dmf_location_withdrawn"] >= 1


def test_6_legacy_mag_to_emag_registers_with_daf_and_the_session_continues(live, tmp_path):
    stream = UdpStream(live.net, "mn1", "mn2", rate=200, seconds=3, tmp=tmp_path)
    time.sleep(1.0)
    live.net.move("mn1", "emag2")
    wait_for(lambda: coa_of(live, "mn1") == address_of(live, "emag2"), 5, "mn1's binding at emag2")
    records = stream.finish()
    assert stream.figures(records["mn1"])[0] <= 30 and stream.figures(records["mn2"])[0] <= 30
    _, sw = live.rest("/epmip/v1/switches")
    emag2 = next(s for s in sw["switches"] if s["name"] == "emag2")
    assert next(a for a in emag2["attached"] if a["mn_id"] == "mn1")["daf"] is True
    assert live.net.ping6("mn1", live.addresses["mn2"], count=5, interval=0.1) == (5, 5)
    wait_for(lambda: tunnels(live, "emag2").get(("mn1", hnp(live, "mn2"))) == ("direct", "emag4"), 5,
             "mn1's direct tunnel from its new eMAG")  # fmt: skip
