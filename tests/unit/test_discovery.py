"""How a DRF finds the LMF to ask (draft §4.4.1 configuration, §4.4.2 Hop-by-Hop, §4.4.3 relay),
what it does when nobody answers for a correspondent (§5.1), prefixes added at run time, and
malformed queries.

Every test drives the real controller on the reference domain (examples/domain.yaml) through
``FakeNet``, with ``lmf_discovery`` set per test, and reads the dispatcher's log.  A Hop-by-Hop
query is a data packet: its packet-out is walked through the switches' tables
(``FakeNet.inject_packet_out``) and the copy an eLMA punts is handed back to the controller.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from fakeof import FakeNet, Trace, frame_packet, is_delivered, switches_crossed
from signals import Signals

from controller import hbh
from controller.drf import HBH
from controller.messages import PBQA, PBQR, Status
from openflow_rules.intents import OFPP_CONTROLLER, OFPP_TABLE, PacketOut

METHODS = ("config", "relay", "hbh")
HOSTS = ("mn1", "mn2", "mn3", "cn1", "cn2")
ADDR = {name: f"2001:db8:ffff::{n}" for name, n in (("emag1", 1), ("emag4", 4), ("elma1", 11), ("elma3", 13))}
NOBODY = "2001:db8:99::1"  # in no prefix of the domain
DIRECT_1_4 = ["emag1", "c1", "c2", "emag4"]


def make(build_domain, doc: dict, method: str, hosts=HOSTS) -> tuple[FakeNet, Signals]:
    doc["lmf_discovery"] = method
    net = FakeNet(build_domain(doc))
    for host in hosts:
        net.attach(host)
    return net, Signals(net)


def at(net: FakeNet, t: float) -> None:
    net.now = t
    net.apply(net.ctl.tick(t))


def tunnels(net: FakeNet, switch: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(t["mn_id"], t["correspondent"]): (t["kind"], t["to"]) for t in net.ctl.drf(switch)["tunnels"]}


def queries_sent(net: FakeNet, since: int = 0) -> list[tuple[str, PacketOut]]:
    return net.table_packet_outs(since)


def walk_queries(net: FakeNet, since: int) -> list[list[Trace]]:
    """Walk every Hop-by-Hop query packet-out sent since ``since`` (one list of walks each)."""
    return [net.inject_packet_out(sw, po) for sw, po in queries_sent(net, since)]


def locate(net: FakeNet, src: str, dst: str) -> Trace:
    """``src`` sends to ``dst`` (a host or an address); a Hop-by-Hop query it causes is walked."""
    mark = len(net.net.packet_outs)
    trace = net.send(src, net.address(dst) if dst in HOSTS else dst)
    walk_queries(net, mark)
    return trace


def expected_query(method: str, asker: str, owner: str, via: str = "elma1") -> list[tuple[str, str, str]]:
    if method == "config":
        return [("PBQR", asker, owner), ("PBQA", owner, asker)]
    if method == "hbh":
        return [("PBQR", asker, HBH), ("PBQA", owner, asker)]
    if owner == via:
        return [("PBQR", asker, via), ("PBQA", via, asker)]
    return [("PBQR", asker, via), ("PBQR", via, owner), ("PBQA", owner, via), ("PBQA", via, asker)]


def path(net: FakeNet, src: str, dst: str, hops: list[str]) -> Trace:
    trace = net.send(src, net.address(dst))
    assert switches_crossed(trace) == hops, trace.describe()
    assert is_delivered(trace, *net.port_of(dst)), trace.describe()
    return trace


# ------------------------------------------------------------------ each method locates mn2


@pytest.mark.parametrize("method", METHODS)
def test_each_method_locates_mn2_and_ends_in_a_direct_tunnel(build_domain, doc, method):
    fake, sig = make(build_domain, doc, method)
    first = locate(fake, "mn1", "mn2")
    assert switches_crossed(first) == ["emag1", "c1", "elma1", "c1", "c2", "elma3", "c2", "emag4"]
    assert is_delivered(first, *fake.port_of("mn2")) and len(first.punts) == 1
    assert sig.take() == expected_query(method, "emag1", "elma3")
    pbqr, pbqa = sig.last[0], sig.last[-1]
    assert (pbqr.address, pbqr.requester) == (fake.address("mn2"), ADDR["emag1"])
    assert (pbqa.seq, pbqa.status, pbqa.coa) == (pbqr.seq, Status.ACCEPTED, ADDR["emag4"])
    assert pbqa.hnps == [str(fake.hnp("mn2"))]
    assert tunnels(fake, "emag1") == {("mn1", str(fake.hnp("mn2"))): ("direct", "emag4")}
    second = path(fake, "mn1", "mn2", DIRECT_1_4)
    assert second.punts == [] and not {"elma1", "elma3"} & set(switches_crossed(second))
    locate(fake, "mn2", "mn1")  # and the other way: asked of elma1
    assert sig.take() == expected_query(method, "emag4", "elma1", via="elma3")
    path(fake, "mn2", "mn1", list(reversed(DIRECT_1_4)))
    assert sig.take() == []


def test_relay_keeps_the_askers_sequence_number_and_requester(build_domain, doc):
    fake, sig = make(build_domain, doc, "relay")
    fake.send("mn1", fake.address("mn2"))
    sig.take()
    asked, relayed, answer, passed = sig.last
    assert relayed.seq != asked.seq and (relayed.address, relayed.requester) == (asked.address, ADDR["emag1"])
    assert answer.seq == relayed.seq and passed.seq == asked.seq
    assert (passed.coa, passed.hnps, passed.lifetime) == (answer.coa, answer.hnps, answer.lifetime)
    assert fake.ctl.counters["lmf_query_relayed"] == 1 and fake.ctl.lmas["elma1"].lmf.relayed == {}


def test_hbh_query_is_a_packet_to_the_correspondent_that_elma3_intercepts(build_domain, doc):
    fake, sig = make(build_domain, doc, "hbh")
    mark = len(fake.net.packet_outs)
    fake.send("mn1", fake.address("mn2"))
    assert sig.take() == [("PBQR", "emag1", HBH)]
    (pbqr,) = sig.last
    ((switch, po),) = queries_sent(fake, mark)
    assert (switch, po.port, po.in_port) == ("emag1", OFPP_TABLE, OFPP_CONTROLLER)
    assert hbh.parse(po.data) == pbqr and pbqr.dst == ""
    pkt = frame_packet(po.data)
    assert (pkt["ipv6_src"], pkt["ipv6_dst"], pkt["ip_proto"]) == (ADDR["emag1"], fake.address("mn2"), 135)
    assert tunnels(fake, "emag1") == {} and fake.ctl.drf("emag1")["pending_queries"][0]["lmf"] == HBH
    (walk,) = fake.inject_packet_out(switch, po)
    assert switches_crossed(walk) == ["emag1", "c1", "c2", "elma3"], walk.describe()
    assert walk.outcome.kind == "controller" and walk.outcome.switch == "elma3"
    assert walk.hops[0].flow.match["in_port"] == OFPP_CONTROLLER  # injected: routed, not punted again
    assert sig.take() == [("PBQA", "elma3", "emag1")]
    assert (sig.last[0].seq, sig.last[0].coa) == (pbqr.seq, ADDR["emag4"])
    assert fake.ctl.counters["hbh_query_intercepted"] == 1
    assert tunnels(fake, "emag1") == {("mn1", str(fake.hnp("mn2"))): ("direct", "emag4")}


def test_hbh_query_reaching_an_elma_that_does_not_own_the_address_is_passed_on(build_domain, doc):
    fake, sig = make(build_domain, doc, "hbh")
    mark = len(fake.net.packet_outs)
    fake.send("mn1", fake.address("mn2"))
    sig.take()
    ((_, po),) = queries_sent(fake, mark)
    # as if elma1 sat on the way: the query arrives on its trunk, is punted and sent on unchanged
    arrival = fake.net.walk("elma1", 1, frame_packet(po.data))
    assert arrival.outcome.kind == "controller" and arrival.outcome.switch == "elma1"
    out = fake.apply(fake.ctl.packet_in(fake.dpid("elma1"), 1, po.data, fake.now))
    (passed,) = [i for i in out if isinstance(i, PacketOut)]
    assert (passed.port, passed.in_port, passed.data) == (OFPP_TABLE, OFPP_CONTROLLER, po.data)
    assert sig.take() == [] and fake.ctl.counters["hbh_query_forwarded"] == 1
    (walk,) = fake.inject_packet_out("elma1", passed)
    assert switches_crossed(walk) == ["elma1", "c1", "c2", "elma3"], walk.describe()
    assert sig.take() == [("PBQA", "elma3", "emag1")]
    assert tunnels(fake, "emag1") == {("mn1", str(fake.hnp("mn2"))): ("direct", "emag4")}


# ------------------------------------------------------------------ §5.1: nobody answers


def fallback_path(net: FakeNet, address: str, to_cn2: bool) -> None:
    """Once the DRF gave up: PMIP via elma1, no punt; delivered to cn2 (an address in no prefix
    dies at elma1, which has no route for it)."""
    trace = net.send("mn1", address)
    assert trace.punts == [] and switches_crossed(trace)[:3] == ["emag1", "c1", "elma1"], trace.describe()
    if to_cn2:
        assert switches_crossed(trace) == ["emag1", "c1", "elma1", "c1", "lma", "c1", "mag5"]
        assert is_delivered(trace, *net.port_of("cn2"))
    else:
        assert trace.outcome.kind == "dropped" and trace.outcome.switch == "elma1"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dst", ["cn2", "nobody"])
def test_no_lmf_for_the_correspondent_falls_back_to_pmip(build_domain, doc, method, dst):
    fake, sig = make(build_domain, doc, method)
    to_cn2 = dst == "cn2"
    address = fake.address("cn2") if to_cn2 else NOBODY
    prefix = str(fake.hnp("cn2")) if to_cn2 else "2001:db8:99::/64"
    at(fake, 5.0)
    mark = len(fake.net.packet_outs)
    first = fake.send("mn1", address)
    assert len(first.punts) == 1
    if method == "config":  # nobody to ask: at once, silently
        assert sig.take() == []
    elif method == "relay":  # elma1 knows no LMF for the prefix and says so itself
        assert sig.take() == [("PBQR", "emag1", "elma1"), ("PBQA", "elma1", "emag1")]
        assert (sig.last[1].status, sig.last[1].coa) == (Status.NO_LOCATION, "")
        assert fake.ctl.counters["lmf_query_relayed"] == 0
    else:  # the query goes toward the address; nobody on the way looks at it
        timers = fake.domain.timers
        for n in range(timers.query_retries + 1):
            assert sig.take() == [("PBQR", "emag1", HBH)]
            ((walk,),) = walk_queries(fake, mark)
            mark = len(fake.net.packet_outs)
            if to_cn2:  # the legacy LMA just tunnels it to cn2 like any packet
                assert switches_crossed(walk) == ["emag1", "c1", "lma", "c1", "mag5"], walk.describe()
                assert is_delivered(walk, *fake.port_of("cn2"))
            else:
                assert walk.outcome.kind == "dropped" and walk.outcome.switch == "emag1"
            assert sig.take() == [] and tunnels(fake, "emag1") == {}
            at(fake, 5.0 + (n + 1) * timers.query_timeout - 0.01)
            assert sig.take() == []
            at(fake, 5.0 + (n + 1) * timers.query_timeout)
        assert fake.ctl.counters["drf_query_retry"] == timers.query_retries
        assert fake.ctl.counters["drf_query_timeout"] == 1 and fake.ctl.counters["hbh_query_intercepted"] == 0
    assert sig.take() == [] and queries_sent(fake, mark) == []
    assert tunnels(fake, "emag1") == {("mn1", prefix): ("fallback", None)}
    fallback_path(fake, address, to_cn2)
    assert sig.take() == []


# ------------------------------------------------------------------ §4.4.1 at run time


@pytest.mark.parametrize("method", METHODS)
def test_prefix_added_at_run_time_is_asked_of_its_elma(build_domain, doc, method):
    fake, sig = make(build_domain, doc, method)
    _, intents = fake.ctl.add_prefix("elma3", "2001:db8:e::/48", fake.now)
    fake.apply(intents)
    address = "2001:db8:e:1::10"
    assert fake.ctl.find_lmf(ipaddress.IPv6Address(address)) == "elma3"
    trace = locate(fake, "mn1", address)
    assert switches_crossed(trace) == ["emag1", "c1", "elma1", "c1", "c2", "elma3"]  # the new route
    assert sig.take() == expected_query(method, "emag1", "elma3")
    assert (sig.last[-1].status, sig.last[-1].coa) == (Status.NO_LOCATION, "")
    if method == "hbh":
        (walk,) = fake.packet_out_traces
        assert switches_crossed(walk) == ["emag1", "c1", "c2", "elma3"]
    assert tunnels(fake, "emag1") == {("mn1", "2001:db8:e:1::/64"): ("fallback", None)}


@pytest.mark.parametrize("method", METHODS)
def test_an_mn_with_an_hnp_in_a_run_time_prefix_gets_a_direct_tunnel(build_domain, doc, method):
    fake, sig = make(build_domain, doc, method, hosts=("mn1", "mn3", "cn1", "cn2"))
    fake.apply(fake.ctl.add_prefix("elma3", "2001:db8:e::/48", fake.now)[1])
    profile = fake.domain.mobile_nodes
    profile["mn2"] = dataclasses.replace(profile["mn2"], lma=None, hnp=ipaddress.IPv6Network("2001:db8:e:2::/64"))
    fake.attach("mn2")
    assert sig.take() == [("PBU", "emag4", "elma3"), ("PBA", "elma3", "emag4")]
    assert fake.ctl.binding("mn2")["hnps"] == ["2001:db8:e:2::/64"]
    locate(fake, "mn1", "mn2")
    assert sig.take() == expected_query(method, "emag1", "elma3")
    assert sig.last[-1].coa == ADDR["emag4"]
    path(fake, "mn1", "mn2", DIRECT_1_4)


# ------------------------------------------------------------------ malformed and unexpected


def bad_frames() -> dict[str, bytes]:
    q = PBQR(src="emag1", dst="", seq=4242, address="2001:db8:c:2::10", requester=ADDR["emag1"])
    good = hbh.build(q, ADDR["emag1"], "02:00:00:00:00:01", "02:00:00:00:00:01")
    return {
        "bad-checksum": good[:-1] + bytes([good[-1] ^ 0xFF]),
        "truncated": good[:-8],
        "no-query-option": good[:56] + b"\x1f" + good[57:],
    }


@pytest.mark.parametrize("name", bad_frames())
def test_malformed_hbh_query_punted_at_elma3_is_counted_and_ignored(build_domain, doc, name):
    fake, sig = make(build_domain, doc, "hbh")
    bindings, flows = fake.ctl.bindings(), {n: len(s.flows()) for n, s in fake.net.switches.items()}
    frame, mark = bad_frames()[name], len(fake.net.packet_outs)
    (walk,) = fake.inject_packet_out("emag1", PacketOut(fake.dpid("emag1"), OFPP_TABLE, frame))
    assert switches_crossed(walk) == ["emag1", "c1", "c2", "elma3"] and walk.outcome.kind == "controller"
    assert fake.ctl.counters["packet_in_rejected"] == 1
    assert fake.ctl.counters["hbh_query_intercepted"] == fake.ctl.counters["hbh_query_forwarded"] == 0
    assert sig.take() == [] and fake.ctl.bus.errors == {}
    assert fake.ctl.bindings() == bindings and {n: len(s.flows()) for n, s in fake.net.switches.items()} == flows
    assert fake.net.packet_outs[mark:] == []  # nothing was sent on


def test_relayed_query_for_an_address_nobody_owns_is_answered_no_location(build_domain, doc):
    fake, sig = make(build_domain, doc, "relay")
    for address, n in ((NOBODY, 1), ("2001:db8:1:5::10", 2)):
        q = PBQR(src="emag1", dst="elma1", seq=4242 + n, address=address, requester=ADDR["emag1"])
        fake.apply(fake.ctl.receive_signalling("elma1", q.encode(), fake.now))
        assert sig.take() == [("PBQA", "elma1", "emag1")]  # straight back: no relay
        (answer,) = sig.last
        assert (answer.seq, answer.status, answer.coa, answer.address) == (q.seq, Status.NO_LOCATION, "", address)
    # a query for something that is no address does not decode: dropped and counted, unanswered
    q = PBQR(src="emag1", dst="elma1", seq=4245, address="not-an-address", requester=ADDR["emag1"])
    fake.apply(fake.ctl.receive_signalling("elma1", q.encode(), fake.now))
    assert sig.take() == [] and fake.ctl.bus.errors == {"malformed": 1}
    assert fake.ctl.counters["lmf_query_relayed"] == 0 and fake.ctl.counters["lmf_query_no_location"] == 2
    assert tunnels(fake, "emag1") == {}  # answers to nothing it asked are ignored


def test_unexpected_query_messages_are_rejected(build_domain, doc):
    fake, sig = make(build_domain, doc, "relay")
    stray = PBQA(src="elma3", dst="elma1", seq=999, address=NOBODY, status=int(Status.ACCEPTED), coa=ADDR["emag4"])
    to_legacy = PBQR(src="emag1", dst="lma", seq=998, address=fake.address("cn2"), requester=ADDR["emag1"])
    for dst, msg in (("elma1", stray), ("lma", to_legacy)):
        fake.apply(fake.ctl.receive_signalling(dst, msg.encode(), fake.now))
    assert sig.take() == [] and fake.ctl.counters["unexpected_message"] == 2
    assert fake.ctl.lmas["elma1"].lmf.relayed == {} and tunnels(fake, "emag1") == {}
