"""Neighbour Discovery on the access links: parse what hosts send, build what the router answers.

Standard library only (``struct``, ``ipaddress``): ``controller/`` imports no Ryu, so the control
logic stays testable without a switch or an OpenFlow library.

``parse`` applies the validity checks of RFC 4861 §6.1.1 (Router Solicitation) and §7.1.1
(Neighbour Solicitation) that need nothing but the frame: hop limit 255, a correct ICMPv6 checksum,
ICMP code 0, the minimum message length, no option of length 0, and for messages from the
unspecified address no Source Link-Layer Address option (and, for an NS, a solicited-node multicast
destination).  Frames may carry Ethernet padding after the IPv6 payload; it is ignored.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import struct
from dataclasses import dataclass

from openflow_rules import text

ETH_TYPE_IPV6 = 0x86DD
ALL_NODES = "ff02::1"
ALL_NODES_MAC = "33:33:00:00:00:01"
ALL_ROUTERS = "ff02::2"
ALL_ROUTERS_MAC = "33:33:00:00:00:02"

IPPROTO_ICMPV6 = 58
ND_ROUTER_SOLICIT = 133
ND_ROUTER_ADVERT = 134
ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136

OPT_SOURCE_LL = 1
OPT_TARGET_LL = 2
OPT_PREFIX_INFO = 3
OPT_MTU = 5

ND_HOP_LIMIT = 255
RA_CUR_HOP_LIMIT = 64

_ETH_LEN = 14
_IPV6_LEN = 40
_RS_LEN = 8  # ICMPv6 header (4) + reserved (4)
_NS_LEN = 24  # ICMPv6 header (4) + reserved (4) + target (16)
_UNSPECIFIED = ipaddress.IPv6Address("::")
_SOLICITED_NODE = ipaddress.IPv6Network("ff02::1:ff00:0/104")

_ETH = struct.Struct("!6s6sH")
_IPV6 = struct.Struct("!IHBB16s16s")  # version/class/flow label, payload length, next header, hop limit
_ICMP = struct.Struct("!BBH")  # type, code, checksum
_RA = struct.Struct("!BBHII")  # cur hop limit, M/O flags, router lifetime, reachable time, retrans timer
_PREFIX_INFO = struct.Struct("!BBBBIII16s")  # type, length, prefix length, L/A flags, valid, preferred, reserved
_MTU = struct.Struct("!BBHI")  # type, length, reserved, MTU

_PI_FLAG_AUTONOMOUS = 0x40  # A: hosts form addresses by SLAAC; L (0x80) stays 0: off-link


class PacketError(ValueError):
    """A packet the controller cannot use; the message says why."""


@dataclass(frozen=True)
class NdMessage:
    kind: str  # "rs" or "ns"
    eth_src: str
    ipv6_src: str
    target: str | None = None  # NS target


# ------------------------------------------------------------------ parsing


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _checksum(src: bytes, dst: bytes, icmp: bytes) -> int:
    """RFC 4443 §2.3: ones' complement sum over the IPv6 pseudo-header and the ICMPv6 message.
    Returns the value for the checksum field (0 when computed over a message whose field is set)."""
    data = src + dst + struct.pack("!I3xB", len(icmp), IPPROTO_ICMPV6) + icmp
    if len(data) % 2:
        data += b"\0"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _options(data: bytes, kind: str) -> list[tuple[int, bytes]]:
    """The ND options as (type, option bytes including type and length), RFC 4861 §4.6."""
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 2:
            raise PacketError(f"{kind} option at offset {offset} is truncated (1 byte left)")
        otype, olen = data[offset], data[offset + 1]
        if olen == 0:
            raise PacketError(f"{kind} option of type {otype} has length 0 (RFC 4861 §4.6)")
        end = offset + olen * 8
        if end > len(data):
            raise PacketError(f"{kind} option of type {otype} claims {olen * 8} bytes, only {len(data) - offset} left")
        out.append((otype, data[offset:end]))
        offset = end
    return out


def parse(data: bytes) -> NdMessage:
    """Parse a punted packet into an RS or NS, or raise PacketError naming what is wrong."""
    data = bytes(data)
    eth_src: bytes
    ethertype: int
    vtf: int
    payload_len: int
    next_header: int
    hop_limit: int
    src: bytes
    dst: bytes
    icmp_type: int
    code: int
    if len(data) < _ETH_LEN:
        raise PacketError(f"frame of {len(data)} bytes is shorter than an Ethernet header")
    _, eth_src, ethertype = _ETH.unpack_from(data)
    if ethertype != ETH_TYPE_IPV6:
        raise PacketError(f"not IPv6 (ethertype {ethertype:#06x})")
    if len(data) < _ETH_LEN + _IPV6_LEN:
        raise PacketError(f"IPv6 frame of {len(data)} bytes is shorter than an IPv6 header")
    vtf, payload_len, next_header, hop_limit, src, dst = _IPV6.unpack_from(data, _ETH_LEN)
    if vtf >> 28 != 6:
        raise PacketError(f"IPv6 header with version {vtf >> 28}")
    if next_header != IPPROTO_ICMPV6:
        raise PacketError(f"IPv6 next header {next_header} is not ICMPv6 ({IPPROTO_ICMPV6})")
    start = _ETH_LEN + _IPV6_LEN
    if len(data) - start < payload_len:
        raise PacketError(f"IPv6 payload length {payload_len} but only {len(data) - start} bytes follow the header")
    icmp = data[start : start + payload_len]  # anything after is Ethernet padding
    if len(icmp) < _ICMP.size:
        raise PacketError(f"ICMPv6 message of {len(icmp)} bytes is shorter than its header")
    icmp_type, code, _ = _ICMP.unpack_from(icmp)
    if icmp_type == ND_ROUTER_SOLICIT:
        kind, min_len = "Router Solicitation", _RS_LEN
    elif icmp_type == ND_NEIGHBOR_SOLICIT:
        kind, min_len = "Neighbour Solicitation", _NS_LEN
    else:
        raise PacketError(f"ICMPv6 type {icmp_type} is not one the router answers")
    if hop_limit != ND_HOP_LIMIT:
        raise PacketError(f"ND message with hop limit {hop_limit}, expected 255 (RFC 4861)")
    if code != 0:
        raise PacketError(f"{kind} with ICMP code {code}, expected 0 (RFC 4861)")
    if _checksum(src, dst, icmp) != 0:
        raise PacketError(f"{kind} with a wrong ICMPv6 checksum")
    if len(icmp) < min_len:
        raise PacketError(f"{kind} of {len(icmp)} bytes is shorter than {min_len} (RFC 4861)")
    options = _options(icmp[min_len:], kind)
    source = ipaddress.IPv6Address(src)
    has_sla = any(otype == OPT_SOURCE_LL for otype, _ in options)
    if source == _UNSPECIFIED and has_sla:
        raise PacketError(f"{kind} from the unspecified address carries a Source Link-Layer Address option")
    if icmp_type == ND_ROUTER_SOLICIT:
        return NdMessage("rs", _mac_text(eth_src), str(source))
    target = ipaddress.IPv6Address(icmp[8:24])
    if target.is_multicast:
        raise PacketError(f"Neighbour Solicitation for the multicast target {target}")
    if source == _UNSPECIFIED and ipaddress.IPv6Address(dst) not in _SOLICITED_NODE:
        raise PacketError(
            f"Neighbour Solicitation from the unspecified address to {ipaddress.IPv6Address(dst)}, "
            "not a solicited-node multicast address"
        )
    return NdMessage("ns", _mac_text(eth_src), str(source), str(target))


# ------------------------------------------------------------------ building


_MAC_TEXT = re.compile(r"[0-9A-Fa-f]{1,2}(?:[:-][0-9A-Fa-f]{1,2}){5}")


@functools.lru_cache(maxsize=1 << 14)
def _mac_bytes(mac: str) -> bytes:
    """The 6 bytes of a MAC's text (``:`` or ``-`` between 1-2 hex digits).  Memoised (a pure
    function of its text, so no state): every RA is built from the router's MAC and the host's,
    and checking the text digit by digit in Python was a fifth of a registration."""
    if not _MAC_TEXT.fullmatch(mac):
        raise ValueError(f"not a MAC address: {mac!r}")
    if len(mac) == 17:  # two digits each
        return bytes.fromhex(mac[0:2] + mac[3:5] + mac[6:8] + mac[9:11] + mac[12:14] + mac[15:17])
    return bytes(int(p, 16) for p in mac.replace("-", ":").split(":"))


def _link_layer_option(kind: int, mac: str) -> bytes:
    return struct.pack("!BB6s", kind, 1, _mac_bytes(mac))


def _frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, icmp_type: int, body: bytes) -> bytes:
    """Ethernet + IPv6 (hop limit 255) + ICMPv6 of ``icmp_type`` with ``body``, checksum filled in."""
    src = text.packed_of(src_ip)
    dst = text.packed_of(dst_ip)
    message = _ICMP.pack(icmp_type, 0, 0) + body
    message = message[:2] + struct.pack("!H", _checksum(src, dst, message)) + message[4:]
    eth = _ETH.pack(_mac_bytes(dst_mac), _mac_bytes(src_mac), ETH_TYPE_IPV6)
    ip6 = _IPV6.pack(6 << 28, len(message), IPPROTO_ICMPV6, ND_HOP_LIMIT, src, dst)
    return eth + ip6 + message


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
    body = _RA.pack(RA_CUR_HOP_LIMIT, 0, router_lifetime, 0, 0)
    body += _link_layer_option(OPT_SOURCE_LL, router_mac)
    body += _MTU.pack(OPT_MTU, 1, 0, mtu)
    for prefix in prefixes:
        net, plen = prefix.split("/")
        body += _PREFIX_INFO.pack(
            OPT_PREFIX_INFO, 4, int(plen), _PI_FLAG_AUTONOMOUS, valid_lifetime, valid_lifetime, 0,
            text.packed_of(net),
        )  # fmt: skip
    return _frame(router_mac, dst_mac, router_ll, dst_ip, ND_ROUTER_ADVERT, body)


def neighbour_advertisement(
    router_mac: str, router_ll: str, dst_mac: str, dst_ip: str, solicited: bool = True
) -> bytes:
    """NA for the shared router address (R=1, S=solicited, O=1) with the target link-layer option."""
    flags = 0b101 | (0b010 if solicited else 0)  # R, S, O: the top three bits of the first word
    body = struct.pack("!I16s", flags << 29, ipaddress.IPv6Address(router_ll).packed)
    body += _link_layer_option(OPT_TARGET_LL, router_mac)
    if dst_ip == "::":  # answer to a DAD probe goes to all nodes
        dst_ip = ALL_NODES
    return _frame(router_mac, dst_mac, router_ll, dst_ip, ND_NEIGHBOR_ADVERT, body)


def router_solicitation(src_mac: str, src_ip: str = "::") -> bytes:
    """Build an RS as a host would send it (used by tests and by nothing else): with a Source
    Link-Layer Address option unless sent from the unspecified address (RFC 4861 §4.1)."""
    body = bytes(4)
    if ipaddress.IPv6Address(src_ip) != _UNSPECIFIED:
        body += _link_layer_option(OPT_SOURCE_LL, src_mac)
    return _frame(src_mac, ALL_ROUTERS_MAC, src_ip, ALL_ROUTERS, ND_ROUTER_SOLICIT, body)


def neighbour_solicitation(src_mac: str, src_ip: str, target: str) -> bytes:
    """Build an NS as a host would send it (used by tests): to the target's solicited-node multicast
    address, with a Source Link-Layer Address option unless it is a DAD probe from ``::`` (RFC 4861 §4.3)."""
    target_ip = ipaddress.IPv6Address(target)
    group = ipaddress.IPv6Address(int(_SOLICITED_NODE.network_address) | (int(target_ip) & 0xFFFFFF))
    group_mac = _mac_text(b"\x33\x33" + group.packed[-4:])
    body = struct.pack("!4x16s", target_ip.packed)
    if ipaddress.IPv6Address(src_ip) != _UNSPECIFIED:
        body += _link_layer_option(OPT_SOURCE_LL, src_mac)
    return _frame(src_mac, group_mac, src_ip, str(group), ND_NEIGHBOR_SOLICIT, body)
