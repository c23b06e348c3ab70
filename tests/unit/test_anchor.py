"""The MN's anchor is the MN's (issue 9 item 1): an MN whose profile names no LMA gets its LMA
chosen once - by the first MAG, recorded by the policy store - and keeps it, with its HNPs and
HoA, when it moves to a MAG whose own default LMA is another eLMA.  Several HNPs per MN."""

from __future__ import annotations

import ipaddress

import pytest
from fakeof import FakeNet, switches_crossed
from signals import Signals

from controller.config import ConfigError


def roaming_doc(doc: dict, **mn3) -> dict:
    """The reference domain with mn3's profile naming no LMA (it starts on emag2, whose LMA is
    elma1; emag3/emag4 use elma3)."""
    for mn in doc["mobile_nodes"]:
        if mn["id"] == "mn3":
            mn.pop("lma", None)
            mn.update(mn3)
    return doc


@pytest.fixture
def roam(doc, build_domain) -> FakeNet:
    net = FakeNet(build_domain(roaming_doc(doc)))
    for host in ("mn1", "mn2", "mn3"):
        net.attach(host)
    return net


def test_first_attachment_asks_the_policy_store_and_keeps_the_mags_choice(roam):
    assert roam.ctl.binding("mn3")["lma"] == "elma1"
    assert roam.ctl.policy.anchors == {"mn3": "elma1"}
    log = [(m.type, m.src, m.dst) for m in roam.ctl.bus.log if m.type in ("PPQ", "PPA")]
    assert log == [("PPQ", "emag2", "policy"), ("PPA", "policy", "emag2")]


def test_move_into_another_elmas_area_keeps_the_anchor_hnp_and_route(roam):
    hoa = roam.address("mn3")
    hnp = roam.hnp("mn3")
    roam.send("mn3", roam.address("mn2"))
    roam.send("mn2", hoa)
    sig = Signals(roam)
    roam.move("mn3", "emag3")  # emag3's own LMA is elma3
    log = sig.take()
    assert ("PBU", "emag3", "elma1") in log and ("PBU", "emag3", "elma3") not in log
    assert ("PBCI", "emag3", "emag2") in log  # an ordinary §4.3 handoff
    binding = roam.ctl.binding("mn3")
    assert binding["lma"] == "elma1" and binding["hnps"] == [str(hnp)] and roam.address("mn3") == hoa
    assert binding["proxy_coa"] == "2001:db8:ffff::3"
    # both directions delivered on the optimized path, no anchor crossed
    trace = roam.send("mn2", hoa)
    assert switches_crossed(trace) == ["emag4", "c2", "emag3"]
    assert switches_crossed(roam.send("mn3", roam.address("mn2"))) == ["emag3", "c2", "emag4"]


def test_a_mag_asks_the_policy_store_once_per_mn(roam):
    roam.move("mn3", "emag3")
    roam.move("mn3", "emag2")
    roam.move("mn3", "emag3")
    asked = [(m.src, m.dst) for m in roam.ctl.bus.log if m.type == "PPQ"]
    assert asked == [("emag2", "policy"), ("emag3", "policy")]


def test_a_lost_policy_answer_is_asked_again(doc, build_domain):
    net = FakeNet(build_domain(roaming_doc(doc)))
    lost = []
    net.ctl.bus.faults = lambda msg: [] if msg.TYPE == "PPA" and not lost and not lost.append(msg) else [0.0]
    net.attach("mn3")
    assert net.ctl.binding("mn3") is None and len(lost) == 1
    net.advance(1.1)  # the MAG's retransmission timer
    assert net.ctl.binding("mn3")["lma"] == "elma1"


def test_several_hnps_per_mn(doc, build_domain):
    net = FakeNet(build_domain(roaming_doc(doc, hnp_count=2)))
    for host in ("mn1", "mn3"):
        net.attach(host)
    hnps = [ipaddress.IPv6Network(h) for h in net.ctl.binding("mn3")["hnps"]]
    assert len(hnps) == 2 and all(h.subnet_of(ipaddress.IPv6Network("2001:db8:a::/48")) for h in hnps)
    for hnp in hnps:  # traffic from mn1 reaches mn3 in either prefix, and mn3 may source from both
        dst = str(hnp.network_address + 0x10)
        assert net.send("mn1", dst).outcome.switch == "emag2"
        assert net.send("mn3", net.address("mn1"), src=dst).outcome.switch == "emag1"
    net.move("mn3", "emag3")
    assert [ipaddress.IPv6Network(h) for h in net.ctl.binding("mn3")["hnps"]] == hnps
    for hnp in hnps:
        assert net.send("mn1", str(hnp.network_address + 0x10)).outcome.switch == "emag3"


def test_hnp_lists_are_validated(doc, build_domain):
    mn = next(m for m in doc["mobile_nodes"] if m["id"] == "cn2")
    mn["hnps"] = [mn.pop("hnp"), "2001:db8:a:77::/64"]  # the second on another LMA
    with pytest.raises(ConfigError, match="hnps"):
        build_domain(doc)
    mn["hnps"] = ["2001:db8:1:5::/64", "2001:db8:1:6::/64"]
    domain = build_domain(doc)
    assert [str(h) for h in domain.mobile_nodes["cn2"].static_hnps] == ["2001:db8:1:5::/64", "2001:db8:1:6::/64"]
    mn["hnp_count"] = 2
    with pytest.raises(ConfigError, match="hnp_count"):
        build_domain(doc)
