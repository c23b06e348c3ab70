"""A punted frame, classified once into a typed record.

The switch punts four kinds of frame to the controller: Router/Neighbour Solicitations (answered
by the access router function), IPv6 packets carrying a Hop-by-Hop option with a Mobility Header
(the §4.4.2 query), and plain IPv6 packets that matched a punt or miss rule (a DRF uplink miss, a
buffered downlink packet, an RFC 6705 LMA punt, an early uplink packet).  ``classify`` looks at the
bytes once; nothing else in ``controller/`` reads byte offsets of a frame.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

ETH_HEADER = 14
IPV6_HEADER = 40
ETH_TYPE_IPV6 = b"\x86\xdd"
NH_HBH = 0
NH_ICMPV6 = 58
ND_TYPES: Mapping[int, str] = MappingProxyType({133: "rs", 135: "ns"})


class Punt(NamedTuple):
    """``kind``: ``rs`` | ``ns`` (ICMPv6 right after the IPv6 header), ``hbh`` (next header
    Hop-by-Hop), ``ipv6`` (anything else with an IPv6 header), ``other`` (not IPv6 or too short:
    src/dst are None)."""

    kind: str
    data: bytes
    src: ipaddress.IPv6Address | None = None
    dst: ipaddress.IPv6Address | None = None

    @property
    def is_nd(self) -> bool:
        return self.kind in ("rs", "ns")


class PackedAddress(ipaddress.IPv6Address):
    """``IPv6Address(packed)`` for exactly 16 bytes, without the constructor's type dispatch and
    checks (a punt makes two on every route set-up; issue 13).  An IPv6Address in every respect
    (equal, hashed, ordered, printed and tested alike: ``tests/unit/test_frames.py``); a copy or
    pickle of one is a plain IPv6Address."""

    __slots__ = ("_packed",)

    def __init__(self, packed: bytes) -> None:  # pylint: disable=super-init-not-called
        self._ip = int.from_bytes(packed, "big")
        self._scope_id = None
        self._packed = packed  # kept: its text (a query's) is made from these bytes

    @property
    def packed(self) -> bytes:
        return self._packed

    def __reduce__(self) -> tuple[type[ipaddress.IPv6Address], tuple[int]]:
        return ipaddress.IPv6Address, (self._ip,)


def classify(data: bytes) -> Punt:
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) < ETH_HEADER + IPV6_HEADER or data[12:14] != ETH_TYPE_IPV6:
        return Punt("other", data)
    src = PackedAddress(data[22:38])
    dst = PackedAddress(data[38:54])
    next_header = data[20]
    if next_header == NH_HBH:
        return Punt("hbh", data, src, dst)
    if next_header == NH_ICMPV6 and len(data) > ETH_HEADER + IPV6_HEADER and data[54] in ND_TYPES:
        return Punt(ND_TYPES[data[54]], data, src, dst)
    return Punt("ipv6", data, src, dst)


def rewrite_ethernet(frame: bytes, dst_mac: str, src_mac: str) -> bytes:
    """``frame`` with new Ethernet addresses (what a delivery flow's set-fields would do)."""
    return _mac(dst_mac) + _mac(src_mac) + frame[12:]


def _mac(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))
