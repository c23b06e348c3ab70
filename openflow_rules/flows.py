"""Builders for every flow epmip installs.

Each ``install_x`` has a paired delete that shares its ``_x_match`` helper (or, for a by-cookie
delete, its cookie) so the two cannot drift apart; ``INSTALL_DELETE_PAIRS`` lists every pair, and
a delete's parameters are always a subset, by name, of its install's.  Some installs share one
delete: the three binding flows (``install_binding``, ``_punt``, ``_drop``) replace each other in
place and ``delete_binding`` removes whichever is there; the three DRF entries go by their cookie
with ``delete_drf``.  Builders are pure: they take numbers and prefixes and return ``FlowMod``
records with no datapath.  Every add they build is generation 0 and passes
``pipeline.check_flowmod``; every delete ignores the cookie's generation bit except
``delete_stale``, which is all about it.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from openflow_rules import text
from openflow_rules.intents import (
    ETH_TYPE_IPV6,
    ETH_TYPE_MPLS,
    IPPROTO_ICMPV6,
    OFPP_CONTROLLER,
    Action,
    FlowMod,
    Output,
    PopMpls,
    PushMpls,
    SetField,
    ToController,
)
from openflow_rules.pipeline import (
    ANY_GEN_MASK,
    APP_COOKIE,
    APP_MASK,
    DRF_CORRESPONDENT,
    DRF_ENDPOINT,
    FN_SHIFT,
    GEN_BIT,
    GEN_SHIFT,
    OBJ_MASK,
    Fn,
    Prio,
    Table,
    cookie,
    with_generation,
)

ICMPV6_RS = 133
IPPROTO_MH = 135
PUNT_BYTES = 128  # enough for Ethernet + IPv6 + the start of the transport header
ICMPV6_NS = 135

Prefix = ipaddress.IPv6Network | str
Match = dict[str, Any]


def _p(prefix: Prefix) -> str:
    return text.prefix(prefix)


@functools.lru_cache(maxsize=1 << 12)
def _tunnel(label: int, port: int) -> tuple[Action, ...]:
    """Memoised: the actions are immutable, and a switch has one label and port per peer."""
    return (PushMpls(ETH_TYPE_MPLS), SetField("mpls_label", label), Output(port))


def _strict(dpid: int, table: int, priority: int, match: Match, cookie_value: int) -> FlowMod:
    """Delete exactly the flow with this match and priority, if it carries this cookie (any
    generation)."""
    return FlowMod(
        dpid=dpid, table=table, priority=priority, match=match,
        cookie=cookie_value, cookie_mask=ANY_GEN_MASK, command="delete_strict",
    )  # fmt: skip


def _delete_strict(fm: FlowMod) -> FlowMod:
    assert fm.table is not None
    return _strict(fm.dpid, fm.table, fm.priority, fm.match, fm.cookie)


# ------------------------------------------------------------------ whole switch


def delete_all_ours(dpid: int) -> FlowMod:
    """Remove every flow with our cookie from all tables (used when a switch (re)connects)."""
    return FlowMod(dpid, None, 0, {}, cookie=APP_COOKIE, cookie_mask=APP_MASK, command="delete")


def delete_object(dpid: int, fn: Fn, obj: int) -> FlowMod:
    """Remove every flow of one function and object (e.g. all access flows of one MN), whatever
    its generation."""
    return FlowMod(dpid, None, 0, {}, cookie=cookie(fn, obj), cookie_mask=ANY_GEN_MASK, command="delete")


def delete_stale(dpid: int, current_gen: int) -> FlowMod:
    """Remove every flow of ours, in all tables, whose generation bit is not ``current_gen``: the
    break of make-before-break once a reconnected switch has been given its flows again with
    ``in_generation(fm, current_gen)``."""
    if current_gen not in (0, 1):
        raise ValueError(f"generation must be 0 or 1, not {current_gen!r}")
    stale = APP_COOKIE | ((1 - current_gen) << GEN_SHIFT)
    return FlowMod(dpid, None, 0, {}, cookie=stale, cookie_mask=APP_MASK | GEN_BIT, command="delete")


def in_generation(fm: FlowMod, gen: int) -> FlowMod:
    """An add built here, moved to generation ``gen`` (its cookie's G bit); a delete is returned
    unchanged (the delete builders ignore G), and so is an add already in generation 0 (what
    every builder makes: the common case, on every event's path)."""
    if fm.command != "add" or (gen == 0 and not fm.cookie & GEN_BIT):
        return fm
    cookie = with_generation(fm.cookie, gen)
    return fm if cookie == fm.cookie else dataclasses.replace(fm, cookie=cookie)  # a value: no copy needed


# ------------------------------------------------------------------ base (per switch)


def _rs_punt_match() -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ip_proto": IPPROTO_ICMPV6, "icmpv6_type": ICMPV6_RS}


def _ns_punt_match(router_ll: str) -> Match:
    return {
        "eth_type": ETH_TYPE_IPV6, "ip_proto": IPPROTO_ICMPV6, "icmpv6_type": ICMPV6_NS,
        "ipv6_nd_target": router_ll,
    }  # fmt: skip


def install_punts(dpid: int, router_ll: str) -> list[FlowMod]:
    """Router Solicitations and Neighbour Solicitations for the shared router address go to the
    controller, which answers them (every (e)MAG and AR is the same router, RFC 5213 §6.9.3)."""
    c = cookie(Fn.BASE)
    return [
        FlowMod(dpid, Table.CLASSIFY, Prio.PUNT, _rs_punt_match(), (ToController(),), cookie=c),
        FlowMod(dpid, Table.CLASSIFY, Prio.PUNT, _ns_punt_match(router_ll), (ToController(),), cookie=c),
    ]


def delete_punts(dpid: int, router_ll: str) -> list[FlowMod]:
    return [_delete_strict(fm) for fm in install_punts(dpid, router_ll)]


def _from_controller_match() -> Match:
    return {"in_port": OFPP_CONTROLLER, "eth_type": ETH_TYPE_IPV6}


def install_from_controller(dpid: int) -> FlowMod:
    """Packets the controller injects with OFPP_TABLE (a Hop-by-Hop query, §4.4.2) are routed
    like any other; above PUNT so that an eLMA passing a query on does not punt it again."""
    return FlowMod(
        dpid, Table.CLASSIFY, Prio.FROM_CONTROLLER, _from_controller_match(), goto=Table.ROUTE,
        cookie=cookie(Fn.BASE),
    )  # fmt: skip


def delete_from_controller(dpid: int) -> FlowMod:
    return _strict(dpid, Table.CLASSIFY, Prio.FROM_CONTROLLER, _from_controller_match(), cookie(Fn.BASE))


def _mh_punt_match() -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ip_proto": IPPROTO_MH}


def install_mh_punt(dpid: int) -> FlowMod:
    """An eLMA (or access router with an LMF) looks at IPv6 packets carrying a Mobility Header,
    also behind a Hop-by-Hop header (OVS parses past it): the §4.4.2 query."""
    return FlowMod(dpid, Table.CLASSIFY, Prio.PUNT, _mh_punt_match(), (ToController(),), cookie=cookie(Fn.BASE))


def delete_mh_punt(dpid: int) -> FlowMod:
    return _strict(dpid, Table.CLASSIFY, Prio.PUNT, _mh_punt_match(), cookie(Fn.BASE))


def _trunk_match(port: int) -> Match:
    return {"in_port": port, "eth_type": ETH_TYPE_IPV6}


def install_trunk(dpid: int, port: int, goto: Table = Table.ROUTE) -> FlowMod:
    """Plain IPv6 from another switch is routed (the draft's 'routing system').  ``in_port`` is
    cleared for the same reason as in ``install_local_label``: an LMA that receives a packet for
    one of its MNs tunnels it toward the MAG, possibly back out the port it came in on.  A router
    with DRF (§7.3) sends it through UPLINK first (``goto``), where its DRF entries are."""
    return FlowMod(
        dpid, Table.CLASSIFY, Prio.TRUNK, _trunk_match(port), (SetField("in_port", 0),), goto=goto,
        cookie=cookie(Fn.BASE),
    )  # fmt: skip


def delete_trunk(dpid: int, port: int) -> FlowMod:
    return _strict(dpid, Table.CLASSIFY, Prio.TRUNK, _trunk_match(port), cookie(Fn.BASE))


def _mpls_match() -> Match:
    return {"eth_type": ETH_TYPE_MPLS}


def install_mpls_classify(dpid: int) -> FlowMod:
    return FlowMod(dpid, Table.CLASSIFY, Prio.MPLS, _mpls_match(), goto=Table.LABEL, cookie=cookie(Fn.BASE))


def delete_mpls_classify(dpid: int) -> FlowMod:
    return _strict(dpid, Table.CLASSIFY, Prio.MPLS, _mpls_match(), cookie(Fn.BASE))


def _label_match(label: int) -> Match:
    return {"eth_type": ETH_TYPE_MPLS, "mpls_label": label}


def install_local_label(dpid: int, label: int, goto: Table = Table.ROUTE) -> FlowMod:
    """Tunnel egress: pop the label naming this switch and route the inner IPv6 packet.

    ``in_port`` is cleared so that the route may send the packet back out the port it came in on
    (an LMA re-tunnels a packet toward a MAG that may sit behind the same port).  OVS allows
    writing ``in_port`` (ovs-fields(7)); without this the output would be silently dropped.  An
    eLMA(DRF) (§7.2) sends the inner packet through UPLINK (``goto``): its MNs' uplink from the
    MAGs' tunnels meets the DRF entries there."""
    actions = (PopMpls(ETH_TYPE_IPV6), SetField("in_port", 0))
    return FlowMod(
        dpid, Table.LABEL, Prio.LOCAL_LABEL, _label_match(label), actions, goto=goto,
        cookie=cookie(Fn.BASE),
    )  # fmt: skip


def delete_local_label(dpid: int, label: int) -> FlowMod:
    return _strict(dpid, Table.LABEL, Prio.LOCAL_LABEL, _label_match(label), cookie(Fn.BASE))


def install_transit(dpid: int, label: int, port: int) -> FlowMod:
    return FlowMod(dpid, Table.LABEL, Prio.TRANSIT, _label_match(label), (Output(port),), cookie=cookie(Fn.BASE))


def delete_transit(dpid: int, label: int) -> FlowMod:
    return _strict(dpid, Table.LABEL, Prio.TRANSIT, _label_match(label), cookie(Fn.BASE))


def _prefix_match(prefix: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": _p(prefix)}


def install_prefix_route(dpid: int, prefix: Prefix, port: int) -> FlowMod:
    return FlowMod(dpid, Table.ROUTE, Prio.PREFIX, _prefix_match(prefix), (Output(port),), cookie=cookie(Fn.BASE))


def delete_prefix_route(dpid: int, prefix: Prefix, port: int) -> FlowMod:
    return _delete_strict(install_prefix_route(dpid, prefix, port))


# ------------------------------------------------------------------ per MN on its (e)MAG


def _access_match(port: int, hnp: Prefix) -> Match:
    return {"in_port": port, "eth_type": ETH_TYPE_IPV6, "ipv6_src": _p(hnp)}


def install_access(dpid: int, obj: int, port: int, hnp: Prefix) -> FlowMod:
    """Anti-spoofing: only packets sourced from the MN's HNP on its own port enter UPLINK."""
    return FlowMod(
        dpid, Table.CLASSIFY, Prio.ACCESS, _access_match(port, hnp), goto=Table.UPLINK,
        cookie=cookie(Fn.ACCESS, obj),
    )  # fmt: skip


def delete_access(dpid: int, obj: int, port: int, hnp: Prefix) -> FlowMod:
    return _delete_strict(install_access(dpid, obj, port, hnp))


def _anchor_match(hnp: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_src": _p(hnp)}


def install_anchor(dpid: int, obj: int, hnp: Prefix, lma_label: int, port: int, punt: bool = False) -> FlowMod:
    """RFC 5213 reverse tunnel: everything the MN sends goes to its LMA.  With ``punt`` (DAF
    enabled) the controller also gets the packet's headers, so the DRF learns of a correspondent
    it has no entry for yet - the packet itself still goes via the LMA, so nothing is lost while
    the location query runs (§4.2)."""
    actions = ((ToController(PUNT_BYTES),) if punt else ()) + _tunnel(lma_label, port)
    return FlowMod(dpid, Table.UPLINK, Prio.ANCHOR, _anchor_match(hnp), actions, cookie=cookie(Fn.ACCESS, obj))


def delete_anchor(dpid: int, obj: int, hnp: Prefix, lma_label: int, port: int) -> FlowMod:
    return _delete_strict(install_anchor(dpid, obj, hnp, lma_label, port))


# ------------------------------------------------------------------ DRF / DMF on an eMAG


def drf_obj(mn_obj: int, cn_id: int) -> int:
    """Cookie object of a DRF entry (and of an LR flow): the local MN in bits 24-47, the
    correspondent in 0-23 (``pipeline.DRF_ENDPOINT`` / ``DRF_CORRESPONDENT``).  A correspondent
    id is kept to its 24 bits; an MN index too large for its 24 bits makes ``cookie`` refuse."""
    return (mn_obj << DRF_ENDPOINT.shift) | (cn_id & (DRF_CORRESPONDENT.mask >> DRF_CORRESPONDENT.shift))


ANY_SOURCE = "::/0"  # a router with DRF (§7.3) has one "endpoint" for every source


def _drf_match(hnp: Prefix, cn_prefix: Prefix) -> Match:
    source = _p(hnp)
    if source == ANY_SOURCE:  # a router with DRF (§7.3): from any source
        return {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": _p(cn_prefix)}
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_src": source, "ipv6_dst": _p(cn_prefix)}


# a DRF entry's table, priority and cookie (less its object) as plain ints: an enum member's
# attribute read and ``int()`` were a quarter of building an entry (one per route set-up; issue 13)
_UPLINK, _ROUTE, _PRIO_DRF = int(Table.UPLINK), int(Table.ROUTE), int(Prio.DRF)
_DRF_COOKIE = APP_COOKIE | int(Fn.DRF) << FN_SHIFT
_ENDPOINT_SHIFT = DRF_ENDPOINT.shift
_CORRESPONDENT_BITS = DRF_CORRESPONDENT.mask >> DRF_CORRESPONDENT.shift


def install_drf(
    dpid: int, mn_obj: int, cn_id: int, hnp: Prefix, cn_prefix: Prefix, label: int | None, port: int | None
) -> FlowMod:
    """Optimized route (§4.2): the MN's traffic to the correspondent's prefix goes in a direct
    tunnel to the correspondent's eMAG.  ``label`` None means the correspondent is on this switch:
    the packet is routed (delivered) locally.  What ``cookie(Fn.DRF, drf_obj(mn_obj, cn_id))``
    gives, with the same check."""
    obj = mn_obj << _ENDPOINT_SHIFT | cn_id & _CORRESPONDENT_BITS
    if not 0 <= obj <= OBJ_MASK:
        raise ValueError(f"cookie object id {obj} out of range 0..{OBJ_MASK}")
    if label is None or port is None:
        if label is not None or port is not None:
            raise ValueError(f"install_drf: label {label} and port {port} must both be given or both None")
        return FlowMod(dpid, _UPLINK, _PRIO_DRF, _drf_match(hnp, cn_prefix), (), _ROUTE, _DRF_COOKIE | obj)
    return FlowMod(dpid, _UPLINK, _PRIO_DRF, _drf_match(hnp, cn_prefix), _tunnel(label, port), None, _DRF_COOKIE | obj)


def install_drf_fallback(
    dpid: int, mn_obj: int, cn_id: int, hnp: Prefix, cn_prefix: Prefix, lma_label: int, port: int
) -> FlowMod:
    """No location for this correspondent (§5.1): PMIP routing via the LMA, without punting."""
    return FlowMod(
        dpid, Table.UPLINK, Prio.DRF_FALLBACK, _drf_match(hnp, cn_prefix), _tunnel(lma_label, port),
        cookie=cookie(Fn.DRF, drf_obj(mn_obj, cn_id)),
    )  # fmt: skip


def install_drf_fallback_route(dpid: int, mn_obj: int, cn_id: int, src: Prefix, cn_prefix: Prefix) -> FlowMod:
    """An access router's fallback (§5.1/§5.2): plain routing for this pair, without punting.
    ``mn_obj`` is the DRF endpoint: an MN's index or a fixed host's DRF object."""
    return FlowMod(
        dpid, Table.UPLINK, Prio.DRF_FALLBACK, _drf_match(src, cn_prefix), goto=Table.ROUTE,
        cookie=cookie(Fn.DRF, drf_obj(mn_obj, cn_id)),
    )  # fmt: skip


def delete_drf(dpid: int, mn_obj: int, cn_id: int) -> FlowMod:
    """Remove the DRF entry (optimized or fallback, any generation) of one MN toward one
    correspondent: by its cookie, which names the pair, so it need not know the prefixes."""
    return FlowMod(
        dpid, Table.UPLINK, 0, {}, cookie=cookie(Fn.DRF, drf_obj(mn_obj, cn_id)), cookie_mask=ANY_GEN_MASK,
        command="delete",
    )  # fmt: skip


def delete_drf_of_mn(dpid: int, mn_obj: int, fn: Fn = Fn.DRF) -> FlowMod:
    """Remove every DRF entry of one MN (it left this eMAG) - or, with ``fn`` LR, every LR flow
    an LMA holds toward it (all flows whose cookie object has the MN in bits 24-47)."""
    mask = ANY_GEN_MASK & ~DRF_CORRESPONDENT.mask
    return FlowMod(
        dpid, None, 0, {}, cookie=cookie(fn, drf_obj(mn_obj, 0)), cookie_mask=mask, command="delete",
    )  # fmt: skip


def install_buffer(dpid: int, mn_obj: int, hnp: Prefix) -> FlowMod:
    """Handoff buffering: the MN's downlink goes to the controller (whole packets) instead of its
    access port.  At DELIVER priority it replaces the delivery flow; its own cookie function keeps
    it in place when the MN's access flows are removed on detach."""
    return FlowMod(
        dpid, Table.ROUTE, Prio.DELIVER, _deliver_match(hnp), (ToController(),), cookie=cookie(Fn.BUFFER, mn_obj)
    )


def delete_buffer_flows(dpid: int, mn_obj: int) -> FlowMod:
    return delete_object(dpid, Fn.BUFFER, mn_obj)


def _access_miss_match() -> Match:
    return {"eth_type": ETH_TYPE_IPV6}


def install_access_miss(dpid: int) -> FlowMod:
    """On an (e)MAG, IPv6 that matches nothing goes to the controller: a host on a new link sends
    before its flows exist, and those packets are kept and re-injected once it is registered."""
    return FlowMod(
        dpid, Table.CLASSIFY, Prio.ACCESS_MISS, _access_miss_match(), (ToController(),), cookie=cookie(Fn.BASE)
    )


def delete_access_miss(dpid: int) -> FlowMod:
    return _strict(dpid, Table.CLASSIFY, Prio.ACCESS_MISS, _access_miss_match(), cookie(Fn.BASE))


def _redirect_match(hnp: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": _p(hnp)}


def install_redirect(dpid: int, mn_obj: int, hnp: Prefix, label: int, port: int) -> FlowMod:
    """p-eMAG (§4.3): traffic still arriving for an MN that moved is tunnelled to the n-eMAG."""
    return FlowMod(
        dpid, Table.ROUTE, Prio.REDIRECT, _redirect_match(hnp), _tunnel(label, port),
        cookie=cookie(Fn.REDIRECT, mn_obj),
    )  # fmt: skip


def delete_redirect(dpid: int, mn_obj: int, hnp: Prefix) -> FlowMod:
    return _delete_strict(install_redirect(dpid, mn_obj, hnp, 0, 0))


def _deliver_match(hnp: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": _p(hnp)}


def install_deliver(dpid: int, obj: int, hnp: Prefix, port: int, mn_mac: str, router_mac: str) -> FlowMod:
    actions = (SetField("eth_src", router_mac), SetField("eth_dst", mn_mac), Output(port))
    return FlowMod(dpid, Table.ROUTE, Prio.DELIVER, _deliver_match(hnp), actions, cookie=cookie(Fn.ACCESS, obj))


def delete_deliver(dpid: int, obj: int, hnp: Prefix, port: int, mn_mac: str, router_mac: str) -> FlowMod:
    return _delete_strict(install_deliver(dpid, obj, hnp, port, mn_mac, router_mac))


# ------------------------------------------------------------------ per MN on its (e)LMA


def _binding_match(hnp: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": _p(hnp)}


def install_binding(dpid: int, obj: int, hnp: Prefix, coa_label: int, port: int) -> FlowMod:
    """LMA forwarding for a binding cache entry: HNP -> tunnel to the Proxy-CoA.  Re-adding with
    another CoA replaces the flow in place (same match and priority)."""
    return FlowMod(
        dpid, Table.ROUTE, Prio.BINDING, _binding_match(hnp), _tunnel(coa_label, port),
        cookie=cookie(Fn.BINDING, obj),
    )  # fmt: skip


def install_binding_punt(dpid: int, obj: int, hnp: Prefix, coa_label: int, port: int) -> FlowMod:
    """RFC 6705 (mode ``lr``): the LMA tunnels as usual and also gives the controller the
    headers, so it can see two of its MNs talking and localize their route."""
    actions = (ToController(PUNT_BYTES),) + _tunnel(coa_label, port)
    return FlowMod(dpid, Table.ROUTE, Prio.BINDING, _binding_match(hnp), actions, cookie=cookie(Fn.BINDING, obj))


def _lr_quiet_match(src_prefix: Prefix, hnp: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_src": _p(src_prefix), "ipv6_dst": _p(hnp)}


def install_lr_quiet(
    dpid: int, mn_obj: int, src_id: int, src_prefix: Prefix, hnp: Prefix, coa_label: int, port: int
) -> FlowMod:
    """The LMA has seen this source talk to this MN: tunnel without punting again."""
    return FlowMod(
        dpid, Table.ROUTE, Prio.LR_QUIET, _lr_quiet_match(src_prefix, hnp), _tunnel(coa_label, port),
        cookie=cookie(Fn.LR, drf_obj(mn_obj, src_id)),
    )  # fmt: skip


def delete_lr_quiet(dpid: int, mn_obj: int, src_id: int, src_prefix: Prefix, hnp: Prefix) -> FlowMod:
    """One LR flow (``delete_drf_of_mn(dpid, mn_obj, Fn.LR)`` removes all of an MN's)."""
    return _strict(
        dpid, Table.ROUTE, Prio.LR_QUIET, _lr_quiet_match(src_prefix, hnp), cookie(Fn.LR, drf_obj(mn_obj, src_id))
    )


def install_binding_drop(dpid: int, obj: int, hnp: Prefix) -> FlowMod:
    """Drop the HNP's traffic while a de-registered entry waits MinDelayBeforeBCEDelete (RFC 5213
    §5.3.5).  Tunnelling it to the old Proxy-CoA would loop: that MAG no longer delivers the HNP
    and routes it back toward the LMA.  Replaces the binding flow in place (same match, priority
    and cookie), so ``delete_binding`` removes it and a new registration overwrites it."""
    return FlowMod(dpid, Table.ROUTE, Prio.BINDING, _binding_match(hnp), cookie=cookie(Fn.BINDING, obj))


def delete_binding(dpid: int, obj: int, hnp: Prefix) -> FlowMod:
    return _delete_strict(install_binding(dpid, obj, hnp, 0, 0))


# ------------------------------------------------------------------ fixed hosts on an access router


def _fixed_in_match(port: int) -> Match:
    return {"in_port": port, "eth_type": ETH_TYPE_IPV6}


def _host_route_match(address: str) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": f"{address}/128"}


def _fixed_uplink_match(address: str) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_src": f"{address}/128"}


def install_fixed_host(dpid: int, obj: int, port: int, address: str, mac: str, router_mac: str) -> list[FlowMod]:
    c = cookie(Fn.FIXED, obj)
    deliver = (SetField("eth_src", router_mac), SetField("eth_dst", mac), Output(port))
    return [
        FlowMod(dpid, Table.CLASSIFY, Prio.FIXED_HOST, _fixed_in_match(port), goto=Table.ROUTE, cookie=c),
        FlowMod(dpid, Table.ROUTE, Prio.HOST_ROUTE, _host_route_match(address), deliver, cookie=c),
    ]


def install_fixed_host_drf(dpid: int, obj: int, port: int, address: str, mac: str, router_mac: str) -> list[FlowMod]:
    """A fixed host behind an access router with DRF (§5.2): its packets go through UPLINK, where
    DRF entries tunnel them straight to the correspondent's eMAG; anything else is routed as
    usual and its headers punted once so that the DRF can look the correspondent up."""
    c = cookie(Fn.FIXED, obj)
    deliver = (SetField("eth_src", router_mac), SetField("eth_dst", mac), Output(port))
    return [
        FlowMod(dpid, Table.ROUTE, Prio.HOST_ROUTE, _host_route_match(address), deliver, cookie=c),
        FlowMod(
            dpid, Table.UPLINK, Prio.ANCHOR, _fixed_uplink_match(address), (ToController(PUNT_BYTES),),
            goto=Table.ROUTE, cookie=c,
        ),
        FlowMod(dpid, Table.CLASSIFY, Prio.FIXED_HOST, _fixed_in_match(port), goto=Table.UPLINK, cookie=c),
    ]  # fmt: skip


def delete_fixed_host(dpid: int, obj: int, port: int, address: str, mac: str, router_mac: str) -> list[FlowMod]:
    return [_delete_strict(fm) for fm in install_fixed_host(dpid, obj, port, address, mac, router_mac)]


def delete_fixed_host_drf(dpid: int, obj: int, port: int, address: str) -> list[FlowMod]:
    c = cookie(Fn.FIXED, obj)
    return [
        _strict(dpid, Table.ROUTE, Prio.HOST_ROUTE, _host_route_match(address), c),
        _strict(dpid, Table.UPLINK, Prio.ANCHOR, _fixed_uplink_match(address), c),
        _strict(dpid, Table.CLASSIFY, Prio.FIXED_HOST, _fixed_in_match(port), c),
    ]


# ------------------------------------------------------------------ §7: DAF in the LMA, routers with DRF


def _uplink_miss_match() -> Match:
    return {"eth_type": ETH_TYPE_IPV6}


def install_uplink_miss(dpid: int) -> FlowMod:
    """An eLMA(DRF) or a router with DRF: what no DRF entry or punt took is routed as usual."""
    return FlowMod(dpid, Table.UPLINK, Prio.PASS, _uplink_miss_match(), goto=Table.ROUTE, cookie=cookie(Fn.BASE))


def delete_uplink_miss(dpid: int) -> FlowMod:
    return _strict(dpid, Table.UPLINK, Prio.PASS, _uplink_miss_match(), cookie(Fn.BASE))


def _area_match(prefix: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_dst": _p(prefix)}


def install_area_punt(dpid: int, prefix: Prefix) -> FlowMod:
    """A router with DRF announcing the ePMIP area (§7.3): a packet toward the area that matched
    no DRF entry goes to the controller whole; its DRF locates the destination and sends it on."""
    return FlowMod(dpid, Table.UPLINK, Prio.AREA, _area_match(prefix), (ToController(),), cookie=cookie(Fn.BASE))


def delete_area_punt(dpid: int, prefix: Prefix) -> FlowMod:
    return _delete_strict(install_area_punt(dpid, prefix))


def _binding_anchor_match(hnp: Prefix) -> Match:
    return {"eth_type": ETH_TYPE_IPV6, "ipv6_src": _p(hnp)}


def install_binding_anchor(dpid: int, obj: int, hnp: Prefix) -> FlowMod:
    """An eLMA(DRF)'s bound MN (§7.2): its uplink, out of the MAG's tunnel, is routed as usual and
    its headers punted so the DRF can locate the correspondent (the eMAG's anchor flow, moved)."""
    return FlowMod(
        dpid, Table.UPLINK, Prio.ANCHOR, _binding_anchor_match(hnp), (ToController(PUNT_BYTES),), goto=Table.ROUTE,
        cookie=cookie(Fn.BINDING, obj),
    )  # fmt: skip


def delete_binding_anchor(dpid: int, obj: int, hnp: Prefix) -> FlowMod:
    return _delete_strict(install_binding_anchor(dpid, obj, hnp))


# ------------------------------------------------------------------ install -> delete

INSTALL_DELETE_PAIRS: Mapping[str, str] = MappingProxyType(
    {
        "install_punts": "delete_punts",
        "install_from_controller": "delete_from_controller",
        "install_mh_punt": "delete_mh_punt",
        "install_trunk": "delete_trunk",
        "install_mpls_classify": "delete_mpls_classify",
        "install_local_label": "delete_local_label",
        "install_transit": "delete_transit",
        "install_prefix_route": "delete_prefix_route",
        "install_access": "delete_access",
        "install_anchor": "delete_anchor",
        "install_access_miss": "delete_access_miss",
        # the DRF entries of one endpoint toward one correspondent share their cookie
        "install_drf": "delete_drf",
        "install_drf_fallback": "delete_drf",
        "install_drf_fallback_route": "delete_drf",
        "install_buffer": "delete_buffer_flows",
        "install_redirect": "delete_redirect",
        "install_deliver": "delete_deliver",
        # the binding flows replace each other in place (same match, priority and cookie)
        "install_binding": "delete_binding",
        "install_binding_punt": "delete_binding",
        "install_binding_drop": "delete_binding",
        "install_lr_quiet": "delete_lr_quiet",
        "install_fixed_host": "delete_fixed_host",
        "install_fixed_host_drf": "delete_fixed_host_drf",
        "install_uplink_miss": "delete_uplink_miss",
        "install_area_punt": "delete_area_punt",
        "install_binding_anchor": "delete_binding_anchor",
    }
)
"""Every ``install_x`` builder -> the builder of the delete that removes what it installed.  A
delete's parameters are a subset, by name, of its install's: call it with the same arguments."""
