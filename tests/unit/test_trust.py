"""Trust (issue 10): no hijack by one packet, replayed or forged signalling changes nothing, the
decoder raises only its own error type, and a predictive hint without a move loses nothing."""

from __future__ import annotations

import pytest
from fakeof import FakeNet

from controller import ndp
from controller.config import access_port_mac
from controller.core import ND_BURST, PortInfo
from controller.messages import (
    PBCI,
    PBQA,
    PBU,
    AuthenticationError,
    HandoffIndicator,
    decode,
    pair_key,
)

KEY = "a-test-signalling-secret-of-enough-length"


@pytest.fixture
def net(domain) -> FakeNet:
    fake = FakeNet(domain)
    for host in ("mn1", "mn2", "mn3"):
        fake.attach(host)
    return fake


def rs_from(net: FakeNet, mn: str, switch: str, port: int, src: str = "fe80::66") -> list:
    frame = ndp.router_solicitation(net.domain.mobile_nodes[mn].mac, src)
    return net.apply(net.ctl.packet_in(net.dpid(switch), port, frame, net.now))


# ------------------------------------------------------------------ attachment


def test_an_rs_claiming_a_bound_mn_from_another_port_is_refused(net):
    before = net.ctl.binding("mn1")
    flows = sorted(f.describe() for f in net.switch("emag1").flows())
    _, mn3_port = net.port_of("mn3")
    assert rs_from(net, "mn1", "emag2", mn3_port) == []  # mn3's port, mn1's MAC
    # a port of emag1 itself that the switch reported with another host's MAC
    net.apply(net.ctl.port_added(net.dpid("emag1"), PortInfo(9, access_port_mac("02:00:00:00:01:09")), net.now))
    assert rs_from(net, "mn1", "emag1", 9) == []
    assert net.ctl.counters["rs_port_mismatch"] == 2
    assert net.ctl.binding("mn1") == before
    assert sorted(f.describe() for f in net.switch("emag1").flows()) == flows
    assert net.send("mn2", net.address("mn1")).outcome.switch == "emag1"


def test_rs_and_ns_are_answered_within_a_per_port_budget(net):
    switch, port = net.port_of("mn1")
    answered = sum(1 for _ in range(50) if rs_from(net, "mn1", switch, port))
    assert answered == ND_BURST and net.ctl.counters["rs_rate_limited"] == 50 - ND_BURST
    net.advance(1.0)  # the bucket refills at ND_RATE per second
    assert rs_from(net, "mn1", switch, port)
    # another port has its own budget
    other_switch, other_port = net.port_of("mn3")
    assert rs_from(net, "mn3", other_switch, other_port)


# ------------------------------------------------------------------ replay


def pbu(now: float, **fields) -> PBU:
    base = dict(
        src="emag1", dst="elma1", seq=900, mn_id="mn1", mn_ll_id="02:00:00:00:01:01", hnps=[],
        coa="2001:db8:ffff::1", lifetime=60.0, timestamp=now, handoff=int(HandoffIndicator.NOT_CHANGED),
    )  # fmt: skip
    base.update(fields)
    return PBU(**base)


def test_a_replayed_pbu_cannot_bring_a_departed_mns_binding_back(net):
    captured = pbu(net.now)  # as it went on the wire at registration time
    net.detach("mn1")
    for _ in range(30):  # MinDelayBeforeBCEDelete passes: the binding is deleted
        net.advance(0.5)
    assert net.ctl.binding("mn1") is None
    net.apply(net.ctl.receive_signalling("elma1", captured.encode(), net.now))
    assert net.ctl.binding("mn1") is None
    assert net.ctl.counters["pba_status_157"] + net.ctl.counters["pba_status_156"] >= 1
    # a PBU outside the validity window is refused even for an MN the LMA never saw
    net.apply(net.ctl.receive_signalling("elma1", pbu(net.now, mn_id="mn3", timestamp=net.now - 30).encode(), net.now))
    assert net.ctl.counters["pba_status_156"] >= 1


def test_an_old_pbci_replayed_does_not_detach_the_mn_attached_there(net):
    net.send("mn1", net.address("mn2"))
    net.advance(0.5)
    net.move("mn1", "emag2")
    old = PBCI(src="emag2", dst="emag1", seq=77, mn_id="mn1", hnps=[str(net.hnp("mn1"))],
               new_coa="2001:db8:ffff::2", timestamp=net.now)  # fmt: skip
    net.advance(5.0)
    net.move("mn1", "emag1")  # mn1 is back on emag1, later than that PBCI
    net.apply(net.ctl.receive_signalling("emag1", old.encode(), net.now))
    assert net.ctl.counters["rejected_stale_pbci"] == 1
    assert "mn1" in net.ctl.mags["emag1"].attachments
    assert net.send("mn2", net.address("mn1")).outcome.switch == "emag1"


def test_an_answer_must_match_its_question(net):
    q_before = net.ctl.bus.sent["PBQR"]
    held: list = []
    net.ctl.bus.faults = lambda m: (held.append(m) or []) if m.TYPE == "PBQA" else [0.0]
    net.send("mn2", net.address("mn1"))
    assert net.ctl.bus.sent["PBQR"] == q_before + 1 and len(held) == 1
    net.ctl.bus.faults = None
    real = held[0]
    wrong = PBQA(src=real.src, dst=real.dst, seq=real.seq, address="2001:db8:a:99::1", status=0,
                 coa="2001:db8:ffff::3", hnps=[], lifetime=60.0)  # fmt: skip
    net.apply(net.ctl.receive_signalling(real.dst, wrong.encode(), net.now))
    assert net.ctl.counters["rejected_unmatched_pbqa"] == 1
    assert not [t for t in net.ctl.drf("emag4")["tunnels"] if t["kind"] == "direct"]
    net.apply(net.ctl.receive_signalling(real.dst, real.encode(), net.now))
    assert [t["to"] for t in net.ctl.drf("emag4")["tunnels"]] == ["emag1"]


# ------------------------------------------------------------------ authentication


def test_a_node_cannot_claim_another_nodes_src():
    secret = KEY.encode()
    msg = pbu(1.0, src="emag2", coa="2001:db8:ffff::2")
    # emag1 knows its own pair keys (emag1-elma1), not emag2's: a PBU it forges as emag2 fails
    forged = msg.encode(pair_key(secret, "emag1", "elma1"))
    with pytest.raises(AuthenticationError, match="does not match"):
        decode(forged, lambda src, dst: pair_key(secret, src, dst))
    genuine = msg.encode(pair_key(secret, "emag2", "elma1"))
    assert decode(genuine, lambda src, dst: pair_key(secret, src, dst)) == msg
    # the tag covers the exact bytes: a re-encoded or altered copy does not verify
    with pytest.raises(AuthenticationError):
        decode(genuine[:-17] + bytes([genuine[-17] ^ 1]) + genuine[-16:], lambda s, d: pair_key(secret, s, d))


# The decoder fuzz (100,000+ inputs, hypothesis) is tests/unit/test_fuzz.py.


# ------------------------------------------------------------------ the predictive hint


@pytest.fixture
def buffered(doc, build_domain) -> FakeNet:
    doc["handoff_buffer"] = "predictive"
    doc.setdefault("timers", {})["buffer_hold"] = 2.0
    fake = FakeNet(build_domain(doc))
    for host in ("mn1", "mn2"):
        fake.attach(host)
    fake.send("mn2", fake.address("mn1"))
    return fake


def test_a_hint_without_a_move_restores_delivery_with_nothing_lost(buffered):
    net = buffered
    net.apply(net.ctl.link_going_down("mn1", net.now)[1])
    trace = net.send("mn2", net.address("mn1"))
    assert trace.outcomes == [] and trace.punts[-1].switch == "emag1"  # kept by the controller
    assert net.ctl.counters["buffer_packets_in"] == 1
    net.advance(1.0)
    net.advance(1.2)  # buffer_hold passes: mn1 never moved
    _, port = net.port_of("mn1")
    released = [po for sw, po in net.net.packet_outs if sw == "emag1" and po.port == port and po.data[20] != 58]
    assert len(released) == 1 and net.ctl.counters["buffer_hint_expired"] == 1
    assert net.ctl.counters.get("buffer_dropped_timeout", 0) == 0
    assert net.send("mn2", net.address("mn1")).outcome.switch == "emag1"  # delivered again
    assert net.ctl.binding("mn1")["state"] == "active"


def test_a_hint_can_be_cancelled(buffered):
    net = buffered
    net.apply(net.ctl.link_going_down("mn1", net.now)[1])
    net.send("mn2", net.address("mn1"))
    result, intents = net.ctl.cancel_link_going_down("mn1", net.now)
    net.apply(intents)
    assert result["buffering"] is False and net.ctl.counters["buffer_cancelled"] == 1
    assert net.send("mn2", net.address("mn1")).outcome.switch == "emag1"
    with pytest.raises(LookupError, match="no link-going-down hint"):
        net.ctl.cancel_link_going_down("mn1", net.now)
