"""The load driver's side of OpenFlow 1.3 (benchmarks/ofwire.py, benchmarks/load.py): what an
emulated switch sends parses back with Ryu's own parser into the values it was built from, and
what it reads out of the controller's messages (built by Ryu's serializer) is right."""

from __future__ import annotations

import ipaddress

import pytest
import yaml
from ryu.ofproto import ofproto_v1_3 as ofp
from ryu.ofproto import ofproto_v1_3_parser as parser

from benchmarks import load, ofwire
from controller import ndp
from controller.config import parse_domain
from openflow_rules.pipeline import Table


class Dp:
    ofproto = ofp
    ofproto_parser = parser
    id = 7


def parse(data: bytes):
    version, msg_type, length, xid = ofwire.HEADER.unpack_from(data)
    assert length == len(data)
    return parser.msg_parser(Dp(), version, msg_type, length, xid, data)


PORT = ofwire.Port(5, bytes.fromhex("060000000105"), b"emag1-eth5")


def test_features_reply_parses_with_ryu():
    msg = parse(ofwire.features_reply(42, 0x1234))
    assert isinstance(msg, parser.OFPSwitchFeatures)
    assert (msg.xid, msg.datapath_id, msg.n_tables) == (42, 0x1234, 254)


def test_port_desc_reply_lists_every_port():
    ports = [PORT, ofwire.Port(6, bytes(6))]
    msg = parse(ofwire.port_desc_reply(9, ports))
    assert isinstance(msg, parser.OFPPortDescStatsReply) and msg.xid == 9
    assert [(p.port_no, p.hw_addr, p.name) for p in msg.body] == [
        (5, "06:00:00:00:01:05", b"emag1-eth5"),
        (6, "00:00:00:00:00:00", b"p6"),
    ]


@pytest.mark.parametrize("reason", [ofp.OFPPR_ADD, ofp.OFPPR_DELETE])
def test_port_status_parses_with_ryu_and_a_deleted_port_is_down(reason):
    msg = parse(ofwire.port_status(reason, PORT))
    assert isinstance(msg, parser.OFPPortStatus)
    assert (msg.reason, msg.desc.port_no, msg.desc.hw_addr) == (reason, 5, "06:00:00:00:01:05")
    assert bool(msg.desc.state & ofp.OFPPS_LINK_DOWN) == (reason == ofp.OFPPR_DELETE)


def test_packet_in_parses_with_ryu():
    frame = bytes(range(54))
    msg = parse(ofwire.packet_in(frame, 17, table_id=int(Table.UPLINK)))
    assert isinstance(msg, parser.OFPPacketIn)
    assert (msg.match["in_port"], msg.table_id, bytes(msg.data), msg.buffer_id) == (17, 2, frame, ofp.OFP_NO_BUFFER)
    assert load.UPLINK_TABLE == int(Table.UPLINK)


def test_hello_echo_and_barrier_replies():
    hello = parse(ofwire.hello(3))
    assert isinstance(hello, parser.OFPHello)
    request = ofwire.header(ofp.OFPT_ECHO_REQUEST, 12, 99) + b"ping"
    echo = parse(ofwire.echo_reply(request))
    assert isinstance(echo, parser.OFPEchoReply) and (echo.xid, bytes(echo.data)) == (99, b"ping")
    barrier = parse(ofwire.barrier_reply(5))
    assert isinstance(barrier, parser.OFPBarrierReply) and barrier.xid == 5


def serialized(msg, xid: int = 1) -> bytes:
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def test_splitter_cuts_a_stream_anywhere():
    a = ofwire.barrier_reply(1)
    b = ofwire.packet_in(b"x" * 60, 3)
    c = ofwire.features_reply(2, 5)
    stream = a + b + c
    for cut in range(len(stream) + 1):
        split = ofwire.Splitter()
        got = list(split.feed(stream[:cut])) + list(split.feed(stream[cut:]))
        assert [m for _, _, m in got] == [a, b, c]
        assert [(t, x) for t, x, _ in got] == [(ofp.OFPT_BARRIER_REPLY, 1), (ofp.OFPT_PACKET_IN, 0), (6, 2)]
        assert split.pending == 0
    with pytest.raises(ValueError):
        list(ofwire.Splitter().feed(b"\x04\x00\x00\x02" + bytes(8)))


def test_flow_mod_ipv6_dst_and_command_read_from_ryus_bytes():
    dst = ipaddress.IPv6Network("2001:db8:c:7::/64")
    match = parser.OFPMatch(
        eth_type=0x86DD, ipv6_src=("2001:db8:a:1::", "ffff:ffff:ffff:ffff::"),
        ipv6_dst=(str(dst.network_address), "ffff:ffff:ffff:ffff::"),
    )  # fmt: skip
    fm = parser.OFPFlowMod(Dp(), table_id=2, command=ofp.OFPFC_ADD, priority=300, match=match, instructions=[])
    data = serialized(fm)
    assert ofwire.flow_mod_ipv6_dst(data) == dst.network_address.packed
    assert ofwire.flow_mod_command(data) == ofp.OFPFC_ADD
    other = parser.OFPFlowMod(Dp(), command=ofp.OFPFC_DELETE, match=parser.OFPMatch(in_port=3), instructions=[])
    data = serialized(other)
    assert ofwire.flow_mod_ipv6_dst(data) is None and ofwire.flow_mod_command(data) == ofp.OFPFC_DELETE


def test_packet_out_port_and_data_and_the_ra_prefix():
    ra = ndp.router_advertisement(
        "02:00:00:00:00:fe", "fe80::1", "02:10:00:00:00:01", "fe80::2", ["2001:db8:a:5::/64"], 60
    )
    po = parser.OFPPacketOut(
        Dp(), buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER, actions=[parser.OFPActionOutput(12)], data=ra
    )
    data = serialized(po)
    assert ofwire.packet_out_port(data) == 12
    assert ofwire.packet_out_data(data) == ra
    assert ofwire.ra_prefixes(ra) == [(ipaddress.IPv6Address("2001:db8:a:5::").packed, 64)]
    assert ofwire.ra_prefixes(b"\x00" * 80) == []


class FakeSock:
    def __init__(self) -> None:
        self.sent = b""

    def send(self, data) -> int:
        self.sent += bytes(data)
        return len(data)


def driver_with_switch(dpid: int = 1) -> tuple[load.Driver, load.Switch]:
    d = load.Driver(0, {dpid: [PORT]})
    sw = d.switches[dpid]
    sw.sock = FakeSock()  # type: ignore[assignment]
    return d, sw


def test_driver_answers_the_handshake_echo_and_barriers():
    d, sw = driver_with_switch(0x21)
    d.handle(sw, ofp.OFPT_FEATURES_REQUEST, 4, ofwire.header(ofp.OFPT_FEATURES_REQUEST, 8, 4), 0.0)
    assert parse(sw.sock.sent).datapath_id == 0x21
    sw.sock.sent = b""
    request = serialized(parser.OFPPortDescStatsRequest(Dp(), 0), 8)
    assert not sw.ready
    d.handle(sw, ofp.OFPT_MULTIPART_REQUEST, 8, request, 0.0)
    assert sw.ready and [p.port_no for p in parse(sw.sock.sent).body] == [5]
    sw.sock.sent = b""
    d.handle(sw, ofp.OFPT_BARRIER_REQUEST, 11, ofwire.header(ofp.OFPT_BARRIER_REQUEST, 8, 11), 0.0)
    assert parse(sw.sock.sent).xid == 11 and d.received["barrier"] == 1


def test_driver_completes_events_on_their_messages_only():
    d, sw = driver_with_switch(1)
    dst = ipaddress.IPv6Address("2001:db8:c:7::").packed
    route = load.Event("route", [], ("route", 1, dst[:8]))
    attach = load.Event("attach", [], ("ra", 1, 12))
    d.pending = {route.key: route, attach.key: attach}
    d.route_dpids = {1}
    # a flow-mod for another prefix, a delete for this one: not the route's
    other = parser.OFPMatch(eth_type=0x86DD, ipv6_dst=("2001:db8:c:8::", "ffff:ffff:ffff:ffff::"))
    d.handle(sw, ofp.OFPT_FLOW_MOD, 1, serialized(parser.OFPFlowMod(Dp(), match=other, instructions=[])), 1.0)
    mine = parser.OFPMatch(eth_type=0x86DD, ipv6_dst=("2001:db8:c:7::", "ffff:ffff:ffff:ffff::"))
    delete = parser.OFPFlowMod(Dp(), command=ofp.OFPFC_DELETE, match=mine, instructions=[])
    d.handle(sw, ofp.OFPT_FLOW_MOD, 2, serialized(delete), 2.0)
    assert route.key in d.pending
    d.handle(sw, ofp.OFPT_FLOW_MOD, 3, serialized(parser.OFPFlowMod(Dp(), match=mine, instructions=[])), 3.0)
    assert route.key not in d.pending and route.done == 3.0
    # the RA to port 12 completes the attachment and gives its HNP; a packet-out elsewhere does not
    mac, mn_mac = "02:00:00:00:00:fe", "02:10:00:00:00:01"
    ra = ndp.router_advertisement(mac, "fe80::1", mn_mac, "fe80::2", ["2001:db8:a:5::/64"], 9)
    for port, when in ((13, 4.0), (12, 5.0)):
        po = parser.OFPPacketOut(Dp(), buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                 actions=[parser.OFPActionOutput(port)], data=ra)  # fmt: skip
        d.handle(sw, ofp.OFPT_PACKET_OUT, 4, serialized(po), when)
    assert attach.done == 5.0 and not d.pending
    assert d.hnps[(1, 12)] == ipaddress.IPv6Address("2001:db8:a:5::").packed
    assert d.received == {"flow_mod": 3, "packet_out": 2}


def test_generated_domain_and_events():
    doc = load.domain_doc(8)
    assert len(doc["mobile_nodes"]) == 8 and doc["timers"]["binding_lifetime"] == load.LIFETIME
    assert {m["attach"] for m in doc["mobile_nodes"]} == {"emag1", "emag2", "emag3", "emag4"}
    assert doc["store"] == {"kind": "none"}
    assert load.domain_doc(2, "/tmp/x.db")["store"] == {"kind": "sqlite", "path": "/tmp/x.db"}
    domain = parse_domain(yaml.safe_dump(doc))
    assert len(domain.mobile_nodes) == 8 and domain.timers.binding_lifetime == load.LIFETIME
