"""The in-memory OpenFlow model itself: flow-mod semantics, matching, actions and walks."""

from __future__ import annotations

import pytest
from fakeof import (
    FakeOFError,
    FakeSwitch,
    ForwardingLoop,
    Network,
    ipv6_packet,
    is_delivered,
    switches_crossed,
)

from controller.config import parse_domain
from openflow_rules import flows
from openflow_rules.intents import (
    ETH_TYPE_IPV6,
    ETH_TYPE_MPLS,
    OFPP_IN_PORT,
    FlowMod,
    Output,
    PopMpls,
    PushMpls,
    SetField,
    ToController,
)
from openflow_rules.pipeline import ANY_GEN_MASK, GEN_BIT, Fn, PipelineError, Prio, Table, cookie

V6 = {"eth_type": ETH_TYPE_IPV6}
MAC_A = "02:00:00:00:00:0a"
MAC_R = "02:00:00:00:00:01"


def pkt(dst: str = "2001:db8:a:1::10", src: str = "2001:db8:f::10", **fields) -> dict:
    return ipv6_packet(src, dst, MAC_A, MAC_R, **fields)


def add(sw: FakeSwitch, table: int, prio: int, match: dict, actions=(), goto=None, cookie=0) -> FlowMod:
    fm = FlowMod(sw.dpid, table, prio, match, tuple(actions), goto=goto, cookie=cookie)
    sw.apply(fm)
    return fm


def outputs(sw: FakeSwitch, packet: dict, in_port: int = 1) -> list[int]:
    return [port for port, _ in sw.process(packet, in_port).outputs]


@pytest.fixture
def sw() -> FakeSwitch:
    """A plain OpenFlow 1.3 switch: these tests are about the model, with flows that are not
    epmip's (the pipeline check has its own tests below and in test_pipeline.py)."""
    return FakeSwitch(7, "s7", pipeline=False)


# ------------------------------------------------------------------ add / replace


def test_add_with_identical_match_and_priority_replaces_and_keeps_counters(sw):
    """OpenFlow 1.3 §6.4: the replaced flow's counters are copied unless OFPFF_RESET_COUNTS (never
    set by epmip); the new cookie, actions and goto take effect."""
    add(sw, 0, 10, {**V6, "ipv6_dst": "2001:db8:a::/48"}, [Output(2)], cookie=1)
    assert outputs(sw, pkt()) == [2]
    add(sw, 0, 10, {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": "2001:0DB8:000A::/48"}, [Output(3)], goto=3, cookie=2)
    (flow,) = sw.flows()
    assert (flow.packets, flow.cookie, flow.actions, flow.goto) == (1, 2, (Output(3),), 3)
    assert outputs(sw, pkt()) == [3]
    assert sw.flows()[0].packets == 2
    # a delete and a fresh add start from zero
    sw.apply(FlowMod(sw.dpid, 0, 10, {**V6, "ipv6_dst": "2001:db8:a::/48"}, command="delete_strict"))
    add(sw, 0, 10, {**V6, "ipv6_dst": "2001:db8:a::/48"}, [Output(2)])
    assert sw.flows()[0].packets == 0


def test_same_match_at_another_priority_is_another_flow(sw):
    add(sw, 0, 10, {**V6, "ipv6_dst": "2001:db8:a::/48"}, [Output(2)])
    add(sw, 0, 20, {**V6, "ipv6_dst": "2001:db8:a::/48"}, [Output(3)])
    assert len(sw.flows()) == 2
    assert outputs(sw, pkt()) == [3]  # the higher priority wins


def test_overlapping_flows_at_one_priority_are_rejected(sw):
    add(sw, 0, 10, {**V6, "ipv6_dst": "2001:db8:a::/48"}, [Output(2)])
    with pytest.raises(FakeOFError, match="overlaps"):
        add(sw, 0, 10, {**V6, "ipv6_dst": "2001:db8:a:1::/64"}, [Output(3)])
    with pytest.raises(FakeOFError, match="overlaps"):
        add(sw, 0, 10, {**V6, "in_port": 4}, [Output(3)])  # a packet could match both
    assert [f.actions for f in sw.flows()] == [(Output(2),)]  # a rejected add changes nothing
    add(sw, 0, 10, {**V6, "ipv6_dst": "2001:db8:b::/48"}, [Output(3)])  # disjoint: fine
    add(sw, 0, 11, {**V6, "ipv6_dst": "2001:db8:a:1::/64"}, [Output(4)])  # other priority: fine
    add(sw, 1, 10, {**V6, "ipv6_dst": "2001:db8:a:1::/64"}, [Output(4)])  # other table: fine
    add(sw, 0, 10, {"eth_type": ETH_TYPE_MPLS}, [Output(5)])  # other eth_type: disjoint
    assert len(sw.flows()) == 5


def test_match_prerequisites_and_bad_goto_are_rejected(sw):
    with pytest.raises(FakeOFError, match="BAD_PREREQ"):
        add(sw, 0, 10, {"ipv6_dst": "2001:db8:a::/48"})
    with pytest.raises(FakeOFError, match="BAD_PREREQ"):
        add(sw, 0, 10, {**V6, "mpls_label": 5})
    with pytest.raises(FakeOFError, match="BAD_TABLE_ID"):
        add(sw, 2, 10, V6, goto=1)
    with pytest.raises(FakeOFError, match="not modelled"):
        add(sw, 0, 10, {"vlan_vid": 5})
    with pytest.raises(FakeOFError, match="needs a table"):
        sw.apply(FlowMod(sw.dpid, None, 10, V6))
    assert sw.flows() == []


# ------------------------------------------------------------------ delete / delete_strict


def _three_routes(sw: FakeSwitch) -> None:
    add(sw, 3, 400, {**V6, "ipv6_dst": "2001:db8:a::/48"}, [Output(1)], cookie=0xE9_01 << 48)
    add(sw, 3, 800, {**V6, "ipv6_dst": "2001:db8:a:1::/64"}, [Output(2)], cookie=0xE9_03 << 48 | 7)
    add(sw, 3, 800, {**V6, "ipv6_dst": "2001:db8:b:1::/64"}, [Output(3)], cookie=0xE9_03 << 48 | 8)
    add(sw, 0, 400, {**V6, "in_port": 1}, goto=3, cookie=0xE9_01 << 48)


def test_non_strict_delete_removes_every_flow_at_least_as_specific(sw):
    _three_routes(sw)
    sw.apply(FlowMod(sw.dpid, 3, 0, {**V6, "ipv6_dst": "2001:db8:a::/48"}, command="delete"))
    left = [f.match.get("ipv6_dst") for f in sw.flows()]
    # the /48 itself and the /64 inside it went, whatever their priority; the rest stayed
    assert left == [None, "2001:db8:b:1::/64"]


def test_non_strict_delete_with_an_empty_match_and_no_table_clears_everything(sw):
    _three_routes(sw)
    sw.apply(FlowMod(sw.dpid, None, 0, {}, command="delete"))
    assert sw.flows() == []


def test_non_strict_delete_is_limited_to_its_table(sw):
    _three_routes(sw)
    sw.apply(FlowMod(sw.dpid, 0, 0, {}, command="delete"))
    assert len(sw.flows()) == 3
    assert sw.flows(table=0) == []


def test_delete_selects_by_cookie_under_the_mask(sw):
    _three_routes(sw)
    full = (1 << 64) - 1
    sw.apply(FlowMod(sw.dpid, None, 0, {}, cookie=0xE9_03 << 48 | 7, cookie_mask=full, command="delete"))
    assert [f.cookie & 0xFF for f in sw.flows(table=3)] == [8, 0]
    fn_mask = 0xFFFF << 48
    sw.apply(FlowMod(sw.dpid, None, 0, {}, cookie=0xE9_01 << 48, cookie_mask=fn_mask, command="delete"))
    assert len(sw.flows()) == 1 and sw.flows()[0].cookie == 0xE9_03 << 48 | 8


def test_delete_strict_needs_the_exact_match_and_priority(sw):
    _three_routes(sw)
    a48 = {**V6, "ipv6_dst": "2001:db8:a::/48"}
    sw.apply(FlowMod(sw.dpid, 3, 800, a48, command="delete_strict"))  # wrong priority
    sw.apply(FlowMod(sw.dpid, 3, 400, {**V6, "ipv6_dst": "2001:db8::/32"}, command="delete_strict"))
    assert len(sw.flows()) == 4
    sw.apply(FlowMod(sw.dpid, 3, 400, a48, command="delete_strict"))
    # the more specific /64 under it survives a strict delete
    assert [f.match.get("ipv6_dst") for f in sw.flows(table=3)] == [
        "2001:db8:a:1::/64",
        "2001:db8:b:1::/64",
    ]


def test_delete_strict_honours_the_cookie_mask(sw):
    _three_routes(sw)
    a64 = {**V6, "ipv6_dst": "2001:db8:a:1::/64"}
    full = (1 << 64) - 1
    sw.apply(
        FlowMod(
            sw.dpid,
            3,
            800,
            a64,
            cookie=0xE9_03 << 48 | 9,
            cookie_mask=full,
            command="delete_strict",
        )
    )
    assert len(sw.flows()) == 4
    sw.apply(
        FlowMod(
            sw.dpid,
            3,
            800,
            a64,
            cookie=0xE9_03 << 48 | 7,
            cookie_mask=full,
            command="delete_strict",
        )
    )
    assert len(sw.flows()) == 3


def test_delete_cookie_mask_covers_the_generation_bit_only_when_asked(sw):
    obj7, gen = 0xE9_03 << 48 | 7, GEN_BIT
    add(sw, 3, 800, {**V6, "ipv6_dst": "2001:db8:a:1::/64"}, [Output(2)], cookie=obj7)
    add(sw, 3, 800, {**V6, "ipv6_dst": "2001:db8:a:2::/64"}, [Output(2)], cookie=obj7 | gen)
    # the mask includes G: only the flow of that generation goes
    sw.apply(FlowMod(sw.dpid, None, 0, {}, cookie=obj7 | gen, cookie_mask=(1 << 64) - 1, command="delete"))
    assert [f.cookie for f in sw.flows()] == [obj7]
    add(sw, 3, 800, {**V6, "ipv6_dst": "2001:db8:a:2::/64"}, [Output(2)], cookie=obj7 | gen)
    # the mask leaves G out: both generations go
    sw.apply(FlowMod(sw.dpid, None, 0, {}, cookie=obj7, cookie_mask=ANY_GEN_MASK, command="delete"))
    assert sw.flows() == []


# ------------------------------------------------------------------ the pipeline check


@pytest.fixture
def epmip_sw() -> FakeSwitch:
    return FakeSwitch(1, "e1")


def test_the_pipeline_is_checked_by_default_and_on_every_network_switch(fake):
    assert FakeSwitch(1).pipeline
    assert all(sw.pipeline for sw in fake.net.switches.values())


@pytest.mark.parametrize(
    ("fm", "message"),
    [
        (
            FlowMod(1, Table.UPLINK, Prio.ANCHOR, {**V6, "ipv6_src": "2001:db8:a:1::/64"}, goto=Table.CLASSIFY,
                    cookie=cookie(Fn.ACCESS, 1)),
            "table UPLINK: goto CLASSIFY not allowed; allowed goto: ROUTE",
        ),
        (
            FlowMod(1, Table.LABEL, Prio.TRANSIT, {"eth_type": ETH_TYPE_MPLS, "mpls_label": 5, "in_port": 2},
                    (Output(3),), cookie=cookie(Fn.BASE)),
            "table LABEL: match field 'in_port' not allowed; allowed: eth_type, mpls_label",
        ),
        (
            FlowMod(1, Table.CLASSIFY, Prio.DELIVER, {**V6, "in_port": 2}, goto=Table.ROUTE, cookie=cookie(Fn.BASE)),
            "table CLASSIFY: priority 900 (that is DELIVER of ROUTE) is not one of its bands",
        ),
        (
            FlowMod(1, Table.ROUTE, Prio.PREFIX, {**V6, "ipv6_dst": "2001:db8:a::/48"}, (Output(2),),
                    cookie=0xE9_7F << 48),
            "table ROUTE: cookie 0xe97f000000000000 has function 127, not one of BASE=1",
        ),
    ],
    ids=["goto-backwards", "match-field", "priority-band", "unknown-fn"],
)  # fmt: skip
def test_the_pipeline_refuses_what_it_does_not_allow(epmip_sw, fm, message):
    flows_before = epmip_sw.flows()
    with pytest.raises(FakeOFError) as info:
        epmip_sw.apply(fm)
    assert message in str(info.value) and str(info.value).startswith("e1: the pipeline refuses it: ")
    assert isinstance(info.value.__cause__, PipelineError)
    assert epmip_sw.flows() == flows_before  # a refused flow-mod changes nothing


def test_make_before_break_resync_keeps_the_reinstalled_flows_and_their_counters(epmip_sw):
    """What a reconnect can do with the generation bit: re-add every flow in generation 1 (each
    replaces its generation-0 self in place, counters kept), then delete what is left of 0."""
    sw = epmip_sw
    trunk = flows.install_trunk(1, 1)
    kept = flows.install_prefix_route(1, "2001:db8:a::/48", 2)
    gone = flows.install_prefix_route(1, "2001:db8:b::/48", 2)
    for fm in (trunk, kept, gone):
        sw.apply(fm)
    assert outputs(sw, pkt(), 1) == [2]
    for fm in (trunk, kept):
        sw.apply(flows.in_generation(fm, 1))
    assert len(sw.flows()) == 3
    sw.apply(flows.delete_stale(1, 1))
    assert [(f.match.get("ipv6_dst"), f.cookie, f.packets) for f in sw.flows()] == [
        (None, trunk.cookie | GEN_BIT, 1),
        ("2001:db8:a::/48", kept.cookie | GEN_BIT, 1),
    ]
    # the object deletes still find them in generation 1
    sw.apply(flows.delete_prefix_route(1, "2001:db8:a::/48", 2))
    sw.apply(flows.delete_trunk(1, 1))
    assert sw.flows() == []


# ------------------------------------------------------------------ matching and actions


def test_prefix_fields_match_by_containment_and_addresses_exactly(sw):
    add(sw, 0, 10, {**V6, "ipv6_dst": "2001:db8:a:1::/64"}, [Output(2)])
    add(sw, 0, 20, {**V6, "ipv6_dst": "2001:db8:a:1::10/128"}, [Output(3)])
    assert outputs(sw, pkt("2001:db8:a:1::10")) == [3]
    assert outputs(sw, pkt("2001:db8:a:1::11")) == [2]
    assert outputs(sw, pkt("2001:db8:a:2::10")) == []


def test_output_to_the_in_port_is_dropped_unless_in_port_or_it_is_cleared(sw):
    add(sw, 0, 10, {**V6, "in_port": 1}, [Output(1)])
    add(sw, 0, 10, {**V6, "in_port": 2}, [Output(OFPP_IN_PORT)])
    add(sw, 0, 10, {**V6, "in_port": 3}, [SetField("in_port", 0), Output(3)])
    result = sw.process(pkt(), 1)
    assert result.outputs == [] and result.suppressed == [1]
    assert outputs(sw, pkt(), 2) == [2]  # OFPP_IN_PORT hairpins
    assert outputs(sw, pkt(), 3) == [3]  # in_port cleared first: the port is an ordinary output


def test_push_set_and_pop_mpls(sw):
    add(sw, 0, 10, V6, [PushMpls(), SetField("mpls_label", 11), Output(2)], goto=1)
    add(
        sw,
        1,
        10,
        {"eth_type": ETH_TYPE_MPLS, "mpls_label": 11},
        [PushMpls(), SetField("mpls_label", 12), Output(3)],
    )
    result = sw.process(pkt(), 1)
    (p1, first), (p2, second) = result.outputs
    assert (p1, first["eth_type"], first["mpls"]) == (2, ETH_TYPE_MPLS, [11])
    assert (p2, second["mpls"]) == (3, [12, 11])  # the pushed label started as a copy
    popper = FakeSwitch(8, pipeline=False)
    add(popper, 0, 10, {"eth_type": ETH_TYPE_MPLS, "mpls_label": 12}, [PopMpls(), Output(4)], goto=1)
    add(
        popper,
        1,
        10,
        {"eth_type": ETH_TYPE_MPLS, "mpls_label": 11},
        [PopMpls(ETH_TYPE_IPV6), Output(5)],
    )
    (_, once), (_, twice) = popper.process(second, 1).outputs
    assert (once["eth_type"], once["mpls"]) == (ETH_TYPE_MPLS, [11])  # still labelled
    assert (twice["eth_type"], twice["mpls"]) == (ETH_TYPE_IPV6, [])
    assert twice["ipv6_dst"] == "2001:db8:a:1::10"


def test_mpls_label_matches_only_the_outer_label_of_an_mpls_packet(sw):
    add(sw, 0, 10, {"eth_type": ETH_TYPE_MPLS, "mpls_label": 11}, [Output(2)])
    assert outputs(sw, pkt(eth_type=ETH_TYPE_MPLS, mpls=[11, 5])) == [2]
    assert outputs(sw, pkt(eth_type=ETH_TYPE_MPLS, mpls=[5, 11])) == []
    assert outputs(sw, pkt(mpls=[11])) == []  # a stale stack on an IPv6 packet does not count


def test_pop_or_set_label_without_mpls_is_an_error(sw):
    add(sw, 0, 10, V6, [PopMpls()])
    with pytest.raises(FakeOFError):
        sw.process(pkt(), 1)
    other = FakeSwitch(9, pipeline=False)
    add(other, 0, 10, V6, [SetField("mpls_label", 3)])
    with pytest.raises(FakeOFError):
        other.process(pkt(), 1)


def test_set_field_rewrites_headers(sw):
    add(
        sw,
        0,
        10,
        V6,
        [SetField("eth_src", MAC_R), SetField("eth_dst", "02:00:00:00:01:01"), Output(2)],
    )
    ((_, out),) = sw.process(pkt(), 1).outputs
    assert (out["eth_src"], out["eth_dst"]) == (MAC_R, "02:00:00:00:01:01")


def test_goto_continues_in_the_later_table_and_counts_every_flow(sw):
    add(sw, 0, 10, V6, goto=3)
    add(sw, 3, 10, {**V6, "ipv6_dst": "2001:db8:a::/48"}, [Output(2)])
    result = sw.process(pkt(), 1)
    assert [t for t, _ in result.hits] == [0, 3]
    assert [port for port, _ in result.outputs] == [2]
    assert [f.packets for f in sw.flows()] == [1, 1]


def test_table_miss_drops(sw):
    add(sw, 0, 10, V6, goto=3)
    result = sw.process(pkt(), 1)
    assert result.hits[-1] == (3, None)
    assert result.outputs == [] and result.packet_ins == []
    assert FakeSwitch(1, pipeline=False).process(pkt(), 1).hits == [(0, None)]


def test_to_controller_records_a_packet_in(sw):
    add(sw, 0, 10, {**V6, "ip_proto": 58, "icmpv6_type": 133}, [ToController()])
    result = sw.process(pkt(ip_proto=58, icmpv6_type=133), 4)
    assert len(result.packet_ins) == 1 and result.packet_ins[0]["in_port"] == 4
    assert sw.process(pkt(), 4).packet_ins == []


# ------------------------------------------------------------------ walks across switches

LINE = """
switches:
  - {name: a, dpid: 1, role: core, address: "2001:db8:ffff::1"}
  - {name: b, dpid: 2, role: core, address: "2001:db8:ffff::2"}
  - {name: c, dpid: 3, role: core, address: "2001:db8:ffff::3"}
links:
  - [a, b]
  - [b, c]
"""


@pytest.fixture
def line() -> Network:
    """a(1) -- (1)b(2) -- (1)c, with a host on c port 2."""
    net = Network(parse_domain(LINE), pipeline=False)
    net.host_ports[("c", 2)] = "h"
    return net


def _route(net: Network, switch: str, port: int) -> None:
    add(net.switches[switch], 0, 10, V6, [Output(port)])


def test_walk_follows_links_to_a_host_port(line):
    _route(line, "a", 1)
    _route(line, "b", 2)
    _route(line, "c", 2)
    trace = line.walk("a", 9, pkt())
    assert switches_crossed(trace) == ["a", "b", "c"]
    assert is_delivered(trace, "c", 2)
    assert [a[1] for a in trace.arrivals] == [9, 1, 1]  # in_port set from the link at each switch


def test_walk_reports_drops_and_unknown_ports(line):
    _route(line, "a", 1)
    trace = line.walk("a", 9, pkt())
    assert trace.outcome.kind == "dropped" and trace.outcome.switch == "b"
    assert "miss" in trace.outcome.why
    _route(line, "b", 7)  # nothing on b port 7
    trace = line.walk("a", 9, pkt())
    assert (trace.outcome.kind, trace.outcome.port) == ("dropped", 7)


def test_walk_detects_a_forwarding_loop(line):
    # a and b each send everything back out port 1, ingress port or not: ping-pong
    for name in ("a", "b"):
        add(line.switches[name], 0, 10, V6, [SetField("in_port", 0), Output(1)])
    with pytest.raises(ForwardingLoop):
        line.walk("a", 9, pkt())
