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


def test_match_address_bytes_parse_as_ipaddress_does():
    """``_ipv6`` (inet_pton, ipaddress only for what it refuses) gives ipaddress's bytes and raises
    where ipaddress raises (host bits set, a bad length, junk)."""
    import ipaddress
    import random

    from apps import ofp_adapter

    def want(value: str) -> bytes:
        if "/" in value:
            net = ipaddress.IPv6Network(value)
            return net.network_address.packed + net.netmask.packed
        return ipaddress.IPv6Address(value).packed

    rng = random.Random(11)
    cases = ["::/0", "::1", "2001:db8::/64", "2001:db8::1/64", "2001:db8::/129", "2001:db8::/-1", "2001:db8::/ 64",
             "2001:db8::/+64", "2001:DB8::/64", "fe80::1%eth0", "::/64x", "1::/", "junk", "::ffff:1.2.3.4"]  # fmt: skip
    for _ in range(3000):
        plen = rng.choice([0, 1, 48, 64, 127, 128])
        a = rng.getrandbits(128)
        cases += [f"{ipaddress.IPv6Address(a >> (128 - plen) << (128 - plen) if plen else 0)}/{plen}",
                  f"{ipaddress.IPv6Address(a)}/{plen}", str(ipaddress.IPv6Address(a))]  # fmt: skip
    for case in cases:
        ofp_adapter._IPV6_CACHE.clear()
        try:
            expected: object = want(case)
        except ValueError:
            expected = ValueError
        try:
            got: object = ofp_adapter._ipv6(case)
        except ValueError:
            got = ValueError
        assert got == expected, case
