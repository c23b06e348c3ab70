"""What the installed tables do to packets on the reference domain (examples/domain.yaml).

Every test drives the real controller through ``FakeNet`` and walks packets through the in-memory
OpenFlow tables.  "PMIP routing via the LMA" is checked twice: the switches a packet crosses, and
the counters of the flows on the LMA that must have handled it.

Reference ports: every switch's first port(s) are its trunks; emag1, emag2, emag4, mag5 and ar1
have one trunk (port 1), so the first host on each of them gets port 2.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from fakeof import FakeNet, Trace, is_delivered, switches_crossed
from ryu.lib.packet import ethernet, icmpv6, ipv6, packet

from controller import ndp
from controller.mag import BOUND, PBA_TIMEOUT, REGISTERING
from openflow_rules.intents import ETH_TYPE_IPV6, IPPROTO_ICMPV6, PacketOut
from openflow_rules.pipeline import Fn, Table, cookie, split_cookie, with_generation

CN1 = "2001:db8:f::10"
ROUTER_MAC = "02:00:00:00:00:01"

MN1_TO_MN2 = ["emag1", "c1", "elma1", "c1", "c2", "elma3", "c2", "emag4"]


def obj(net: FakeNet, mn_id: str) -> int:
    return net.ctl.mn_index[mn_id]


def packets(net: FakeNet, switch: str, fn: Fn, mn_id: str | None = None) -> int:
    c = cookie(fn, obj(net, mn_id) if mn_id else 0)
    return sum(f.packets for f in net.switch(switch).flows(cookie=c))


def popped(net: FakeNet, switch: str) -> int:
    """Packets whose tunnel ended on ``switch`` (its own label was popped)."""
    label = net.domain.switches[switch].label
    return sum(f.packets for f in net.switch(switch).flows(Table.LABEL) if f.match.get("mpls_label") == label)


def leaving(trace: Trace, switch: str) -> dict:
    """The packet as it arrived at the switch after ``switch`` (i.e. as ``switch`` sent it)."""
    names = switches_crossed(trace)
    return trace.arrivals[names.index(switch) + 1][2]


def arriving(trace: Trace, switch: str) -> dict:
    return trace.arrivals[switches_crossed(trace).index(switch)][2]


def assert_delivered_to(net: FakeNet, trace: Trace, host: str) -> dict:
    switch, port = net.port_of(host)
    assert is_delivered(trace, switch, port), trace.describe()
    out = trace.outcome.packet
    assert out["eth_dst"] == net.node(host).mac
    assert out["eth_src"] == ROUTER_MAC
    assert out["eth_type"] == ETH_TYPE_IPV6 and out["mpls"] == []
    return out


def ra_prefixes(frame: bytes) -> list[ipaddress.IPv6Network]:
    """The Prefix Information options of an RA frame.  Read by hand: ryu's parser lets a
    source link-layer option swallow the options after it."""
    out = []
    offset = 14 + 40 + 16  # Ethernet, IPv6, ICMPv6 + RA header
    while offset < len(frame):
        kind, length = frame[offset], frame[offset + 1] * 8
        if kind == 3:
            prefix = ipaddress.IPv6Address(frame[offset + 16 : offset + 32])
            out.append(ipaddress.IPv6Network((prefix, frame[offset + 2])))
        offset += length or len(frame)
    return out


# ------------------------------------------------------------------ registration and access


def test_every_host_registers_with_its_anchor(fake):
    lmas = {b["mn_id"]: b["lma"] for b in fake.ctl.bindings()}
    assert lmas == {"mn1": "elma1", "mn3": "elma1", "mn2": "elma3", "cn2": "lma"}
    assert fake.hnp("mn1") == ipaddress.IPv6Network("2001:db8:a:1::/64")
    assert fake.hnp("mn2").subnet_of(ipaddress.IPv6Network("2001:db8:c::/48"))
    assert fake.hnp("cn2") == ipaddress.IPv6Network("2001:db8:1:5::/64")  # its profile HNP
    assert fake.port_of("mn1") == ("emag1", 2)


def test_router_solicitation_is_punted_and_answered_with_the_hnp(fake):
    trace, outs = fake.solicit("mn1")
    assert trace.outcome.kind == "controller" and trace.outcome.switch == "emag1"
    assert switches_crossed(trace) == ["emag1"]
    (ra,) = outs
    assert (ra.dpid, ra.port) == (fake.dpid("emag1"), 2)
    pkt = packet.Packet(ra.data)
    eth = pkt.get_protocol(ethernet.ethernet)
    assert (eth.src, eth.dst) == (ROUTER_MAC, fake.node("mn1").mac)
    assert pkt.get_protocol(ipv6.ipv6).src == "fe80::1"
    icmp = pkt.get_protocol(icmpv6.icmpv6)
    assert icmp.type_ == icmpv6.ND_ROUTER_ADVERT
    assert ra_prefixes(ra.data) == [fake.hnp("mn1")]
    # the RA left on mn1's port only and nothing was forwarded into the network
    assert fake.net.packet_outs[-1][0] == "emag1"


def test_neighbour_solicitation_for_the_router_is_answered(fake):
    mac = fake.node("mn1").mac
    ns = {"eth_src": mac, "eth_dst": "33:33:ff:00:00:01", "eth_type": ETH_TYPE_IPV6,
          "ipv6_src": fake.address("mn1"), "ipv6_dst": "ff02::1:ff00:1", "ip_proto": IPPROTO_ICMPV6,
          "icmpv6_type": 135, "ipv6_nd_target": "fe80::1", "mpls": [],
          "data": ndp.neighbour_solicitation(mac, fake.address("mn1"), "fe80::1")}  # fmt: skip
    trace = fake.send_raw("mn1", ns)
    assert trace.outcome.kind == "controller"
    (na,) = fake.deliver_packet_ins(trace)
    assert (na.dpid, na.port) == (fake.dpid("emag1"), 2)
    icmp = packet.Packet(na.data).get_protocol(icmpv6.icmpv6)
    assert icmp.type_ == icmpv6.ND_NEIGHBOR_ADVERT and icmp.data.dst == "fe80::1"


def test_spoofed_sources_are_dropped_at_the_mag(fake):
    for src in ("2001:db8:a:3::10", "2001:db8:99::1", CN1):  # mn3's HNP, nobody's, cn1's
        trace = fake.send("mn1", fake.address("mn2"), src=src)
        assert switches_crossed(trace) == ["emag1"]
        assert trace.outcome.kind == "dropped" and "table 0 miss" in trace.outcome.why
    assert packets(fake, "emag1", Fn.ACCESS, "mn1") == 0


def test_nothing_is_forwarded_before_registration(domain):
    net = FakeNet(domain)
    net.attach("mn2")
    hnp = net.ctl.lmas["elma1"].hnp_for(domain.mobile_nodes["mn1"])
    src = str(hnp.network_address + 0x10)
    # the PBUs to elma1 are lost: emag1 knows mn1 but is still registering
    lost: list = []
    net.ctl.bus.register("elma1", lambda msg, now: lost.append(msg))
    net.attach("mn1")
    assert net.ctl.mags["emag1"].attachments["mn1"].state == REGISTERING
    assert net.switch("emag1").flows(cookie=cookie(Fn.ACCESS, obj(net, "mn1"))) == []
    trace = net.send("mn1", net.address("mn2"), src=src)
    assert switches_crossed(trace) == ["emag1"] and trace.outcome.kind == "dropped"
    # an RS meanwhile is punted but not answered: there is no HNP to advertise yet
    _, outs = net.solicit("mn1")
    assert outs == []
    # the link to elma1 is back; the retransmitted PBU registers mn1 and the waiting RS is answered
    net.ctl.bus.register("elma1", net.ctl.lmas["elma1"].handle)
    intents = net.advance(PBA_TIMEOUT)
    assert net.ctl.mags["emag1"].attachments["mn1"].state == BOUND
    (ra,) = [i for i in intents if isinstance(i, PacketOut)]
    assert (ra.dpid, ra.port) == (net.dpid("emag1"), 2) and ra_prefixes(ra.data) == [hnp]
    assert len(lost) == 1 and net.address("mn1") == src
    assert_delivered_to(net, net.send("mn1", net.address("mn2")), "mn2")


def test_an_unregistered_hnp_is_dropped_at_its_lma(domain):
    net = FakeNet(domain)
    net.attach("mn1")
    hnp = net.ctl.lmas["elma3"].hnp_for(domain.mobile_nodes["mn2"])
    trace = net.send("mn1", str(hnp.network_address + 1))
    assert switches_crossed(trace)[-1] == "elma3"
    assert trace.outcome.kind == "dropped" and trace.outcome.switch == "elma3"


# ------------------------------------------------------------------ PMIP routing via the LMAs


def test_mn1_to_mn2_goes_through_both_elmas(fake):
    before = {s: popped(fake, s) for s in ("elma1", "elma3", "emag4")}
    trace = fake.send("mn1", fake.address("mn2"))
    assert switches_crossed(trace) == MN1_TO_MN2
    out = assert_delivered_to(fake, trace, "mn2")
    assert (out["ipv6_src"], out["ipv6_dst"]) == (fake.address("mn1"), fake.address("mn2"))
    # reverse tunnel emag1 -> elma1 (label = elma1's), popped there and routed as plain IPv6
    assert arriving(trace, "elma1")["mpls"] == [fake.domain.switches["elma1"].label]
    assert leaving(trace, "elma1")["mpls"] == [] and leaving(trace, "elma1")["eth_type"] == ETH_TYPE_IPV6
    # elma3's binding tunnels it to emag4, which pops and delivers
    assert leaving(trace, "elma3")["mpls"] == [fake.domain.switches["emag4"].label]
    assert {s: popped(fake, s) - n for s, n in before.items()} == {
        "elma1": 1,
        "elma3": 0,
        "emag4": 1,
    }
    assert packets(fake, "emag1", Fn.ACCESS, "mn1") == 2  # access classification + anchor
    assert packets(fake, "elma3", Fn.BINDING, "mn2") == 1
    assert packets(fake, "emag4", Fn.ACCESS, "mn2") == 1  # delivery


def test_mn2_to_mn1_goes_through_both_elmas_the_other_way(fake):
    trace = fake.send("mn2", fake.address("mn1"))
    assert switches_crossed(trace) == list(reversed(MN1_TO_MN2))
    assert_delivered_to(fake, trace, "mn1")
    assert packets(fake, "elma1", Fn.BINDING, "mn1") == 1
    assert popped(fake, "elma3") == 1


def test_mn1_to_mn3_on_the_same_elma_a21(fake):
    trace = fake.send("mn1", fake.address("mn3"))
    assert switches_crossed(trace) == ["emag1", "c1", "elma1", "c1", "emag2"]
    assert_delivered_to(fake, trace, "mn3")
    assert popped(fake, "elma1") == 1
    assert packets(fake, "elma1", Fn.BINDING, "mn3") == 1  # re-tunnelled out the port it came in on


def test_mn1_to_fixed_cn1_reaches_ar1(fake):
    trace = fake.send("mn1", CN1)
    assert switches_crossed(trace) == ["emag1", "c1", "elma1", "c1", "c2", "ar1"]
    assert is_delivered(trace, *fake.port_of("cn1"))
    assert trace.outcome.packet["eth_dst"] == fake.node("cn1").mac
    assert popped(fake, "elma1") == 1
    assert packets(fake, "ar1", Fn.FIXED) == 1


def test_cn1_to_mn1_goes_via_elma1(fake):
    trace = fake.send("cn1", fake.address("mn1"))
    assert switches_crossed(trace) == ["ar1", "c2", "c1", "elma1", "c1", "emag1"]
    assert_delivered_to(fake, trace, "mn1")
    assert packets(fake, "elma1", Fn.BINDING, "mn1") == 1
    assert arriving(trace, "elma1")["mpls"] == []  # plain routing up to the anchor ...
    assert leaving(trace, "elma1")["mpls"] == [fake.domain.switches["emag1"].label]  # ... tunnel after


def test_legacy_lma_serves_cn2_and_mn1_reaches_it_via_both_anchors(fake):
    assert fake.ctl.mags["mag5"].attachments["cn2"].daf is False
    trace = fake.send("mn1", fake.address("cn2"))
    assert switches_crossed(trace) == ["emag1", "c1", "elma1", "c1", "lma", "c1", "mag5"]
    assert_delivered_to(fake, trace, "cn2")
    assert popped(fake, "elma1") == 1
    assert packets(fake, "lma", Fn.BINDING, "cn2") == 1
    back = fake.send("cn2", fake.address("mn1"))
    assert switches_crossed(back) == ["mag5", "c1", "lma", "c1", "elma1", "c1", "emag1"]
    assert_delivered_to(fake, back, "mn1")
    assert popped(fake, "lma") == 1
    assert packets(fake, "elma1", Fn.BINDING, "mn1") == 1


# ------------------------------------------------------------------ detach, delete, move


def test_after_detach_traffic_to_the_mn_is_dropped_and_the_binding_goes(fake):
    o = obj(fake, "mn1")
    fake.detach("mn1")
    assert fake.switch("emag1").flows(cookie=cookie(Fn.ACCESS, o)) == []
    assert fake.ctl.binding("mn1")["state"] == "deleting"
    (binding,) = fake.switch("elma1").flows(cookie=cookie(Fn.BINDING, o))
    for trace in (
        fake.inject("elma1", 1, "2001:db8:a:1::10"),
        fake.send("cn1", "2001:db8:a:1::10"),
    ):
        assert trace.delivered() == [], trace.describe()
        assert trace.outcome.kind == "dropped" and trace.outcome.switch == "elma1"
    assert binding.packets == 2  # the de-registered binding itself drops (no loop via emag1)
    fake.advance(fake.domain.timers.min_delay_before_bce_delete - 1)
    assert fake.ctl.binding("mn1") is not None
    fake.advance(1)
    assert fake.ctl.binding("mn1") is None
    assert fake.switch("elma1").flows(cookie=cookie(Fn.BINDING, o)) == []
    trace = fake.inject("elma1", 1, "2001:db8:a:1::10")
    assert trace.outcome.kind == "dropped" and "miss" in trace.outcome.why
    # the others are untouched
    assert_delivered_to(fake, fake.send("mn3", fake.address("mn2")), "mn2")


def test_handoff_to_emag2_moves_the_traffic(fake):
    address = fake.address("mn1")
    port = fake.move("mn1", "emag2")
    assert fake.port_of("mn1") == ("emag2", port) and port == 3  # after mn3's port 2
    bce = fake.ctl.binding("mn1")
    assert bce["state"] == "active" and bce["proxy_coa"] == str(fake.domain.switches["emag2"].address)
    assert fake.address("mn1") == address  # same HNP after the move
    trace = fake.send("cn1", address)
    assert switches_crossed(trace) == ["ar1", "c2", "c1", "elma1", "c1", "emag2"]
    assert_delivered_to(fake, trace, "mn1")
    trace = fake.send("mn1", fake.address("mn2"))
    assert switches_crossed(trace) == ["emag2"] + MN1_TO_MN2[1:]
    assert_delivered_to(fake, trace, "mn2")
    assert fake.switch("emag1").flows(cookie=cookie(Fn.ACCESS, obj(fake, "mn1"))) == []
    # the binding survives the delete delay of the old MAG's de-registration
    fake.advance(fake.domain.timers.min_delay_before_bce_delete + 1)
    assert_delivered_to(fake, fake.send("cn1", address), "mn1")


def test_refresh_keeps_the_binding_and_the_path(fake):
    fake.advance(fake.domain.timers.binding_lifetime * fake.domain.timers.refresh_fraction)
    assert fake.ctl.binding("mn1")["updates"] == 1
    fake.advance(fake.domain.timers.binding_lifetime * 0.75)  # past the first lifetime
    assert fake.ctl.binding("mn1")["state"] == "active"
    assert switches_crossed(fake.send("mn1", fake.address("mn2"))) == MN1_TO_MN2


def _flows_any_generation(switch) -> list[str]:
    """The switch's flows with the cookie generation bit cleared (it flips on every resync)."""
    return sorted(dataclasses.replace(f, cookie=with_generation(f.cookie, 0)).describe() for f in switch.flows())


def test_switch_reconnect_restores_its_flows(fake):
    fake.send("mn1", fake.address("cn2"))  # through elma1 (cn2 is on the legacy LMA: no DRF entry)
    flows_before = _flows_any_generation(fake.switch("elma1"))
    counts_before = sorted((f.describe().split(" cookie=")[0], f.packets) for f in fake.switch("elma1").flows())
    assert any(packets for _, packets in counts_before)
    fake.connect("elma1")  # make before break: every flow again in a new generation, then the stale ones go
    assert _flows_any_generation(fake.switch("elma1")) == flows_before
    assert {split_cookie(f.cookie)[0] is not None for f in fake.switch("elma1").flows()} == {True}
    assert {(f.cookie >> 55) & 1 for f in fake.switch("elma1").flows()} == {1}  # all in the new generation
    # nothing was removed and re-added: the counters went on
    assert sorted((f.describe().split(" cookie=")[0], f.packets) for f in fake.switch("elma1").flows()) == counts_before
    fake.connect("emag1")  # emag1 re-reports mn1's port with its trunk
    assert switches_crossed(fake.send("mn1", fake.address("mn2"))) == MN1_TO_MN2
    # a de-registered binding comes back as a drop, not as a tunnel to the old MAG
    fake.detach("mn3")
    fake.connect("elma1")
    trace = fake.send("mn1", "2001:db8:a:3::10")
    assert trace.outcome.kind == "dropped" and trace.outcome.switch == "elma1"
