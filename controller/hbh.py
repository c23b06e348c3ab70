"""PBQR carried in a real IPv6 packet with a Hop-by-Hop options header (draft §4.4.2).

The eMAG sends the query *to the correspondent's address*; normal routing carries it toward the
eLMA that announces that prefix, which intercepts it (every router on the path looks at the
Hop-by-Hop header; OVS matches ``ipv6,nw_proto=135`` past it) and answers.

Wire format (our choice; the draft defines none)::

    IPv6        src = the querying eMAG's address, dst = the correspondent's address,
                next header 0 (Hop-by-Hop), hop limit 64
    Hop-by-Hop  next header 135 (Mobility Header), length 0 (8 bytes):
                option 0x1E (RFC 4727 experimental; top bits 00 = skip if unknown, 0 = does not
                change en route), data length 2, data 0x0001 ("ePMIP binding query inside"),
                then PadN (0x01 0x00)
    Mobility    RFC 6275 §6.1.1 header: payload proto 59, header length, MH type 11 (RFC 5096
    Header      Experimental Mobility Header), reserved, checksum (RFC 6275: over the IPv6
                pseudo-header, as for ICMPv6), then the msgpack-encoded PBQR
                (controller/messages.py) padded with zeros to a multiple of 8 bytes

tcpdump shows it as ``HBH ... mobility: type-#11`` (or similar), i.e. an IPv6 packet with a
Hop-by-Hop options header followed by a Mobility Header.
"""

from __future__ import annotations

import ipaddress
import struct

from controller.messages import PBQR, AuthenticationError, Keys, Message, MessageError, decode

ETH_TYPE_IPV6 = 0x86DD
NH_HBH = 0
NH_MH = 135
NH_NONE = 59
MH_TYPE_EXPERIMENTAL = 11  # RFC 5096
HBH_OPTION = 0x1E  # RFC 4727 experimental option type
HBH_QUERY = 0x0001
HOP_LIMIT = 64


class HbhError(MessageError):
    """Not a well-formed ePMIP Hop-by-Hop query; the message says what is wrong."""


def _checksum(src: bytes, dst: bytes, upper: bytes, next_header: int) -> int:
    pseudo = src + dst + struct.pack("!I3xB", len(upper), next_header)
    data = pseudo + upper
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build(query: PBQR, src: str, src_mac: str, dst_mac: str, key: bytes | None = None) -> bytes:
    """An Ethernet frame carrying ``query`` toward ``query.address`` (authenticated with ``key``)."""
    encoded = query.encode(key)
    body = struct.pack("!H", len(encoded)) + encoded
    body += b"\0" * (-(len(body) + 6) % 8)
    mh_len_units = (6 + len(body)) // 8 - 1  # in 8-octet units, not counting the first 8
    mh = struct.pack("!BBBBH", NH_NONE, mh_len_units, MH_TYPE_EXPERIMENTAL, 0, 0) + body
    s = ipaddress.IPv6Address(src).packed
    d = ipaddress.IPv6Address(query.address).packed
    csum = _checksum(s, d, mh, NH_MH)
    mh = mh[:4] + struct.pack("!H", csum) + mh[6:]
    hbh = struct.pack("!BBBBHBB", NH_MH, 0, HBH_OPTION, 2, HBH_QUERY, 1, 0)
    payload = hbh + mh
    ip = struct.pack("!IHBB", 6 << 28, len(payload), NH_HBH, HOP_LIMIT) + s + d
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x86\xdd"
    return eth + ip + payload


def parse(frame: bytes, key: bytes | Keys | None = None) -> PBQR:
    """The PBQR inside a frame built by ``build`` (or any correct equivalent); with ``key`` it must
    be authenticated (messages.AuthenticationError otherwise)."""
    if len(frame) < 14 + 40 + 8 + 8:
        raise HbhError(f"frame of {len(frame)} bytes is too short for IPv6 + Hop-by-Hop + Mobility Header")
    if frame[12:14] != b"\x86\xdd":
        raise HbhError(f"ethertype {frame[12:14].hex()} is not IPv6")
    ip = frame[14:54]
    if ip[0] >> 4 != 6:
        raise HbhError(f"IP version {ip[0] >> 4} is not 6")
    payload_len, nh = struct.unpack("!HB", ip[4:7])
    payload = frame[54 : 54 + payload_len]
    if len(payload) != payload_len:
        raise HbhError(f"payload length {payload_len} but {len(payload)} bytes present")
    if nh != NH_HBH:
        raise HbhError(f"next header {nh} is not Hop-by-Hop (0)")
    if payload_len < 16:
        raise HbhError(f"payload length {payload_len} is too short for Hop-by-Hop + Mobility Header")
    hbh_nh, hbh_len = payload[0], payload[1]
    hbh_end = (hbh_len + 1) * 8
    if hbh_nh != NH_MH or hbh_end > len(payload):
        raise HbhError(f"Hop-by-Hop header is followed by {hbh_nh}, not a Mobility Header (135)")
    if not _has_query_option(payload[2:hbh_end]):
        raise HbhError(f"Hop-by-Hop header has no ePMIP query option (type {HBH_OPTION:#x})")
    mh = payload[hbh_end:]
    if len(mh) < 8:
        raise HbhError("Mobility Header shorter than 8 bytes")
    mh_len = (mh[1] + 1) * 8
    if mh[2] != MH_TYPE_EXPERIMENTAL or mh_len > len(mh):
        raise HbhError(f"Mobility Header type {mh[2]} / length {mh_len} is not an ePMIP query")
    mh = mh[:mh_len]
    zeroed = mh[:4] + b"\0\0" + mh[6:]
    if _checksum(ip[8:24], ip[24:40], zeroed, NH_MH) != struct.unpack("!H", mh[4:6])[0]:
        raise HbhError("Mobility Header checksum is wrong")
    (length,) = struct.unpack("!H", mh[6:8])
    if 8 + length > len(mh):
        raise HbhError(f"query length {length} runs past the Mobility Header ({len(mh)} bytes)")
    try:
        msg: Message = decode(bytes(mh[8 : 8 + length]), key)
    except AuthenticationError:
        raise
    except MessageError as exc:
        raise HbhError(f"Mobility Header does not carry a valid query: {exc}") from None
    if not isinstance(msg, PBQR):
        raise HbhError(f"Mobility Header carries a {msg.TYPE}, expected a PBQR")
    return msg


def _has_query_option(options: bytes) -> bool:
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:  # Pad1
            i += 1
            continue
        if i + 1 >= len(options):
            return False
        length = options[i + 1]
        if kind == HBH_OPTION and length == 2 and options[i + 2 : i + 4] == struct.pack("!H", HBH_QUERY):
            return True
        i += 2 + length
    return False
