"""Turn framework-free intents into OpenFlow 1.3 messages (the only place that does).

``to_ryu`` builds Ryu message objects.  ``to_bytes`` packs the same messages straight into wire
bytes for the hot path (``EpmipApp.send``): the header, the match from a precomputed template per
match shape (field order, OXM headers, value packers - no generic ``OFPMatch`` construction) and
the actions, with the string-to-bytes conversions of addresses cached.  Whatever the templates do
not cover (the Nicira reg-load of ``in_port``, an unknown field) goes through ``to_ryu`` and
``serialize``; ``tests/unit/test_ofp_bytes.py`` checks that both give the same bytes for every
flow builder.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable
from typing import Any

from ryu.ofproto import ofproto_v1_3 as _ofp

from openflow_rules.intents import (
    Barrier,
    FlowMod,
    Intent,
    Output,
    PacketOut,
    PopMpls,
    PushMpls,
    SetField,
    ToController,
)

_PREFIX_FIELDS = ("ipv6_src", "ipv6_dst")


def _match_value(name: str, value: Any) -> Any:
    if name in _PREFIX_FIELDS and isinstance(value, str) and "/" in value:
        net = ipaddress.IPv6Network(value)
        return (str(net.network_address), str(net.netmask))
    return value


def match(parser, fields: dict[str, Any]):
    return parser.OFPMatch(**{k: _match_value(k, v) for k, v in fields.items()})


def actions(parser, ofp, acts) -> list:
    out = []
    for a in acts:
        if isinstance(a, Output):
            out.append(parser.OFPActionOutput(a.port))
        elif isinstance(a, ToController):
            out.append(parser.OFPActionOutput(ofp.OFPP_CONTROLLER, a.max_len))
        elif isinstance(a, PushMpls):
            out.append(parser.OFPActionPushMpls(a.ethertype))
        elif isinstance(a, PopMpls):
            out.append(parser.OFPActionPopMpls(a.ethertype))
        elif isinstance(a, SetField) and a.field == "in_port":
            # OVS rejects an OpenFlow 1.3 set_field on in_port (OFPBAC_BAD_SET_ARGUMENT) but
            # accepts the Nicira reg-load into NXM_OF_IN_PORT (16 bits), which is what lets a
            # later output go back out the ingress port.
            out.append(parser.NXActionRegLoad(ofs_nbits=(0 << 6) | 15, dst="in_port_nxm", value=a.value))
        elif isinstance(a, SetField):
            out.append(parser.OFPActionSetField(**{a.field: a.value}))
        else:
            raise TypeError(f"unknown action {a!r}")
    return out


def to_ryu(datapath, intent: Intent):
    ofp = datapath.ofproto
    parser = datapath.ofproto_parser
    if isinstance(intent, PacketOut):
        return parser.OFPPacketOut(
            datapath=datapath, buffer_id=ofp.OFP_NO_BUFFER, in_port=intent.in_port,
            actions=[parser.OFPActionOutput(intent.port)], data=intent.data,
        )  # fmt: skip
    if isinstance(intent, Barrier):
        return parser.OFPBarrierRequest(datapath)
    if not isinstance(intent, FlowMod):
        raise TypeError(f"unknown intent {intent!r}")
    inst = []
    if intent.actions:
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions(parser, ofp, intent.actions)))
    if intent.goto is not None:
        inst.append(parser.OFPInstructionGotoTable(int(intent.goto)))
    command = {
        "add": ofp.OFPFC_ADD,
        "delete": ofp.OFPFC_DELETE,
        "delete_strict": ofp.OFPFC_DELETE_STRICT,
    }[intent.command]
    table = ofp.OFPTT_ALL if intent.table is None else int(intent.table)
    return parser.OFPFlowMod(
        datapath=datapath, cookie=intent.cookie, cookie_mask=intent.cookie_mask, table_id=table,
        command=command, idle_timeout=intent.idle_timeout, hard_timeout=intent.hard_timeout,
        priority=int(intent.priority), buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY, flags=0, match=match(parser, intent.match), instructions=inst,
    )  # fmt: skip


# ------------------------------------------------------------------ wire bytes without Ryu objects

_HEADER = struct.Struct(_ofp.OFP_HEADER_PACK_STR)
_FLOW_MOD = struct.Struct(_ofp.OFP_FLOW_MOD_PACK_STR0)
_PACKET_OUT = struct.Struct(_ofp.OFP_PACKET_OUT_PACK_STR)
_OUTPUT = struct.Struct(_ofp.OFP_ACTION_OUTPUT_PACK_STR)
_PUSH_POP = struct.Struct("!HHH2x")  # push_mpls / pop_mpls: type, len, ethertype
_INSTRUCTION_ACTIONS = struct.Struct(_ofp.OFP_INSTRUCTION_ACTIONS_PACK_STR)
_INSTRUCTION_GOTO = struct.Struct(_ofp.OFP_INSTRUCTION_GOTO_TABLE_PACK_STR)
_MATCH_HEADER = struct.Struct("!HH")
_COMMANDS = {"add": _ofp.OFPFC_ADD, "delete": _ofp.OFPFC_DELETE, "delete_strict": _ofp.OFPFC_DELETE_STRICT}
_OUTPUT_MAX_LEN = _ofp.OFPCML_MAX  # OFPActionOutput's default max_len
_BARRIER = _HEADER.size


class Unsupported(Exception):
    """Not covered by the byte templates: the caller falls back to Ryu's objects."""


def _mac(value: Any) -> bytes:
    if not isinstance(value, str):
        raise Unsupported
    return bytes.fromhex(value.replace(":", ""))


_IPV6_CACHE: dict[str, bytes] = {}
_IPV6_CACHE_MAX = 1 << 16


def _ipv6(value: Any) -> bytes:
    """A match value ``addr`` or ``prefix/len`` as OXM value (+ mask) bytes, cached.  Parsed by
    ``inet_pton`` (C); ipaddress (which also says what is wrong) only for text it refuses or for a
    prefix with host bits set, which IPv6Network rejects as it did before.  At a million MNs the
    prefixes do not fit the cache and each flow-mod parsed its two: ipaddress's parser halved the
    route set-ups of the receive path."""
    packed = _IPV6_CACHE.get(value)
    if packed is None:
        if not isinstance(value, str):
            raise Unsupported
        addr, slash, plen_text = value.partition("/")
        try:
            raw = socket.inet_pton(socket.AF_INET6, addr)
            plen = int(plen_text) if slash else 128
            if not (0 <= plen <= 128 and (not slash or plen_text.isdigit())):
                raise ValueError(value)
        except (OSError, ValueError):
            raw = b""
        mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1) if raw else 0
        if not raw or (slash and int.from_bytes(raw, "big") & ~mask):
            if slash:  # raises ValueError, as before
                net = ipaddress.IPv6Network(value)
                packed = net.network_address.packed + net.netmask.packed
            else:
                packed = ipaddress.IPv6Address(value).packed
        else:
            packed = raw + mask.to_bytes(16, "big") if slash else raw
        if len(_IPV6_CACHE) >= _IPV6_CACHE_MAX:
            _IPV6_CACHE.clear()
        _IPV6_CACHE[value] = packed
    return packed


def _uint(size: int) -> Callable[[Any], bytes]:
    def pack(value: Any) -> bytes:
        if not isinstance(value, int):
            raise Unsupported
        return int(value).to_bytes(size, "big")

    return pack


# OXM field number and value packer of the match fields the flow builders use
_FIELDS: dict[str, tuple[int, Callable[[Any], bytes]]] = {
    "in_port": (_ofp.OFPXMT_OFB_IN_PORT, _uint(4)),
    "eth_dst": (_ofp.OFPXMT_OFB_ETH_DST, _mac),
    "eth_src": (_ofp.OFPXMT_OFB_ETH_SRC, _mac),
    "eth_type": (_ofp.OFPXMT_OFB_ETH_TYPE, _uint(2)),
    "ip_proto": (_ofp.OFPXMT_OFB_IP_PROTO, _uint(1)),
    "ipv6_src": (_ofp.OFPXMT_OFB_IPV6_SRC, _ipv6),
    "ipv6_dst": (_ofp.OFPXMT_OFB_IPV6_DST, _ipv6),
    "icmpv6_type": (_ofp.OFPXMT_OFB_ICMPV6_TYPE, _uint(1)),
    "ipv6_nd_target": (_ofp.OFPXMT_OFB_IPV6_ND_TARGET, _ipv6),
    "mpls_label": (_ofp.OFPXMT_OFB_MPLS_LABEL, _uint(4)),
}
_BASIC = _ofp.OFPXMC_OPENFLOW_BASIC << 16


def _oxm(name: str, value: Any) -> bytes:
    """One OXM TLV as Ryu's ``oxm_serialize`` writes it (a prefix value carries its mask)."""
    spec = _FIELDS.get(name)
    if spec is None:
        raise Unsupported
    field_no, pack = spec
    body = pack(value)
    masked = name in _PREFIX_FIELDS and isinstance(value, str) and "/" in value
    if not masked and len(body) == 32:
        raise Unsupported
    return (_BASIC | field_no << 9 | int(masked) << 8 | len(body)).to_bytes(4, "big") + body


# match shape (field names in the intent's order) -> the names in OXM order (Ryu sorts by field)
_SHAPES: dict[tuple[str, ...], tuple[str, ...]] = {}


def match_bytes(fields: dict[str, Any]) -> bytes:
    """The ofp_match (OXM, padded to 8 bytes) of ``fields``: as ``OFPMatch(**fields).serialize``."""
    shape = tuple(fields)
    order = _SHAPES.get(shape)
    if order is None:
        if any(name not in _FIELDS for name in shape):
            raise Unsupported
        order = _SHAPES[shape] = tuple(sorted(shape, key=lambda n: _FIELDS[n][0]))
    body = b"".join([_oxm(name, fields[name]) for name in order])
    length = 4 + len(body)
    return _MATCH_HEADER.pack(_ofp.OFPMT_OXM, length) + body + bytes(-length % 8)


def _action_bytes(a: Any) -> bytes:
    if isinstance(a, Output):
        return _OUTPUT.pack(_ofp.OFPAT_OUTPUT, _OUTPUT.size, a.port, _OUTPUT_MAX_LEN)
    if isinstance(a, ToController):
        return _OUTPUT.pack(_ofp.OFPAT_OUTPUT, _OUTPUT.size, _ofp.OFPP_CONTROLLER, a.max_len)
    if isinstance(a, PushMpls):
        return _PUSH_POP.pack(_ofp.OFPAT_PUSH_MPLS, 8, a.ethertype)
    if isinstance(a, PopMpls):
        return _PUSH_POP.pack(_ofp.OFPAT_POP_MPLS, 8, a.ethertype)
    if isinstance(a, SetField) and a.field != "in_port" and a.field not in _PREFIX_FIELDS:
        tlv = _oxm(a.field, a.value)
        length = 4 + len(tlv)
        return _MATCH_HEADER.pack(_ofp.OFPAT_SET_FIELD, length + (-length % 8)) + tlv + bytes(-length % 8)
    raise Unsupported


def flow_mod_bytes(intent: FlowMod, xid: int) -> bytes:
    """The OFPT_FLOW_MOD of ``intent`` (as ``to_ryu(...).serialize()``); Unsupported if the
    templates do not cover it."""
    inst = b""
    if intent.actions:
        acts = b"".join([_action_bytes(a) for a in intent.actions])
        inst = _INSTRUCTION_ACTIONS.pack(_ofp.OFPIT_APPLY_ACTIONS, 8 + len(acts)) + acts
    if intent.goto is not None:
        inst += _INSTRUCTION_GOTO.pack(_ofp.OFPIT_GOTO_TABLE, _INSTRUCTION_GOTO.size, int(intent.goto))
    match = match_bytes(intent.match)
    table = _ofp.OFPTT_ALL if intent.table is None else int(intent.table)
    body = _FLOW_MOD.pack(
        intent.cookie, intent.cookie_mask, table, _COMMANDS[intent.command], intent.idle_timeout,
        intent.hard_timeout, int(intent.priority), _ofp.OFP_NO_BUFFER, _ofp.OFPP_ANY, _ofp.OFPG_ANY, 0,
    )  # fmt: skip
    length = _HEADER.size + len(body) + len(match) + len(inst)
    return _HEADER.pack(_ofp.OFP_VERSION, _ofp.OFPT_FLOW_MOD, length, xid) + body + match + inst


def packet_out_bytes(intent: PacketOut, xid: int) -> bytes:
    action = _OUTPUT.pack(_ofp.OFPAT_OUTPUT, _OUTPUT.size, intent.port, _OUTPUT_MAX_LEN)
    body = _PACKET_OUT.pack(_ofp.OFP_NO_BUFFER, intent.in_port, len(action))
    length = _HEADER.size + len(body) + len(action) + len(intent.data)
    return _HEADER.pack(_ofp.OFP_VERSION, _ofp.OFPT_PACKET_OUT, length, xid) + body + action + intent.data


def to_bytes(datapath, intent: Intent, xid: int) -> bytes:
    """The wire bytes of ``intent`` with ``xid``: packed directly where the templates cover it,
    else through ``to_ryu`` (the same bytes either way)."""
    try:
        if isinstance(intent, FlowMod):
            return flow_mod_bytes(intent, xid)
        if isinstance(intent, PacketOut):
            return packet_out_bytes(intent, xid)
        if isinstance(intent, Barrier):
            return _HEADER.pack(_ofp.OFP_VERSION, _ofp.OFPT_BARRIER_REQUEST, _BARRIER, xid)
    except Unsupported:
        pass
    msg = to_ryu(datapath, intent)
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)
