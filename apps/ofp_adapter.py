"""Turn framework-free intents into Ryu OpenFlow 1.3 messages (the only place that does)."""

from __future__ import annotations

import ipaddress
from typing import Any

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
