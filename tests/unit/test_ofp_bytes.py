"""The byte templates of apps/ofp_adapter.py give exactly what Ryu's own message objects serialize
to, for every flow builder (its install and its delete, in both cookie generations), packet-outs
and barriers; what the templates do not cover falls back to Ryu and still gives those bytes."""

from __future__ import annotations

import pytest
from flow_samples import CASES, case_id, delete_for, install
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from apps import ofp_adapter
from openflow_rules import flows
from openflow_rules.intents import Barrier, FlowMod, Output, PacketOut, SetField


class Dp:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser


def ryu_bytes(intent, xid: int) -> bytes:
    msg = ofp_adapter.to_ryu(Dp(), intent)
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_every_flow_builder_and_its_delete_pack_as_ryu_serializes(case):
    name, extra = case
    intents = [*install(name, 0, extra), *install(name, 1, extra), *delete_for(name, 0, extra)]
    assert intents
    for fm in intents:
        for variant in (fm, flows.in_generation(fm, 1)):
            assert ofp_adapter.to_bytes(Dp(), variant, 77) == ryu_bytes(variant, 77), variant.describe()
            if not any(isinstance(a, SetField) and a.field == "in_port" for a in fm.actions):
                # the template path itself, not the fallback
                assert ofp_adapter.flow_mod_bytes(variant, 77) == ryu_bytes(variant, 77)


def test_stale_delete_packet_out_and_barrier_pack_as_ryu_serializes():
    for intent in (
        flows.delete_stale(7, 0),
        flows.delete_stale(7, 1),
        PacketOut(7, 3, b"\x01" * 70),
        PacketOut(7, ofproto_v1_3.OFPP_TABLE, b"\x02" * 60, in_port=4),
        Barrier(7),
    ):
        assert ofp_adapter.to_bytes(Dp(), intent, 0xFFFFFFFF) == ryu_bytes(intent, 0xFFFFFFFF)


def test_what_the_templates_do_not_cover_falls_back_to_ryu():
    reg_load = FlowMod(1, 0, 10, {"in_port": 2, "eth_type": 0x86DD}, (SetField("in_port", 0), Output(3)))
    odd_field = FlowMod(1, 0, 10, {"vlan_vid": 0x1005}, (Output(3),))
    for fm in (reg_load, odd_field):
        with pytest.raises(ofp_adapter.Unsupported):
            ofp_adapter.flow_mod_bytes(fm, 1)
        assert ofp_adapter.to_bytes(Dp(), fm, 1) == ryu_bytes(fm, 1)


def test_host_and_prefix_matches_carry_their_masks():
    m = ofp_adapter.match_bytes({"eth_type": 0x86DD, "ipv6_dst": "2001:db8:a:1::/64", "ipv6_src": "2001:db8::1/128"})
    ref = bytearray()
    full = "ffff:" * 7 + "ffff"
    ofproto_v1_3_parser.OFPMatch(
        eth_type=0x86DD, ipv6_dst=("2001:db8:a:1::", "ffff:ffff:ffff:ffff::"), ipv6_src=("2001:db8::1", full)
    ).serialize(ref, 0)
    assert m == bytes(ref) and len(m) % 8 == 0
