"""Neighbour Discovery on the access links: parse what hosts send, build what the router answers.

Uses ``ryu.lib.packet`` (a pure packet library; it pulls in no Ryu framework or eventlet), so the
control logic stays testable without a switch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ryu.lib.packet import ethernet, icmpv6, ipv6, packet

ETH_TYPE_IPV6 = 0x86DD
ALL_NODES = "ff02::1"
ALL_NODES_MAC = "33:33:00:00:00:01"


class PacketError(ValueError):
    """A packet the controller cannot use; the message says why."""


@dataclass(frozen=True)
class NdMessage:
    kind: str  # "rs" or "ns"
    eth_src: str
    ipv6_src: str
    target: str | None = None  # NS target


def parse(data: bytes) -> NdMessage:
    """Parse a punted packet into an RS or NS, or raise PacketError naming what is wrong."""
    if len(data) < 14:
        raise PacketError(f"frame of {len(data)} bytes is shorter than an Ethernet header")
    try:
        pkt = packet.Packet(bytes(data))
    except Exception as exc:  # ryu's parsers raise struct.error, AssertionError, ...
        raise PacketError(f"undecodable frame ({exc.__class__.__name__}: {exc})") from None
    eth = pkt.get_protocol(ethernet.ethernet)
    if eth is None or eth.ethertype != ETH_TYPE_IPV6:
        raise PacketError(f"not IPv6 (ethertype {getattr(eth, 'ethertype', None)!r})")
    ip6 = pkt.get_protocol(ipv6.ipv6)
    icmp = pkt.get_protocol(icmpv6.icmpv6)
    if ip6 is None or icmp is None:
        raise PacketError("IPv6 packet without a decodable ICMPv6 message")
    if ip6.hop_limit != 255:
        raise PacketError(f"ND message with hop limit {ip6.hop_limit}, expected 255 (RFC 4861)")
    if icmp.type_ == icmpv6.ND_ROUTER_SOLICIT:
        return NdMessage("rs", eth.src, ip6.src)
    if icmp.type_ == icmpv6.ND_NEIGHBOR_SOLICIT:
        if not isinstance(icmp.data, icmpv6.nd_neighbor):
            raise PacketError("Neighbour Solicitation without a target")
        return NdMessage("ns", eth.src, ip6.src, icmp.data.dst)
    raise PacketError(f"ICMPv6 type {icmp.type_} is not one the router answers")


def _frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, body) -> bytes:
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst=dst_mac, src=src_mac, ethertype=ETH_TYPE_IPV6))
    pkt.add_protocol(ipv6.ipv6(src=src_ip, dst=dst_ip, nxt=58, hop_limit=255))
    pkt.add_protocol(body)
    pkt.serialize()
    return bytes(pkt.data)


def router_advertisement(
    router_mac: str,
    router_ll: str,
    dst_mac: str,
    dst_ip: str,
    prefixes: list[str],
    valid_lifetime: int,
    router_lifetime: int = 1800,
    mtu: int = 1500,
) -> bytes:
    """A unicast RA carrying the MN's HNP(s): A=1 (SLAAC), L=0 (off-link, all traffic goes via the
    MAG, RFC 5213 §6.7), the router's link-layer address and the link MTU."""
    # ryu.lib.packet has no MTU option class: type 5, length 1 (x8 bytes), reserved, MTU.
    mtu_option = struct.pack("!BBHI", 5, 1, 0, mtu)
    options: list = [icmpv6.nd_option_sla(hw_src=router_mac), mtu_option]
    for prefix in prefixes:
        net, plen = prefix.split("/")
        options.append(
            icmpv6.nd_option_pi(pl=int(plen), res1=0b010, val_l=valid_lifetime, pre_l=valid_lifetime, prefix=net)
        )
    ra = icmpv6.nd_router_advert(ch_l=64, res=0, rou_l=router_lifetime, options=options)
    body = icmpv6.icmpv6(type_=icmpv6.ND_ROUTER_ADVERT, data=ra)
    return _frame(router_mac, dst_mac, router_ll, dst_ip, body)


def neighbour_advertisement(
    router_mac: str, router_ll: str, dst_mac: str, dst_ip: str, solicited: bool = True
) -> bytes:
    """NA for the shared router address (R=1, S=solicited, O=1) with the target link-layer option."""
    flags = 0b101 | (0b010 if solicited else 0)
    na = icmpv6.nd_neighbor(res=flags, dst=router_ll, option=icmpv6.nd_option_tla(hw_src=router_mac))
    body = icmpv6.icmpv6(type_=icmpv6.ND_NEIGHBOR_ADVERT, data=na)
    if dst_ip == "::":  # answer to a DAD probe goes to all nodes
        dst_ip = ALL_NODES
    return _frame(router_mac, dst_mac, router_ll, dst_ip, body)


def router_solicitation(src_mac: str, src_ip: str = "::") -> bytes:
    """Build an RS as a host would send it (used by tests and by nothing else)."""
    body = icmpv6.icmpv6(
        type_=icmpv6.ND_ROUTER_SOLICIT,
        data=icmpv6.nd_router_solicit(option=icmpv6.nd_option_sla(hw_src=src_mac) if src_ip != "::" else None),
    )
    return _frame(src_mac, "33:33:00:00:00:02", src_ip, "ff02::2", body)


def neighbour_solicitation(src_mac: str, src_ip: str, target: str) -> bytes:
    """Build an NS as a host would send it (used by tests)."""
    na = icmpv6.nd_neighbor(dst=target, option=icmpv6.nd_option_sla(hw_src=src_mac))
    body = icmpv6.icmpv6(type_=icmpv6.ND_NEIGHBOR_SOLICIT, data=na)
    return _frame(src_mac, "33:33:ff:00:00:01", src_ip, "ff02::1:ff00:1", body)
