"""controller/ndp.py: the frames it builds are byte for byte what ryu.lib.packet builds for the same
inputs (the library the module used before it went standard-library only), what it builds it parses
back, and ``parse`` rejects what RFC 4861 §6.1.1/§7.1.1 says a router must silently discard."""

from __future__ import annotations

import random
import struct

import pytest
from ryu.lib import addrconv
from ryu.lib.packet import ethernet, icmpv6, ipv6, packet, packet_utils

from controller import ndp

ROUTER_MAC = "02:00:00:00:00:01"
ROUTER_LL = "fe80::1"
MN_MAC = "02:00:00:00:01:01"
MN_LL = "fe80::200:ff:fe00:101"
MN_GUA = "2001:db8:a:1::10"


# ------------------------------------------------------------------ the same frames built by ryu


def ryu_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, body: icmpv6.icmpv6) -> bytes:
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst=dst_mac, src=src_mac, ethertype=0x86DD))
    pkt.add_protocol(ipv6.ipv6(src=src_ip, dst=dst_ip, nxt=58, hop_limit=255))
    pkt.add_protocol(body)
    pkt.serialize()
    return bytes(pkt.data)


def ryu_ra(router_mac, router_ll, dst_mac, dst_ip, prefixes, valid_lifetime, router_lifetime=1800, mtu=1500):
    # the MTU option as raw bytes: ryu.lib.packet has no class for it
    options = [icmpv6.nd_option_sla(hw_src=router_mac), struct.pack("!BBHI", 5, 1, 0, mtu)]
    for prefix in prefixes:
        net, plen = prefix.split("/")
        options.append(
            icmpv6.nd_option_pi(pl=int(plen), res1=0b010, val_l=valid_lifetime, pre_l=valid_lifetime, prefix=net)
        )
    ra = icmpv6.nd_router_advert(ch_l=64, res=0, rou_l=router_lifetime, options=options)
    return ryu_frame(router_mac, dst_mac, router_ll, dst_ip, icmpv6.icmpv6(type_=icmpv6.ND_ROUTER_ADVERT, data=ra))


def ryu_na(router_mac, router_ll, dst_mac, dst_ip, solicited=True):
    na = icmpv6.nd_neighbor(
        res=0b101 | (0b010 if solicited else 0), dst=router_ll, option=icmpv6.nd_option_tla(hw_src=router_mac)
    )
    dst_ip = ndp.ALL_NODES if dst_ip == "::" else dst_ip
    return ryu_frame(router_mac, dst_mac, router_ll, dst_ip, icmpv6.icmpv6(type_=icmpv6.ND_NEIGHBOR_ADVERT, data=na))


RA_CASES = {
    "one-hnp-all-nodes": (ROUTER_MAC, ROUTER_LL, MN_MAC, ndp.ALL_NODES, ["2001:db8:a:1::/64"], 60),
    "unicast-to-rs-source": (ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, ["2001:db8:a:1::/64"], 3600),
    "no-prefix": (ROUTER_MAC, ROUTER_LL, MN_MAC, ndp.ALL_NODES, [], 1),
    "three-prefixes": ("0a:1b:2c:3d:4e:5f", "fe80::abcd", "02:ff:00:00:00:07", "fe80::7",
                       ["2001:db8:a:1::/64", "2001:db8:c::/48", "2001:db8:1:5::/64"], 0xFFFFFFFF),
    "lifetimes-and-mtu": (ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, ["2001:db8::/56"], 30, 0, 1280),
    "max-router-lifetime": (ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, ["2001:db8::/64"], 30, 9000, 9000),
}  # fmt: skip


@pytest.mark.parametrize("args", list(RA_CASES.values()), ids=list(RA_CASES))
def test_router_advertisement_is_byte_for_byte_what_ryu_builds(args):
    assert ndp.router_advertisement(*args) == ryu_ra(*args)


def test_router_advertisement_keyword_defaults_match_ryu():
    built = ndp.router_advertisement(ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, ["2001:db8::/64"], valid_lifetime=5)
    assert built == ryu_ra(ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, ["2001:db8::/64"], 5, 1800, 1500)


NA_CASES = {
    "solicited": (ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, True),
    "unsolicited": (ROUTER_MAC, ROUTER_LL, MN_MAC, MN_GUA, False),
    "dad-answer-to-all-nodes": (ROUTER_MAC, ROUTER_LL, MN_MAC, "::", False),
    "other-router-address": ("0a:1b:2c:3d:4e:5f", "fe80::abcd:1", "02:ff:00:00:00:07", "fe80::7", True),
}


@pytest.mark.parametrize("args", list(NA_CASES.values()), ids=list(NA_CASES))
def test_neighbour_advertisement_is_byte_for_byte_what_ryu_builds(args):
    assert ndp.neighbour_advertisement(*args) == ryu_na(*args)


def test_neighbour_advertisement_defaults_to_solicited():
    assert ndp.neighbour_advertisement(ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL) == ryu_na(
        ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, True
    )


def test_dad_answer_goes_to_all_nodes():
    pkt = packet.Packet(ndp.neighbour_advertisement(ROUTER_MAC, ROUTER_LL, MN_MAC, "::", solicited=False))
    assert pkt.get_protocol(ipv6.ipv6).dst == ndp.ALL_NODES == "ff02::1"
    assert not pkt.get_protocol(icmpv6.icmpv6).data.res & 0b010


def test_host_side_builders_match_ryu():
    rs = icmpv6.icmpv6(type_=icmpv6.ND_ROUTER_SOLICIT,
                       data=icmpv6.nd_router_solicit(option=icmpv6.nd_option_sla(hw_src=MN_MAC)))  # fmt: skip
    assert ndp.router_solicitation(MN_MAC, MN_LL) == ryu_frame(MN_MAC, "33:33:00:00:00:02", MN_LL, "ff02::2", rs)
    rs0 = icmpv6.icmpv6(type_=icmpv6.ND_ROUTER_SOLICIT, data=icmpv6.nd_router_solicit())
    assert ndp.router_solicitation(MN_MAC) == ryu_frame(MN_MAC, "33:33:00:00:00:02", "::", "ff02::2", rs0)
    ns = icmpv6.icmpv6(type_=icmpv6.ND_NEIGHBOR_SOLICIT,
                       data=icmpv6.nd_neighbor(dst="fe80::1", option=icmpv6.nd_option_sla(hw_src=MN_MAC)))  # fmt: skip
    assert ndp.neighbour_solicitation(MN_MAC, MN_LL, "fe80::1") == ryu_frame(
        MN_MAC, "33:33:ff:00:00:01", MN_LL, "ff02::1:ff00:1", ns
    )
    dad = icmpv6.icmpv6(type_=icmpv6.ND_NEIGHBOR_SOLICIT, data=icmpv6.nd_neighbor(dst=MN_GUA))
    assert ndp.neighbour_solicitation(MN_MAC, "::", MN_GUA) == ryu_frame(
        MN_MAC, "33:33:ff:00:00:10", "::", "ff02::1:ff00:10", dad
    )


def test_built_frames_have_a_valid_icmpv6_checksum():
    frames = [ndp.router_advertisement(*args) for args in RA_CASES.values()]
    frames += [ndp.neighbour_advertisement(*args) for args in NA_CASES.values()]
    for frame in frames:
        ip6 = packet.Packet(frame).get_protocol(ipv6.ipv6)
        body = frame[54:]
        assert ip6.payload_length == len(body) and ip6.hop_limit == 255
        assert packet_utils.checksum_ip(ip6, len(body), body) == 0


def test_router_advertisement_rejects_a_bad_mac():
    with pytest.raises(ValueError, match="MAC"):
        ndp.router_advertisement("02:00:00:00:01", ROUTER_LL, MN_MAC, MN_LL, [], 1)
    with pytest.raises(ValueError, match="MAC"):
        ndp.neighbour_advertisement(ROUTER_MAC, ROUTER_LL, "02:00:00:00:01:zz", MN_LL)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("src", [MN_LL, MN_GUA, "::"])
def test_router_solicitation_round_trip(src):
    assert ndp.parse(ndp.router_solicitation(MN_MAC, src)) == ndp.NdMessage("rs", MN_MAC, src)


@pytest.mark.parametrize("src", [MN_LL, MN_GUA, "::"])
@pytest.mark.parametrize("target", [ROUTER_LL, "fe80::77", "2001:db8:a:1::abcd:ef12"])
def test_neighbour_solicitation_round_trip(src, target):
    assert ndp.parse(ndp.neighbour_solicitation(MN_MAC, src, target)) == ndp.NdMessage("ns", MN_MAC, src, target)


def test_parse_agrees_with_ryu_on_addresses():
    for frame in (ndp.router_solicitation("0A:1B:2C:3D:4E:5F", "FE80::0:0:ABCD"),
                  ndp.neighbour_solicitation("0a:1b:2c:3d:4e:5f", "fe80:0::abcd", "FE80::1")):  # fmt: skip
        pkt = packet.Packet(frame)
        msg = ndp.parse(frame)
        assert msg.eth_src == pkt.get_protocol(ethernet.ethernet).src == "0a:1b:2c:3d:4e:5f"
        assert msg.ipv6_src == pkt.get_protocol(ipv6.ipv6).src == "fe80::abcd"
    assert msg.target == pkt.get_protocol(icmpv6.icmpv6).data.dst == "fe80::1"


def test_ethernet_padding_after_the_payload_is_ignored():
    rs = ndp.router_solicitation(MN_MAC)
    assert ndp.parse(rs + bytes(4)) == ndp.parse(rs)
    assert ndp.parse(bytearray(rs)) == ndp.parse(rs)  # what a buffer from the switch may be


def test_unknown_options_are_skipped():
    frame = nd(133, bytes(4) + bytes([14, 1]) + bytes(6) + sla(MN_MAC), src=MN_LL)  # type 14 (nonce) first
    assert ndp.parse(frame) == ndp.NdMessage("rs", MN_MAC, MN_LL)


# ------------------------------------------------------------------ rejections


def sla(mac: str) -> bytes:
    return bytes([1, 1]) + bytes.fromhex(mac.replace(":", ""))


def nd(
    icmp_type: int,
    body: bytes,
    src: str = MN_LL,
    dst: str = "ff02::2",
    hop_limit: int = 255,
    code: int = 0,
    checksum: int | None = None,
    next_header: int = 58,
    version: int = 6,
    ethertype: int = 0x86DD,
) -> bytes:
    """An ND frame with every field under the test's control; the checksum is right unless given
    (computed with ryu's packet_utils, not with the code under test)."""
    s, d = addrconv.ipv6.text_to_bin(src), addrconv.ipv6.text_to_bin(dst)
    message = struct.pack("!BBH", icmp_type, code, 0) + body
    if checksum is None:
        pseudo = s + d + struct.pack("!I3xB", len(message), 58)
        checksum = packet_utils.checksum(pseudo + message)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    eth = bytes.fromhex("333300000002" + MN_MAC.replace(":", "")) + struct.pack("!H", ethertype)
    return eth + struct.pack("!IHBB", version << 28, len(message), next_header, hop_limit) + s + d + message


RS_BODY = bytes(4) + sla(MN_MAC)
NS_ROUTER = bytes(4) + addrconv.ipv6.text_to_bin(ROUTER_LL) + sla(MN_MAC)
SOLICITED_ROUTER = "ff02::1:ff00:1"
GOOD_RS = nd(133, RS_BODY)
GOOD_NS = nd(135, NS_ROUTER, dst=SOLICITED_ROUTER)

REJECTED = {
    "empty": (b"", "shorter than an Ethernet header"),
    "short-ethernet": (GOOD_RS[:13], "shorter than an Ethernet header"),
    "ipv4": (nd(133, RS_BODY, ethertype=0x0800), "not IPv6 \\(ethertype 0x0800\\)"),
    "vlan-tagged": (nd(133, RS_BODY, ethertype=0x8100), "not IPv6"),
    "short-ipv6-header": (GOOD_RS[: 14 + 39], "shorter than an IPv6 header"),
    "ipv6-version-4": (nd(133, RS_BODY, version=4), "version 4"),
    "not-icmpv6": (nd(133, RS_BODY, next_header=17), "next header 17 is not ICMPv6"),
    "hop-by-hop-first": (nd(133, RS_BODY, next_header=0), "next header 0 is not ICMPv6"),
    "truncated-payload": (GOOD_RS[:-9], "payload length 16 but only 7 bytes"),
    "icmp-header-short": (GOOD_RS[:18] + b"\x00\x02" + GOOD_RS[20:56], "ICMPv6 message of 2 bytes is shorter"),
    "echo-request": (nd(128, bytes(4)), "ICMPv6 type 128 is not one the router answers"),
    "router-advertisement": (ndp.router_advertisement(ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL, [], 1), "type 134"),
    "neighbour-advertisement": (ndp.neighbour_advertisement(ROUTER_MAC, ROUTER_LL, MN_MAC, MN_LL), "type 136"),
    "rs-hop-limit-64": (nd(133, RS_BODY, hop_limit=64), "hop limit 64, expected 255"),
    "ns-hop-limit-1": (nd(135, NS_ROUTER, dst=SOLICITED_ROUTER, hop_limit=1), "hop limit 1, expected 255"),
    "rs-code-1": (nd(133, RS_BODY, code=1), "Router Solicitation with ICMP code 1"),
    "ns-code-9": (nd(135, NS_ROUTER, dst=SOLICITED_ROUTER, code=9), "Neighbour Solicitation with ICMP code 9"),
    "rs-bad-checksum": (GOOD_RS[:-1] + bytes([GOOD_RS[-1] ^ 0xFF]), "Router Solicitation with a wrong ICMPv6 checksum"),
    "rs-zero-checksum": (nd(133, RS_BODY, checksum=0), "wrong ICMPv6 checksum"),
    "ns-bad-checksum": (nd(135, NS_ROUTER, dst=SOLICITED_ROUTER, checksum=0x1234),
                        "Neighbour Solicitation with a wrong ICMPv6 checksum"),
    "ns-address-changed-after-checksum": (GOOD_NS[:22 + 15] + b"\x02" + GOOD_NS[22 + 16 :], "wrong ICMPv6 checksum"),
    "rs-too-short": (nd(133, bytes(2)), "Router Solicitation of 6 bytes is shorter than 8"),
    "ns-too-short": (nd(135, bytes(12), dst=SOLICITED_ROUTER), "Neighbour Solicitation of 16 bytes is shorter than 24"),
    "rs-option-length-0": (nd(133, bytes(4) + b"\x01\x00" + bytes(6)), "option of type 1 has length 0"),
    "ns-option-length-0": (nd(135, NS_ROUTER + b"\x0e\x00" + bytes(6), dst=SOLICITED_ROUTER), "type 14 has length 0"),
    "option-overruns-message": (nd(133, bytes(4) + b"\x01\x02" + bytes(6)), "claims 16 bytes, only 8 left"),
    "option-one-byte": (nd(133, RS_BODY + b"\x01"), "truncated"),
    "rs-from-unspecified-with-sla": (nd(133, RS_BODY, src="::"),
                                     "Router Solicitation from the unspecified address carries a Source Link-Layer"),
    "dad-ns-with-sla": (nd(135, NS_ROUTER, src="::", dst=SOLICITED_ROUTER),
                        "Neighbour Solicitation from the unspecified address carries a Source Link-Layer"),
    "dad-ns-to-all-nodes": (nd(135, NS_ROUTER[:20], src="::", dst="ff02::1"), "to ff02::1, not a solicited-node"),
    "ns-multicast-target": (nd(135, bytes(4) + addrconv.ipv6.text_to_bin("ff02::1")), "multicast target"),
}  # fmt: skip


def test_the_frames_the_rejections_start_from_are_accepted():
    assert ndp.parse(GOOD_RS) == ndp.NdMessage("rs", MN_MAC, MN_LL)
    assert ndp.parse(GOOD_NS) == ndp.NdMessage("ns", MN_MAC, MN_LL, ROUTER_LL)
    assert ndp.parse(nd(133, bytes(4), src="::")) == ndp.NdMessage("rs", MN_MAC, "::")
    assert ndp.parse(nd(135, NS_ROUTER[:20], src="::", dst=SOLICITED_ROUTER)) == ndp.NdMessage(
        "ns", MN_MAC, "::", ROUTER_LL
    )


@pytest.mark.parametrize("frame,why", list(REJECTED.values()), ids=list(REJECTED))
def test_parse_rejects_with_a_reason(frame, why):
    with pytest.raises(ndp.PacketError, match=why):
        ndp.parse(frame)


def test_packet_error_is_a_value_error():
    assert issubclass(ndp.PacketError, ValueError)


def test_mangled_frames_raise_only_packet_error():
    rng = random.Random(4861)
    seeds = [GOOD_RS, GOOD_NS, ndp.router_solicitation(MN_MAC), ndp.neighbour_solicitation(MN_MAC, "::", MN_GUA)]
    accepted = 0
    for i in range(3000):
        frame = bytearray(rng.choice(seeds))
        if i % 4 == 0:
            frame = frame[: rng.randrange(len(frame) + 1)]
        else:
            for _ in range(rng.randrange(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
        try:
            msg = ndp.parse(bytes(frame))
        except ndp.PacketError:
            continue
        accepted += 1
        assert msg.kind in ("rs", "ns")
    assert accepted < 300  # almost every mangled frame fails the checksum or a length check


@pytest.mark.parametrize(
    "mac, want",
    [
        ("00:11:22:33:44:55", bytes.fromhex("001122334455")),
        ("0:1:2:a:B:ff", bytes([0, 1, 2, 10, 11, 255])),
        ("00-11-22-33-44-55", bytes.fromhex("001122334455")),
        ("00:11-22:33-44:55", bytes.fromhex("001122334455")),
        ("00:11:22:33:44:55:66", None),
        ("00:11:22:33:44", None),
        ("001:1:2:3:4:5", None),
        ("00:11:22:33:44:5g", None),
        ("00:11:22:33:44:55\n", None),
        (" 0:11:22:33:44:55", None),
        ("00::22:33:44:55", None),
        ("", None),
    ],
)
def test_mac_text_to_bytes(mac: str, want: bytes | None) -> None:
    ndp._mac_bytes.cache_clear()
    if want is None:
        with pytest.raises(ValueError, match="not a MAC address"):
            ndp._mac_bytes(mac)
    else:
        assert ndp._mac_bytes(mac) == want
