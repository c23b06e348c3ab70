"""A fixed correspondent behind an access router with DRF and a co-located LMF (draft §5.2), and
an MN moving between an eMAG and a legacy MAG (§6), on the reference domain with ``FakeNet``.

cn1 (2001:db8:f::10) sits behind ar1; cn2 behind the legacy mag5 with the legacy lma.  mn1's
profile names elma1, so mag5 registers it there too, only without DAF.  Each test reads the
dispatcher's log and walks packets through the tables as they stand.
"""

from __future__ import annotations

import pytest
from fakeof import FakeNet, Trace, is_delivered, switches_crossed
from signals import Hold, Signals

from controller.dmf import PBCI_WAIT
from controller.drf import HBH
from controller.messages import Status
from openflow_rules.pipeline import Fn, Table, cookie

HOSTS = ("mn1", "mn2", "mn3", "cn1", "cn2")
CN1 = "2001:db8:f::10"
CN1_NET = "2001:db8:f::/64"
ADDR = {name: f"2001:db8:ffff::{n}" for name, n in (("emag1", 1), ("emag2", 2), ("emag4", 4), ("mag5", 5), ("ar1", 21))}
DEREG_EMAG1 = [("PBU", "emag1", "elma1"), ("PBA", "elma1", "emag1")]


def make(build_domain, doc: dict, method: str = "config", where: dict | None = None) -> tuple[FakeNet, Signals]:
    """The reference domain with ``lmf_discovery: method``; Hop-by-Hop packet-outs are walked as
    they come.  ``where``: hosts attached elsewhere than the domain file says."""
    doc["lmf_discovery"] = method
    net = FakeNet(build_domain(doc))
    net.walk_packet_outs = True
    for host in HOSTS:
        net.attach(host, (where or {}).get(host))
    return net, Signals(net)


def at(net: FakeNet, t: float) -> None:
    net.now = t
    net.apply(net.ctl.tick(t))


def tunnels(net: FakeNet, switch: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(t["mn_id"], t["correspondent"]): (t["kind"], t["to"]) for t in net.ctl.drf(switch)["tunnels"]}


def hnp(net: FakeNet, mn: str) -> str:
    return str(net.hnp(mn))


def address(net: FakeNet, host: str) -> str:
    return CN1 if host == "cn1" else net.address(host)


def path(net: FakeNet, src: str, dst: str, hops: list[str], punted: bool = False) -> Trace:
    """``src`` sends to ``dst``: the packet crosses ``hops`` and is delivered on ``dst``'s port."""
    trace = net.send(src, address(net, dst))
    assert switches_crossed(trace) == hops, trace.describe()
    assert is_delivered(trace, *net.port_of(dst)), trace.describe()
    assert bool(trace.punts) == punted, trace.punts
    return trace


def expected_query(method: str, asker: str, owner: str) -> list[tuple[str, str, str]]:
    if method == "config":
        return [("PBQR", asker, owner), ("PBQA", owner, asker)]
    if method == "hbh":
        return [("PBQR", asker, HBH), ("PBQA", owner, asker)]
    if owner == "elma1":  # relay: every DRF of the reference domain asks elma1
        return [("PBQR", asker, "elma1"), ("PBQA", "elma1", asker)]
    return [("PBQR", asker, "elma1"), ("PBQR", "elma1", owner), ("PBQA", owner, "elma1"), ("PBQA", "elma1", asker)]


def no_elma(trace: Trace) -> bool:
    return not {"elma1", "elma3", "lma"} & set(switches_crossed(trace))


# ------------------------------------------------------------------ §5.2 fixed CN


def test_fixed_cn_direct_both_ways_and_across_a_handoff(build_domain, doc):
    fake, sig = make(build_domain, doc)
    path(fake, "mn1", "cn1", ["emag1", "c1", "elma1", "c1", "c2", "ar1"], punted=True)
    assert sig.take() == [("PBQR", "emag1", "ar1"), ("PBQA", "ar1", "emag1")]
    pbqr, pbqa = sig.last
    assert (pbqr.address, pbqa.seq, pbqa.status, pbqa.coa) == (CN1, pbqr.seq, Status.ACCEPTED, ADDR["ar1"])
    assert tunnels(fake, "emag1") == {("mn1", CN1_NET): ("direct", "ar1")}
    trace = path(fake, "mn1", "cn1", ["emag1", "c1", "c2", "ar1"])
    assert no_elma(trace) and trace.arrivals[1][2]["mpls"] == [fake.domain.switches["ar1"].label]
    # the reverse direction: ar1's DRF asks mn1's eLMA and tunnels straight to emag1
    path(fake, "cn1", "mn1", ["ar1", "c2", "c1", "elma1", "c1", "emag1"], punted=True)
    assert sig.take() == [("PBQR", "ar1", "elma1"), ("PBQA", "elma1", "ar1")]
    assert (sig.last[0].requester, sig.last[1].coa) == (ADDR["ar1"], ADDR["emag1"])
    assert tunnels(fake, "ar1") == {("cn1", hnp(fake, "mn1")): ("direct", "emag1")}
    assert no_elma(path(fake, "cn1", "mn1", ["ar1", "c2", "c1", "emag1"]))
    assert fake.ctl.counters["lmf_fixed_query"] == 1 and sig.take() == []
    # mn1 moves: emag1's PBCI re-points ar1, emag1's PBCA gives emag2 the way to cn1
    fake.move("mn1", "emag2")
    assert sig.take() == DEREG_EMAG1 + [
        ("PBU", "emag2", "elma1"), ("PBA", "elma1", "emag2"), ("PBCI", "emag2", "emag1"),
        ("PBCA", "emag1", "emag2"), ("PBCI", "emag1", "ar1"), ("PBCA", "ar1", "emag1"),
    ]  # fmt: skip
    pbca, pbci = sig.last[5], sig.last[6]
    assert pbca.correspondents == [{"prefix": CN1_NET, "coa": ADDR["ar1"]}]
    assert (pbci.mn_id, pbci.new_coa, sig.last[7].status) == ("mn1", ADDR["emag2"], Status.ACCEPTED)
    assert tunnels(fake, "ar1") == {("cn1", hnp(fake, "mn1")): ("direct", "emag2")}
    assert tunnels(fake, "emag2") == {("mn1", CN1_NET): ("direct", "ar1")}
    path(fake, "cn1", "mn1", ["ar1", "c2", "c1", "emag2"])
    path(fake, "mn1", "cn1", ["emag2", "c1", "c2", "ar1"])
    assert sig.take() == []


@pytest.mark.parametrize("method", ["config", "relay", "hbh"])
def test_every_method_locates_the_fixed_cn_and_the_ar_locates_mns(build_domain, doc, method):
    fake, sig = make(build_domain, doc, method)
    fake.send("mn1", CN1)
    assert sig.take() == expected_query(method, "emag1", "ar1")
    assert sig.last[-1].coa == ADDR["ar1"]
    if method == "hbh":  # the access router's LMF intercepts the packet addressed to cn1
        (walk,) = fake.packet_out_traces
        assert switches_crossed(walk) == ["emag1", "c1", "c2", "ar1"] and walk.outcome.kind == "controller"
    assert no_elma(path(fake, "mn1", "cn1", ["emag1", "c1", "c2", "ar1"]))
    for mn, owner, direct in (("mn1", "elma1", ["ar1", "c2", "c1", "emag1"]), ("mn2", "elma3", ["ar1", "c2", "emag4"])):
        fake.send("cn1", address(fake, mn))
        assert sig.take() == expected_query(method, "ar1", owner)
        assert no_elma(path(fake, "cn1", mn, direct))
    if method == "hbh":
        assert [switches_crossed(t) for t in fake.packet_out_traces[1:]] == [
            ["ar1", "c2", "c1", "elma1"], ["ar1", "c2", "elma3"]
        ]  # fmt: skip
        assert fake.ctl.counters["hbh_query_intercepted"] == 3
    assert sig.take() == []


def test_the_ar_falls_back_to_plain_routing_for_a_legacy_cn(build_domain, doc):
    fake, sig = make(build_domain, doc)
    legacy = ["ar1", "c2", "c1", "lma", "c1", "mag5"]
    path(fake, "cn1", "cn2", legacy, punted=True)
    assert sig.take() == [] and tunnels(fake, "ar1") == {("cn1", hnp(fake, "cn2")): ("fallback", None)}
    (flow,) = [f for f in fake.switch("ar1").flows(Table.UPLINK) if f.cookie >> 48 & 0xFF == Fn.DRF]
    assert flow.goto == Table.ROUTE and flow.actions == ()  # routed as usual, not tunnelled
    path(fake, "cn1", "cn2", legacy)
    path(fake, "cn2", "cn1", ["mag5", "c1", "lma", "c1", "c2", "ar1"])


@pytest.mark.parametrize("method", ["config", "relay", "hbh"])
def test_a_fixed_network_without_lmf_is_not_answered(build_domain, doc, method):
    doc["fixed_networks"][0]["lmf"] = False
    fake, sig = make(build_domain, doc, method)
    fake.send("mn1", CN1)
    timers = fake.domain.timers
    if method == "config":
        assert sig.take() == []
    elif method == "relay":
        assert sig.take() == [("PBQR", "emag1", "elma1"), ("PBQA", "elma1", "emag1")]
        assert sig.last[1].status == Status.NO_LOCATION
    else:  # ar1 looks at the packet, is not the LMF for cn1 and sends it on: it reaches cn1
        (walk, passed) = fake.packet_out_traces
        assert switches_crossed(walk) == ["emag1", "c1", "c2", "ar1"] and walk.outcome.kind == "controller"
        assert switches_crossed(passed) == ["ar1"] and is_delivered(passed, *fake.port_of("cn1"))
        for n in range(1, timers.query_retries + 2):
            at(fake, n * timers.query_timeout)
        assert sig.take() == [("PBQR", "emag1", HBH)] * (1 + timers.query_retries)
        assert fake.ctl.counters["hbh_query_forwarded"] == 1 + timers.query_retries
    assert tunnels(fake, "emag1") == {("mn1", CN1_NET): ("fallback", None)}
    path(fake, "mn1", "cn1", ["emag1", "c1", "elma1", "c1", "c2", "ar1"])


# ------------------------------------------------------------------ §6 eMAG <-> legacy MAG


def test_move_to_a_legacy_mag_withdraws_the_location(build_domain, doc):
    fake, sig = make(build_domain, doc)
    for a, b in (("mn1", "mn2"), ("mn2", "mn1"), ("cn1", "mn1"), ("mn1", "cn1")):
        fake.send(a, address(fake, b))
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("direct", "emag1")}
    assert tunnels(fake, "ar1") == {("cn1", hnp(fake, "mn1")): ("direct", "emag1")}
    sig.take()
    at(fake, 10.0)
    fake.move("mn1", "mag5")
    assert sig.take() == DEREG_EMAG1 + [("PBU", "mag5", "elma1"), ("PBA", "elma1", "mag5")]  # no PBCI
    assert fake.ctl.binding("mn1")["proxy_coa"] == ADDR["mag5"] and fake.ctl.binding("mn1")["lma"] == "elma1"
    assert fake.ctl.mags["mag5"].attachments["mn1"].daf is False
    # correspondents still tunnel to emag1, which hands the packets to elma1: nothing is lost
    path(fake, "mn2", "mn1", ["emag4", "c2", "c1", "emag1", "c1", "elma1", "c1", "mag5"])
    path(fake, "cn1", "mn1", ["ar1", "c2", "c1", "emag1", "c1", "elma1", "c1", "mag5"])
    at(fake, 10.0 + PBCI_WAIT - 0.01)
    assert sig.take() == []
    at(fake, 10.0 + PBCI_WAIT)
    assert sig.take() == [("PBCI", "emag1", "ar1"), ("PBCI", "emag1", "emag4"),
                          ("PBCA", "ar1", "emag1"), ("PBCA", "emag4", "emag1")]  # fmt: skip
    for pbci in sig.last[:2]:
        assert (pbci.mn_id, pbci.hnps, pbci.new_coa) == ("mn1", [hnp(fake, "mn1")], "")
    assert [m.status for m in sig.last[2:]] == [Status.ACCEPTED] * 2
    assert fake.ctl.counters["dmf_location_withdrawn"] == 2
    for switch in ("emag4", "ar1"):
        assert tunnels(fake, switch) == {}
        assert fake.switch(switch).flows(Table.UPLINK, cookie=cookie(Fn.DRF), mask=0xFFFF << 48) == []
        assert hnp(fake, "mn1") not in [e["prefix"] for e in fake.ctl.drf(switch)["location_cache"]]
    # PMIP via both anchors; asked again, elma1 names mag5, which is no DRF: fallback
    path(fake, "mn2", "mn1", ["emag4", "c2", "elma3", "c2", "c1", "elma1", "c1", "mag5"], punted=True)
    path(fake, "cn1", "mn1", ["ar1", "c2", "c1", "elma1", "c1", "mag5"], punted=True)
    assert sig.take() == [("PBQR", "emag4", "elma1"), ("PBQA", "elma1", "emag4"),
                          ("PBQR", "ar1", "elma1"), ("PBQA", "elma1", "ar1")]  # fmt: skip
    assert [(m.status, m.coa) for m in sig.last[1::2]] == [(Status.ACCEPTED, ADDR["mag5"])] * 2
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("fallback", None)}
    assert tunnels(fake, "ar1") == {("cn1", hnp(fake, "mn1")): ("fallback", None)}
    path(fake, "mn2", "mn1", ["emag4", "c2", "elma3", "c2", "c1", "elma1", "c1", "mag5"])
    path(fake, "mn1", "mn2", ["mag5", "c1", "elma1", "c1", "c2", "elma3", "c2", "emag4"])
    path(fake, "mn1", "cn1", ["mag5", "c1", "elma1", "c1", "c2", "ar1"])
    assert sig.take() == []


def test_move_from_a_legacy_mag_to_an_emag_gets_daf_back(build_domain, doc):
    doc["timers"]["fallback_retry"] = 5
    fake, sig = make(build_domain, doc, where={"mn1": "mag5"})
    at(fake, 1.0)
    path(fake, "mn2", "mn1", ["emag4", "c2", "elma3", "c2", "c1", "elma1", "c1", "mag5"], punted=True)
    assert sig.take() == [("PBQR", "emag4", "elma1"), ("PBQA", "elma1", "emag4")]
    assert sig.last[1].coa == ADDR["mag5"]
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("fallback", None)}
    at(fake, 2.0)
    fake.move("mn1", "emag2")
    # no p-eMAG tells the holders of mn1's location: emag2 does (the PBA lists emag4, which asked)
    assert sig.take() == [("PBU", "mag5", "elma1"), ("PBA", "elma1", "mag5"),
                          ("PBU", "emag2", "elma1"), ("PBA", "elma1", "emag2"),
                          ("PBCI", "emag2", "emag4"), ("PBCA", "emag4", "emag2")]  # fmt: skip
    assert sig.last[3].previous_coa == ADDR["mag5"] and sig.last[3].elma is True
    assert sig.last[4].new_coa == ADDR["emag2"]
    assert fake.ctl.mags["emag2"].attachments["mn1"].daf is True
    # emag4's fallback toward mn1 is a direct entry now, long before fallback_retry
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("direct", "emag2")}
    assert fake.ctl.counters["drf_fallback_repointed"] == 1
    assert fake.ctl.counters.get("rejected_unexpected_pbca", 0) == 0  # emag2 expected emag4's PBCA
    path(fake, "mn2", "mn1", ["emag4", "c2", "c1", "emag2"])
    path(fake, "mn1", "mn2", ["emag2", "c1", "elma1", "c1", "c2", "elma3", "c2", "emag4"], punted=True)
    assert sig.take() == [("PBQR", "emag2", "elma3"), ("PBQA", "elma3", "emag2")]
    path(fake, "mn1", "mn2", ["emag2", "c1", "c2", "emag4"])
    at(fake, 1.0 + doc["timers"]["fallback_retry"])
    assert fake.ctl.counters.get("drf_fallback_expired", 0) == 0
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("direct", "emag2")}
    assert sig.take() == []


def test_a_withdrawal_reaching_the_mns_new_emag_is_stale_and_keeps_local_delivery(build_domain, doc):
    """mn1 (emag1) and mn3 (emag2) talk; mn1 moves to emag2 but its PBCI to emag1 comes late (a
    slow registration): after PBCI_WAIT emag1 withdraws mn1's location from its correspondents,
    emag2 among them - which serves mn1 itself by then and goes on delivering locally."""
    fake, sig = make(build_domain, doc)
    for a, b in (("mn1", "mn3"), ("mn3", "mn1")):
        fake.send(a, address(fake, b))
    late = Hold(fake, "emag1", lambda m: m.TYPE == "PBCI" and m.src == "emag2")
    at(fake, 10.0)
    fake.move("mn1", "emag2")
    assert sig.take()[-1] == ("PBCI", "emag2", "emag1") and len(late.held) == 1
    assert tunnels(fake, "emag2") == {("mn3", hnp(fake, "mn1")): ("direct", "emag2")}
    at(fake, 10.0 + PBCI_WAIT)
    # emag2 sends its unanswered PBCI again (held back too); emag1 withdraws mn1's location
    assert sig.take() == [("PBCI", "emag1", "emag2"), ("PBCI", "emag2", "emag1"), ("PBCA", "emag2", "emag1")]
    assert (sig.last[0].new_coa, sig.last[2].status) == ("", Status.ACCEPTED) and len(late.held) == 2
    assert tunnels(fake, "emag2") == {("mn3", hnp(fake, "mn1")): ("direct", "emag2")}
    assert ("local", "emag2") in [(e["source"], e["switch"]) for e in fake.ctl.drf("emag2")["location_cache"]]
    path(fake, "mn3", "mn1", ["emag2"])
    late.release()  # emag1 redirects to emag2 and hands it mn1's correspondents after all
    assert sig.take() == [("PBCA", "emag1", "emag2"), ("PBCA", "emag1", "emag2")]  # the copy: answered again
    assert fake.ctl.counters["dmf_pbci_duplicate"] == 1
    path(fake, "mn1", "mn3", ["emag2"])
    path(fake, "mn3", "mn1", ["emag2"])
    assert sig.take() == []
