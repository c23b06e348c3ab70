"""The switch side of OpenFlow 1.3, as bytes, for the load driver (``benchmarks/load.py``).

Ryu has parsers for what a switch sends and serializers for what a controller sends, not the other
way round; so the messages an emulated switch sends are packed here with Ryu's own layouts
(``ryu.ofproto.ofproto_v1_3``'s pack strings and constants, ``OFPMatch`` for the packet-in match),
and the tests parse every one of them back with Ryu's ``ofproto_parser.msg``.  What the controller
sends is only looked into as far as the driver needs: the header (type, length, xid), a flow-mod's
``ipv6_dst`` match field and a packet-out's output port and data - with ``struct`` at fixed offsets,
because the driver must stay cheaper than the controller it loads.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ryu.ofproto import ofproto_v1_3 as ofp
from ryu.ofproto import ofproto_v1_3_parser as parser

VERSION = ofp.OFP_VERSION
HEADER = struct.Struct(ofp.OFP_HEADER_PACK_STR)  # version, type, length, xid
_FEATURES = struct.Struct(ofp.OFP_SWITCH_FEATURES_PACK_STR)
_PORT = struct.Struct(ofp.OFP_PORT_PACK_STR)
_PORT_STATUS = struct.Struct(ofp.OFP_PORT_STATUS_PACK_STR)
_MULTIPART_REPLY = struct.Struct(ofp.OFP_MULTIPART_REPLY_PACK_STR)
_PACKET_IN = struct.Struct(ofp.OFP_PACKET_IN_PACK_STR)
_OXM_HEADER = struct.Struct("!I")
_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")

# where the controller's messages keep what the driver reads (OpenFlow 1.3 layouts)
FLOW_MOD_COMMAND = ofp.OFP_HEADER_SIZE + 17  # after cookie, cookie_mask, table_id
FLOW_MOD_MATCH = ofp.OFP_FLOW_MOD_SIZE - ofp.OFP_MATCH_SIZE  # the ofp_match starts here
PACKET_OUT_ACTIONS_LEN = ofp.OFP_HEADER_SIZE + 8  # after buffer_id, in_port
PACKET_OUT_ACTIONS = ofp.OFP_PACKET_OUT_SIZE
OXM_IPV6_DST = ofp.OFPXMC_OPENFLOW_BASIC << 7 | ofp.OFPXMT_OFB_IPV6_DST  # class and field, without hasmask

_PORT_FEATURES = ofp.OFPPF_10GB_FD | ofp.OFPPF_COPPER


@dataclass(frozen=True)
class Port:
    port_no: int
    hw_addr: bytes  # 6 bytes
    name: bytes = b""


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def header(msg_type: int, length: int, xid: int) -> bytes:
    return HEADER.pack(VERSION, msg_type, length, xid)


def hello(xid: int = 1) -> bytes:
    # OpenFlow 1.3 HELLO with a version bitmap element (what OVS sends): versions 1.3 only
    element = struct.pack("!HHI", ofp.OFPHET_VERSIONBITMAP, 8, 1 << VERSION)
    return header(ofp.OFPT_HELLO, ofp.OFP_HEADER_SIZE + len(element), xid) + element


def features_reply(xid: int, dpid: int, n_tables: int = 254) -> bytes:
    caps = ofp.OFPC_FLOW_STATS | ofp.OFPC_TABLE_STATS | ofp.OFPC_PORT_STATS
    body = _FEATURES.pack(dpid, 0, n_tables, 0, caps, 0)
    return header(ofp.OFPT_FEATURES_REPLY, ofp.OFP_HEADER_SIZE + len(body), xid) + body


def _port(p: Port, state: int = 0) -> bytes:
    name = (p.name or f"p{p.port_no}".encode())[: ofp.OFP_MAX_PORT_NAME_LEN - 1]
    return _PORT.pack(p.port_no, p.hw_addr, name, 0, state, _PORT_FEATURES, 0, 0, 0, 10_000_000, 10_000_000)


def port_desc_reply(xid: int, ports: list[Port]) -> bytes:
    body = _MULTIPART_REPLY.pack(ofp.OFPMP_PORT_DESC, 0) + b"".join(_port(p) for p in ports)
    return header(ofp.OFPT_MULTIPART_REPLY, ofp.OFP_HEADER_SIZE + len(body), xid) + body


def port_status(reason: int, port: Port, xid: int = 0) -> bytes:
    """OFPPR_ADD / OFPPR_DELETE / OFPPR_MODIFY of one port (a deleted port is reported link-down)."""
    state = ofp.OFPPS_LINK_DOWN if reason == ofp.OFPPR_DELETE else ofp.OFPPS_LIVE
    body = _PORT_STATUS.pack(reason, *_PORT.unpack(_port(port, state)))
    return header(ofp.OFPT_PORT_STATUS, ofp.OFP_HEADER_SIZE + len(body), xid) + body


_IN_PORT_MATCH: dict[int, bytes] = {}


def in_port_match(port: int) -> bytes:
    """The packet-in's match (in_port only) as Ryu's OFPMatch serializes it, padded to 8 bytes."""
    m = _IN_PORT_MATCH.get(port)
    if m is None:
        buf = bytearray()
        parser.OFPMatch(in_port=port).serialize(buf, 0)
        m = _IN_PORT_MATCH[port] = bytes(buf)
    return m


def packet_in(frame: bytes, in_port: int, table_id: int = 0, cookie: int = 0, xid: int = 0) -> bytes:
    """An unbuffered OFPT_PACKET_IN carrying the whole frame (reason ACTION, as a punt is)."""
    match = in_port_match(in_port)
    body = _PACKET_IN.pack(ofp.OFP_NO_BUFFER, len(frame), ofp.OFPR_ACTION, table_id, cookie)
    length = ofp.OFP_HEADER_SIZE + len(body) + len(match) + 2 + len(frame)
    return header(ofp.OFPT_PACKET_IN, length, xid) + body + match + b"\x00\x00" + frame


def echo_reply(request: bytes) -> bytes:
    _, _, length, xid = HEADER.unpack_from(request)
    return header(ofp.OFPT_ECHO_REPLY, length, xid) + request[ofp.OFP_HEADER_SIZE : length]


def barrier_reply(xid: int) -> bytes:
    return header(ofp.OFPT_BARRIER_REPLY, ofp.OFP_HEADER_SIZE, xid)


class Splitter:
    """Cuts a TCP byte stream into OpenFlow messages: ``feed`` yields (type, xid, message bytes)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        buf = self._buf
        buf += data
        off, end = 0, len(buf)
        while end - off >= 8:
            length = (buf[off + 2] << 8) | buf[off + 3]
            if length < 8:
                raise ValueError(f"OpenFlow message of length {length}")
            if end - off < length:
                break
            msg = bytes(buf[off : off + length])
            off += length
            yield msg[1], _U32.unpack_from(msg, 4)[0], msg
        del buf[:off]

    @property
    def pending(self) -> int:
        return len(self._buf)


def flow_mod_ipv6_dst(msg: bytes) -> bytes | None:
    """The value of a flow-mod's ``ipv6_dst`` match field (16 bytes, without the mask), or None."""
    mlen = _U16.unpack_from(msg, FLOW_MOD_MATCH + 2)[0]
    off, end = FLOW_MOD_MATCH + 4, FLOW_MOD_MATCH + mlen
    while off + 4 <= end:
        h = _OXM_HEADER.unpack_from(msg, off)[0]
        if h >> 9 == OXM_IPV6_DST:
            return msg[off + 4 : off + 20]
        off += 4 + (h & 0xFF)
    return None


def flow_mod_command(msg: bytes) -> int:
    return msg[FLOW_MOD_COMMAND]


def packet_out_port(msg: bytes) -> int | None:
    """The port of a packet-out's first action if it is an output, else None."""
    if _U16.unpack_from(msg, PACKET_OUT_ACTIONS_LEN)[0] < 8 or _U16.unpack_from(msg, PACKET_OUT_ACTIONS)[0] != 0:
        return None
    return _U32.unpack_from(msg, PACKET_OUT_ACTIONS + 4)[0]


def packet_out_data(msg: bytes) -> bytes:
    return msg[PACKET_OUT_ACTIONS + _U16.unpack_from(msg, PACKET_OUT_ACTIONS_LEN)[0] :]


def ra_prefixes(frame: bytes) -> list[tuple[bytes, int]]:
    """(prefix 16 bytes, length) of every Prefix Information option of a Router Advertisement
    frame (Ethernet + IPv6 without extension headers + ICMPv6 134); [] for anything else."""
    if len(frame) < 70 or frame[12:14] != b"\x86\xdd" or frame[20] != 58 or frame[54] != 134:
        return []
    out = []
    off = 70  # Ethernet 14 + IPv6 40 + RA 16
    while off + 8 <= len(frame):
        kind, units = frame[off], frame[off + 1]
        if units == 0:
            break
        if kind == 3 and units == 4 and off + 32 <= len(frame):
            out.append((frame[off + 16 : off + 32], frame[off + 2]))
        off += 8 * units
    return out
