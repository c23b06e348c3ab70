"""Domain-wide consistency of mobility state (issue 9): every holder of an MN's location is kept
true whatever the traffic direction, departures and expiries are propagated, and lost or
duplicated signalling is survived."""

from __future__ import annotations

import pytest
from fakeof import FakeNet, switches_crossed
from signals import Signals

from controller.dmf import PBCI_WAIT
from openflow_rules.pipeline import Fn, split_cookie

MN1_HNP = "2001:db8:a:1::/64"


@pytest.fixture
def net(domain) -> FakeNet:
    fake = FakeNet(domain)
    for host in ("mn1", "mn2", "mn3", "cn1"):
        fake.attach(host)
    return fake


def drf_entries_toward(net: FakeNet, switch: str, prefix: str) -> list:
    """DRF flows on ``switch`` whose destination match is ``prefix``."""
    return [
        f for f in net.switch(switch).flows()
        if split_cookie(f.cookie)[0] == Fn.DRF and f.match.get("ipv6_dst") == prefix
    ]  # fmt: skip


def tunnel_label(flow) -> int | None:
    return next((a.value for a in flow.actions if getattr(a, "field", None) == "mpls_label"), None)


def test_one_way_traffic_cn_to_mn_follows_the_move(net):
    """Only mn2 -> mn1: emag4 asked elma1 for mn1, so elma1 names emag4 a holder in the PBA of
    mn1's handoff, and emag1 (p-eMAG) tells emag4 the new location."""
    net.send("mn2", net.address("mn1"))
    assert switches_crossed(net.send("mn2", net.address("mn1"))) == ["emag4", "c2", "c1", "emag1"]
    sig = Signals(net)
    net.move("mn1", "emag2")
    log = sig.take()
    assert ("PBCI", "emag1", "emag4") in log and ("PBCA", "emag4", "emag1") in log
    (entry,) = drf_entries_toward(net, "emag4", MN1_HNP)
    assert tunnel_label(entry) == net.domain.switches["emag2"].label
    trace = net.send("mn2", net.address("mn1"))
    assert switches_crossed(trace) == ["emag4", "c2", "c1", "emag2"] and trace.outcome.switch == "emag2"


def test_a_departure_withdraws_the_location_from_every_holder(net):
    """mn2 and cn1 (behind the access router) send to mn1 only; mn1 leaves for good.  Within
    PBCI_WAIT both holders drop their direct entries: nothing points at emag1 for mn1 any more."""
    for host in ("mn2", "cn1"):
        net.send(host, net.address("mn1"))
    assert drf_entries_toward(net, "emag4", MN1_HNP) and drf_entries_toward(net, "ar1", MN1_HNP)
    sig = Signals(net)
    net.detach("mn1")
    net.advance(PBCI_WAIT + 0.1)
    log = sig.take()
    assert {("PBCI", "emag1", "emag4"), ("PBCI", "emag1", "ar1")} <= set(log)
    assert all(m.new_coa == "" for m in sig.last if m.TYPE == "PBCI")
    for switch in ("emag4", "ar1"):
        assert drf_entries_toward(net, switch, MN1_HNP) == []
        assert not [e for e in net.ctl.drf(switch)["location_cache"] if e["prefix"] == MN1_HNP]


def test_a_binding_whose_refresh_is_never_answered_is_lost_and_withdrawn(net):
    net.send("mn2", net.address("mn1"))
    net.ctl.bus.faults = lambda msg: [] if msg.TYPE == "PBA" and msg.dst == "emag1" else [0.0]
    lifetime = net.domain.timers.binding_lifetime
    for _ in range(int(lifetime * 0.5 / 0.5) + 20):  # past the refresh and its back-off
        net.advance(0.5)
    assert net.ctl.counters["binding_lost"] == 1 and net.ctl.counters["binding_refresh_resent"] >= 2
    assert "mn1" not in net.ctl.mags["emag1"].attachments
    # emag1 still de-registered mn1 (only the answers are lost); not taken over within a second,
    # elma1 withdraws the location from whom it gave it to
    assert net.ctl.binding("mn1")["state"] == "deleting"
    assert net.ctl.counters["lmf_location_withdrawn"] == 1
    assert drf_entries_toward(net, "emag4", MN1_HNP) == []
    net.ctl.bus.faults = None
    for _ in range(int(lifetime / 0.5) + 4):
        net.advance(0.5)
    assert net.ctl.binding("mn1") is None


def test_a_lost_pbci_is_sent_again(net):
    net.send("mn1", net.address("mn2"))
    net.send("mn2", net.address("mn1"))
    lost: list = []

    def lose_first_pbci_to_emag1(m) -> list[float]:
        if m.TYPE == "PBCI" and m.dst == "emag1" and not lost:
            lost.append(m)
            return []
        return [0.0]

    net.ctl.bus.faults = lose_first_pbci_to_emag1
    net.move("mn1", "emag2")
    assert len(lost) == 1 and not net.ctl.drf("emag1")["redirects"]
    net.advance(0.6)  # PBCA_TIMEOUT
    assert net.ctl.counters["dmf_pbci_resent"] == 1
    assert switches_crossed(net.send("mn2", net.address("mn1"))) == ["emag4", "c2", "c1", "emag2"]
    assert switches_crossed(net.send("mn1", net.address("mn2"))) == ["emag2", "c1", "c2", "emag4"]


def test_duplicated_signalling_changes_nothing(domain):
    def run(dup: bool) -> tuple[list, list, dict]:
        fake = FakeNet(domain.__class__(**{f: getattr(domain, f) for f in domain.__dataclass_fields__}))
        if dup:
            fake.ctl.bus.faults = lambda m: [0.0, 0.0]
        for host in ("mn1", "mn2", "mn3"):
            fake.attach(host)
        fake.send("mn1", fake.address("mn2"))
        fake.send("mn2", fake.address("mn1"))
        fake.move("mn1", "emag2")
        fake.advance(4.0)
        flows = sorted(f.describe() for sw in ("emag1", "emag2", "emag4") for f in fake.switch(sw).flows())
        return flows, fake.ctl.bindings(), {s: fake.ctl.drf(s)["tunnels"] for s in ("emag2", "emag4")}

    assert run(True) == run(False)


def test_a_lost_deregistration_answer_is_asked_again(net):
    net.ctl.bus.faults = lambda m: [] if m.TYPE == "PBA" and m.dst == "emag2" else [0.0]
    net.detach("mn3")
    net.advance(1.1)
    assert net.ctl.counters["binding_refresh_resent"] == 0
    sent = [m for m in net.ctl.bus.log if m.type == "PBU" and m.src == "emag2"]
    assert len(sent) >= 3  # registration, de-registration, and its resend
    net.ctl.bus.faults = None
    net.advance(2.1)
    assert net.ctl.binding("mn3")["state"] == "deleting"
    assert net.ctl.mags["emag2"].mag.deregs_pending() == []


def test_a_location_in_use_is_asked_again_before_it_expires(net):
    net.send("mn2", net.address("mn1"))
    (loc,) = [e for e in net.ctl.drf("emag4")["location_cache"] if e["prefix"] == MN1_HNP]
    assert loc["source"] == "pbqa" and loc["expires_at"] is not None
    sig = Signals(net)
    net.advance((loc["expires_at"] - net.now) * 0.85)
    assert ("PBQR", "emag4", "elma1") in sig.take()
    (again,) = [e for e in net.ctl.drf("emag4")["location_cache"] if e["prefix"] == MN1_HNP]
    assert again["expires_at"] > loc["expires_at"] and drf_entries_toward(net, "emag4", MN1_HNP)


def test_a_cached_location_first_used_after_its_refresh_point_is_asked_again(net):
    """emag4 caches mn1's location for mn2, mn2 leaves (the location stays cached, unused), and
    comes back after the refresh point: using the entry again asks the LMF, before it expires."""
    net.send("mn2", net.address("mn1"))
    (loc,) = [e for e in net.ctl.drf("emag4")["location_cache"] if e["prefix"] == MN1_HNP]
    net.detach("mn2")
    net.advance((loc["expires_at"] - net.now) * 0.8)
    net.attach("mn2", "emag4")
    net.advance(1.0)
    sig = Signals(net)
    assert net.send("mn2", net.address("mn1")).delivered  # straight from the cache: no query
    assert ("PBQR", "emag4", "elma1") not in sig.take()
    net.advance(0.2)
    assert ("PBQR", "emag4", "elma1") in sig.take()
    (again,) = [e for e in net.ctl.drf("emag4")["location_cache"] if e["prefix"] == MN1_HNP]
    assert again["expires_at"] > loc["expires_at"]
