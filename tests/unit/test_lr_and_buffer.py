"""The baselines and the zero-loss additions on the in-memory tables: RFC 6705 localized routing
(mode ``lr``) and handoff buffering (``handoff_buffer: predictive | reactive``)."""

from __future__ import annotations

import pytest
from fakeof import FakeNet, switches_crossed

from controller.config import Domain
from openflow_rules.intents import PacketOut
from openflow_rules.pipeline import Fn, Table, cookie


def domain_with(doc, build_domain, **top) -> Domain:
    doc.update(top)
    return build_domain(doc)


def attached(domain: Domain, *hosts: str) -> FakeNet:
    net = FakeNet(domain)
    for host in hosts:
        net.attach(host)
    return net


def sent(net: FakeNet, since: int = 0) -> list[tuple[str, str, str]]:
    return [(m.type, m.src, m.dst) for m in list(net.ctl.bus.log)[since:]]


# ------------------------------------------------------------------ RFC 6705 localized routing


@pytest.fixture
def lr(doc, build_domain) -> FakeNet:
    return attached(domain_with(doc, build_domain, mode="lr"), "mn1", "mn2", "mn3")


def test_lr_localizes_a21_after_the_lma_sees_the_pair(lr):
    n = len(lr.ctl.bus.log)
    first = lr.send("mn1", lr.address("mn3"))
    assert switches_crossed(first) == ["emag1", "c1", "elma1", "c1", "emag2"]  # via the LMA first
    assert first.punts and first.punts[0].switch == "elma1"  # the LMA saw it
    assert sent(lr, n) == [("LRI", "elma1", "emag1"), ("LRI", "elma1", "emag2"),
                           ("LRA", "emag1", "elma1"), ("LRA", "emag2", "elma1")]  # fmt: skip
    assert switches_crossed(lr.send("mn1", lr.address("mn3"))) == ["emag1", "c1", "emag2"]
    assert switches_crossed(lr.send("mn3", lr.address("mn1"))) == ["emag2", "c1", "emag1"]
    assert lr.ctl.lmas["elma1"].lr.pairs == {frozenset({"mn1", "mn3"}): "established"}


def test_lr_never_localizes_across_lmas_a22(lr):
    n = len(lr.ctl.bus.log)
    for _ in range(3):
        trace = lr.send("mn1", lr.address("mn2"))
        assert "elma1" in switches_crossed(trace) and "elma3" in switches_crossed(trace)
    assert [t for t, _, _ in sent(lr, n)] == []  # no LRI: the two LMAs have no interface
    assert lr.ctl.counters["lr_not_applicable"] >= 1
    # one punt per source prefix and destination: the LMA went quiet for this pair
    punts = [len(lr.send("mn1", lr.address("mn2")).punts) for _ in range(2)]
    assert punts == [0, 0]


def test_lr_is_reestablished_through_the_lma_after_a_handoff(lr):
    lr.send("mn1", lr.address("mn3"))
    n = len(lr.ctl.bus.log)
    lr.move("mn1", "emag3")
    msgs = sent(lr, n)
    # the PBA first, then the LMA's new LRIs to the new MAG and to the peer's MAG
    pba = msgs.index(("PBA", "elma1", "emag3"))
    assert msgs.index(("LRI", "elma1", "emag3")) > pba and msgs.index(("LRI", "elma1", "emag2")) > pba
    assert lr.ctl.counters["lr_reestablished"] == 1
    assert switches_crossed(lr.send("mn3", lr.address("mn1"))) == ["emag2", "c1", "c2", "emag3"]
    assert switches_crossed(lr.send("mn1", lr.address("mn3"))) == ["emag3", "c2", "c1", "emag2"]
    # nothing of mn1 is left on its old MAG
    mn1 = lr.ctl.mn_index["mn1"]

    def of_mn1(c: int) -> bool:
        return c == cookie(Fn.ACCESS, mn1) or ((c >> 48) & 0xFF == Fn.DRF and (c >> 24) & 0xFFFFFF == mn1)

    left = [f for f in lr.switch("emag1").flows() if of_mn1(f.cookie)]
    assert left == []


# ------------------------------------------------------------------ handoff buffering


def buffered_walk(net: FakeNet, src_host: str, dst_host: str):
    """Send a packet; return the trace and what the controller sent out because of it."""
    before = len(net.net.packet_outs)
    trace = net.send(src_host, net.address(dst_host))
    return trace, [po for _, po in net.net.packet_outs[before:]]


def test_predictive_hint_switches_delivery_to_the_controller_and_releases_at_the_new_mag(doc, build_domain):
    net = attached(domain_with(doc, build_domain, handoff_buffer="predictive"), "mn1", "mn2")
    net.send("mn2", net.address("mn1"))  # route set up (direct tunnel emag4 -> emag1)
    result, intents = net.ctl.link_going_down("mn1", net.now)
    net.apply(intents)
    assert result == {"mn_id": "mn1", "mag": "emag1", "buffering": True}
    assert any(i.__class__.__name__ == "Barrier" for i in intents)
    trace, outs = buffered_walk(net, "mn2", "mn1")
    assert [o.kind for o in trace.outcomes] == [] and trace.punts[-1].switch == "emag1"
    assert outs == [] and net.ctl.counters["buffer_packets_in"] == 1
    n = len(net.ctl.bus.log)
    net.detach("mn1")  # the link breaks: no de-registration, the MN is expected back
    assert ("PBU", "emag1", "elma1") not in sent(net, n)
    trace, _ = buffered_walk(net, "mn2", "mn1")  # still kept
    assert net.ctl.counters["buffer_packets_in"] == 2
    before = len(net.net.packet_outs)
    port = net.attach("mn1", "emag2")
    released = [po for sw, po in net.net.packet_outs[before:] if sw == "emag2" and po.port == port]
    data = [po for po in released if po.data[12:14] == b"\x86\xdd" and po.data[20] != 58]  # not the RA
    assert len(data) == 2 and net.ctl.counters["buffer_packets_released"] == 2
    mac = bytes.fromhex(net.node("mn1").mac.replace(":", ""))
    assert all(po.data[:6] == mac for po in data)  # addressed to the MN, as its delivery flow would
    # the old MAG's buffer flow is gone and the new path is direct
    assert not [f for f in net.switch("emag1").flows() if (f.cookie >> 48) & 0xFF == Fn.BUFFER]
    assert switches_crossed(net.send("mn2", net.address("mn1")))[-1] == "emag2"


def test_predictive_hint_errors(doc, build_domain):
    net = attached(domain_with(doc, build_domain, handoff_buffer="off"), "mn1")
    with pytest.raises(ValueError, match="predictive"):
        net.ctl.link_going_down("mn1", 1.0)
    net = attached(domain_with(doc, build_domain, handoff_buffer="predictive"), "mn1")
    with pytest.raises(LookupError, match="mn2"):
        net.ctl.link_going_down("mn2", 1.0)


def test_reactive_buffers_from_the_detach_and_deregisters_if_the_mn_never_returns(doc, build_domain):
    doc.setdefault("timers", {})["buffer_hold"] = 2.0
    net = attached(domain_with(doc, build_domain, handoff_buffer="reactive"), "mn1", "mn2")
    net.send("mn2", net.address("mn1"))
    n = len(net.ctl.bus.log)
    net.detach("mn1")
    assert ("PBU", "emag1", "elma1") not in sent(net, n)
    buffered_walk(net, "mn2", "mn1")
    assert net.ctl.counters["buffer_started_reactive"] == 1 and net.ctl.counters["buffer_packets_in"] == 1
    net.advance(2.5)  # buffer_hold passes
    assert ("PBU", "emag1", "elma1") in sent(net, n)  # de-registered after all
    assert net.ctl.counters["buffer_dropped_timeout"] == 1
    assert net.ctl.binding("mn1")["state"] == "deleting"


def test_buffer_is_bounded_and_overflow_is_counted(doc, build_domain):
    doc.setdefault("timers", {})["buffer_packets"] = 3
    net = attached(domain_with(doc, build_domain, handoff_buffer="predictive"), "mn1", "mn2")
    net.apply(net.ctl.link_going_down("mn1", net.now)[1])
    for _ in range(5):
        buffered_walk(net, "mn2", "mn1")
    assert net.ctl.counters["buffer_packets_in"] == 3
    assert net.ctl.counters["buffer_dropped_overflow"] == 2


def test_uplink_before_registration_is_kept_and_reinjected(doc, build_domain):
    net = attached(domain_with(doc, build_domain, handoff_buffer="predictive"), "mn2")
    # mn1's port appears but its registration is held back: its first packet meets the table-miss
    hold = net.ctl.bus.handler("elma1")
    net.ctl.bus.register("elma1", lambda msg, now: None)
    port = net.attach("mn1")
    bce_hnp = "2001:db8:a:1::10"  # mn1's address in the HNP elma1 will assign
    trace = net.send("mn1", net.address("mn2"), src=bce_hnp)
    assert trace.punts and trace.punts[0].why == f"table {Table.CLASSIFY}"
    assert net.ctl.counters["early_uplink_held"] == 1
    net.ctl.bus.register("elma1", hold)
    before = len(net.net.packet_outs)
    net.detach("mn1")
    net.attach("mn1", port=port)  # registers this time
    reinjected = [po for sw, po in net.net.packet_outs[before:] if po.in_port == port]
    assert len(reinjected) == 1 and net.ctl.counters["early_uplink_reinjected"] == 1
    assert isinstance(reinjected[0], PacketOut) and reinjected[0].data[22:38] == bytes.fromhex(
        "20010db8000a00010000000000000010"
    )


def test_lr_quiet_flows_do_not_loop_while_a_binding_is_being_deleted(lr):
    lr.send("mn2", lr.address("mn1"))  # A22: elma1 now has a per-source flow mn2 -> mn1
    lr.detach("mn1")  # de-registered: the binding drops ...
    trace = lr.send("mn2", lr.address("mn1"))  # ... and nothing loops (the walk would raise)
    assert trace.outcome.kind == "dropped" and trace.outcome.switch == "elma1"


def test_lr_relocalizes_after_a_stay_on_the_peers_mag(lr):
    lr.send("mn1", lr.address("mn3"))
    lr.move("mn1", "emag2")  # onto mn3's MAG: delivered locally there
    assert switches_crossed(lr.send("mn3", lr.address("mn1"))) == ["emag2"]
    lr.move("mn1", "emag3")  # and away again: localized again, without a new detection
    assert lr.ctl.counters["lr_reestablished"] == 2
    assert switches_crossed(lr.send("mn3", lr.address("mn1"))) == ["emag2", "c1", "c2", "emag3"]
