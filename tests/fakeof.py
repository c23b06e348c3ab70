"""An in-memory OpenFlow 1.3 model of every switch of a domain, for tests.

Written for epmip from the OpenFlow 1.3 specification (the idea of faucet's fakeoftable, none of
its code).  Three layers:

* ``FakeSwitch``: one datapath's tables.  ``apply`` first holds every ``FlowMod`` against the
  pipeline (``openflow_rules.pipeline.check_flowmod``: tables, match fields, actions, gotos,
  priority bands, cookie layout) and refuses what it does not allow, then gives it its real
  semantics: add replaces a flow with the identical match and priority - new cookie, actions and
  goto - and keeps its counters (OpenFlow 1.3 §6.4: they are copied unless OFPFF_RESET_COUNTS,
  which the adapter never sets; OVS does the same); non-strict delete removes every flow at least
  as specific as the given match whose cookie matches under the mask (every bit, the generation
  bit included: a zero mask bit is a don't-care); delete_strict removes the one flow with exactly
  that match and priority whose cookie matches under the mask.  A switch made with
  ``pipeline=False`` skips the pipeline check and models plain OpenFlow 1.3 (for the tests of the
  model itself, whose flows are not epmip's).  ``process`` runs a
  packet through the pipeline: highest priority match per table, apply-actions in order, goto,
  table miss = drop, and - like OVS - an output to the packet's own ``in_port`` is dropped.
* ``Network``: the switches of a ``Domain`` joined by its links; ``walk`` follows a packet from
  switch to switch and returns a ``Trace`` (the flows it hit and where it ended).
* ``FakeNet``: a harness that owns an ``EpmipController``, applies every intent it returns to the
  tables and lets a test attach, move and detach hosts, send Router Solicitations, advance time
  and send packets.

A packet is a dict of header fields (``eth_src``, ``eth_dst``, ``eth_type``, ``ipv6_src``,
``ipv6_dst``, ``ip_proto``, ``icmpv6_type``, ``ipv6_nd_target``, ``mpls`` - the label stack,
outermost first - and ``in_port``); ``data`` may carry the raw frame handed to the controller
on a packet-in.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from controller import ndp
from controller.config import Domain, FixedNode, MobileNode, access_port_mac
from controller.core import EpmipController, PortInfo
from openflow_rules.intents import (
    ETH_TYPE_IPV6,
    ETH_TYPE_MPLS,
    IPPROTO_ICMPV6,
    OFPP_CONTROLLER,
    OFPP_IN_PORT,
    OFPP_TABLE,
    Action,
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
from openflow_rules.pipeline import PipelineError, Table, check_flowmod

Packet = dict[str, Any]

ETH_TYPE_MPLS_MC = 0x8848
PREFIX_FIELDS = ("ipv6_src", "ipv6_dst")
# field -> (prerequisite field, allowed values); OpenFlow 1.3 §7.2.3.6
PREREQS: dict[str, tuple[str, tuple[int, ...]]] = {
    "ipv6_src": ("eth_type", (ETH_TYPE_IPV6,)),
    "ipv6_dst": ("eth_type", (ETH_TYPE_IPV6,)),
    "ip_proto": ("eth_type", (ETH_TYPE_IPV6, 0x0800)),
    "icmpv6_type": ("ip_proto", (IPPROTO_ICMPV6,)),
    "ipv6_nd_target": ("icmpv6_type", (135, 136)),
    "mpls_label": ("eth_type", (ETH_TYPE_MPLS, ETH_TYPE_MPLS_MC)),
}
MATCH_FIELDS = {"in_port", "eth_src", "eth_dst", "eth_type", *PREREQS}
SET_FIELDS = {"in_port", "eth_src", "eth_dst", "ipv6_src", "ipv6_dst", "mpls_label"}


class FakeOFError(Exception):
    """A flow-mod or action a real switch would reject, or a misuse of the model."""


class ForwardingLoop(FakeOFError):
    """A packet kept circulating between switches."""


# ------------------------------------------------------------------ matches


def _norm_value(name: str, value: Any) -> Any:
    if name in PREFIX_FIELDS or name == "ipv6_nd_target":
        text = str(value)
        if "/" in text:
            net = ipaddress.IPv6Network(text, strict=False)
            return str(net.network_address) if net.prefixlen == 128 else str(net)
        return str(ipaddress.IPv6Address(text))
    if name in ("eth_src", "eth_dst"):
        return str(value).lower()
    return int(value)


def normalize_match(match: dict[str, Any]) -> dict[str, Any]:
    """Canonical values (lower-case MACs, compressed IPv6, /128 as a plain address) and an error
    for what a switch would reject: unknown fields and missing prerequisites."""
    out: dict[str, Any] = {}
    for name, value in match.items():
        if name not in MATCH_FIELDS:
            raise FakeOFError(f"match field {name!r} is not modelled")
        out[name] = _norm_value(name, value)
    for name in out:
        if name in PREREQS:
            need, allowed = PREREQS[name]
            if out.get(need) not in allowed:
                raise FakeOFError(f"match on {name} needs {need} in {allowed} (OFPBMC_BAD_PREREQ)")
    return out


@functools.lru_cache(maxsize=8192)
def _net(value: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(value if "/" in value else f"{value}/128")


@functools.lru_cache(maxsize=8192)
def _addr(value: str) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(value)


def field_matches(name: str, want: Any, packet: Packet) -> bool:
    """Does one (normalized) match field accept the packet?  Prerequisites are checked too."""
    if name in PREREQS:
        need, allowed = PREREQS[name]
        if packet.get(need) not in allowed:
            return False
    if name == "mpls_label":
        stack = packet.get("mpls") or []
        return bool(stack) and stack[0] == want
    have = packet.get(name)
    if have is None:
        return False
    if name in PREFIX_FIELDS:
        return _addr(have) in _net(want)  # parsed once per distinct string: walks stay cheap
    return _norm_value(name, have) == want


def copy_packet(packet: Packet) -> Packet:
    """A copy that no action on it can change the original through: the header fields are
    immutable values, only the MPLS label stack is a list (cheaper than ``copy.deepcopy``, which
    dominated long walks)."""
    out = dict(packet)
    if "mpls" in out and out["mpls"] is not None:
        out["mpls"] = list(out["mpls"])
    return out


def matches(match: dict[str, Any], packet: Packet) -> bool:
    return all(field_matches(k, v, packet) for k, v in match.items())


def _values_overlap(name: str, a: Any, b: Any) -> bool:
    if name in PREFIX_FIELDS:
        return _net(a).overlaps(_net(b))
    return a == b


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Could one packet match both?  Exact for this field set: fields are independent, so two
    matches overlap unless some field they both constrain has disjoint values."""
    return all(_values_overlap(k, a[k], b[k]) for k in a.keys() & b.keys())


def _within(name: str, flow_value: Any, want: Any) -> bool:
    """Is the flow's value for a field at least as specific as the delete's?"""
    if name in PREFIX_FIELDS:
        return _net(flow_value).subnet_of(_net(want))
    return flow_value == want


# ------------------------------------------------------------------ one switch


@dataclass
class Flow:
    table: int
    priority: int
    match: dict[str, Any]
    actions: tuple[Action, ...]
    goto: int | None
    cookie: int
    packets: int = 0

    def describe(self) -> str:
        m = ",".join(f"{k}={v}" for k, v in sorted(self.match.items()))
        g = f" goto:{self.goto}" if self.goto is not None else ""
        return f"t={self.table} p={self.priority} cookie={self.cookie:#x} {m} -> {self.actions}{g}"


@dataclass
class Result:
    """What one switch did with one packet."""

    hits: list[tuple[int, Flow | None]] = field(default_factory=list)  # (table, flow or miss)
    outputs: list[tuple[int, Packet]] = field(default_factory=list)
    packet_ins: list[Packet] = field(default_factory=list)
    punt_tables: list[int] = field(default_factory=list)  # the table each packet-in came from
    suppressed: list[int] = field(default_factory=list)  # outputs to the in_port, dropped


class FakeSwitch:
    def __init__(self, dpid: int, name: str = "", check_overlap: bool = True, pipeline: bool = True) -> None:
        self.dpid = dpid
        self.name = name or f"dp{dpid}"
        self.check_overlap = check_overlap
        self.pipeline = pipeline  # refuse flow-mods that openflow_rules.pipeline does not allow
        self.tables: dict[int, list[Flow]] = {}

    # ------------------------------------------------------------ flow-mods

    def apply(self, fm: FlowMod) -> None:
        if fm.dpid != self.dpid:
            raise FakeOFError(f"flow-mod for dpid {fm.dpid} applied to {self.name} ({self.dpid})")
        if self.pipeline:
            try:
                check_flowmod(fm)
            except PipelineError as e:
                raise FakeOFError(f"{self.name}: the pipeline refuses it: {e}") from e
        match = normalize_match(fm.match)
        if fm.command == "add":
            self._add(fm, match)
        elif fm.command == "delete":
            self._delete(fm, match, strict=False)
        elif fm.command == "delete_strict":
            self._delete(fm, match, strict=True)
        else:
            raise FakeOFError(f"flow-mod command {fm.command!r} is not modelled")

    def _add(self, fm: FlowMod, match: dict[str, Any]) -> None:
        if fm.table is None:
            raise FakeOFError("add needs a table (OFPTT_ALL is only valid for deletes)")
        table = int(fm.table)
        if not 0 <= fm.priority <= 0xFFFF:
            raise FakeOFError(f"priority {fm.priority} out of range")
        if fm.goto is not None and int(fm.goto) <= table:
            raise FakeOFError(f"goto {fm.goto} from table {table} must go forward (OFPBIC_BAD_TABLE_ID)")
        for action in fm.actions:
            _check_action(action)
        # a flow with the identical match and priority is replaced; its counters are copied over
        # (OpenFlow 1.3 §6.4 without OFPFF_RESET_COUNTS, as OVS does)
        old = self.tables.get(table, [])
        same = [f for f in old if f.priority == fm.priority and f.match == match]
        flows = [f for f in old if not (f.priority == fm.priority and f.match == match)]
        if self.check_overlap:
            for other in flows:
                if other.priority == fm.priority and overlaps(other.match, match):
                    raise FakeOFError(
                        f"{self.name}: {fm.describe()} overlaps {other.describe()} at the same "
                        "priority; which one a packet hits would be undefined"
                    )
        goto = None if fm.goto is None else int(fm.goto)
        packets = same[0].packets if same else 0
        flows.append(Flow(table, int(fm.priority), match, tuple(fm.actions), goto, fm.cookie, packets))
        flows.sort(key=lambda f: -f.priority)  # stable: equal priorities keep insertion order
        self.tables[table] = flows

    def _delete(self, fm: FlowMod, match: dict[str, Any], strict: bool) -> None:
        tables = list(self.tables) if fm.table is None else [int(fm.table)]
        for t in tables:
            self.tables[t] = [f for f in self.tables.get(t, []) if not self._selected(f, fm, match, strict)]

    @staticmethod
    def _selected(flow: Flow, fm: FlowMod, match: dict[str, Any], strict: bool) -> bool:
        # OpenFlow 1.3 §6.4: only flows whose cookie equals the given one under the mask, bit by
        # bit (so a mask without the generation bit selects both generations)
        if (flow.cookie & fm.cookie_mask) != (fm.cookie & fm.cookie_mask):
            return False
        if strict:
            return flow.priority == fm.priority and flow.match == match
        return all(k in flow.match and _within(k, flow.match[k], v) for k, v in match.items())

    # ------------------------------------------------------------ queries

    def flows(self, table: int | None = None, cookie: int | None = None, mask: int = (1 << 64) - 1) -> list[Flow]:
        out = []
        for t in sorted(self.tables):
            if table is None or t == table:
                out += [f for f in self.tables[t] if cookie is None or f.cookie & mask == cookie & mask]
        return out

    def lookup(self, table: int, packet: Packet) -> Flow | None:
        for flow in self.tables.get(table, []):  # kept sorted by priority, highest first
            if matches(flow.match, packet):
                return flow
        return None

    def dump(self) -> str:
        return "\n".join(f"{self.name} {f.describe()} n={f.packets}" for f in self.flows())

    # ------------------------------------------------------------ the pipeline

    def process(self, packet: Packet, in_port: int) -> Result:
        pkt = copy_packet(packet)
        pkt["in_port"] = in_port
        result = Result()
        table: int | None = 0
        while table is not None:
            flow = self.lookup(table, pkt)
            result.hits.append((table, flow))
            if flow is None:
                break  # table miss: drop (OF 1.3 default without a table-miss flow)
            flow.packets += 1
            punted = len(result.packet_ins)
            for action in flow.actions:
                self._act(action, pkt, result)
            result.punt_tables += [table] * (len(result.packet_ins) - punted)
            table = flow.goto
        return result

    def _act(self, action: Action, pkt: Packet, result: Result) -> None:
        if isinstance(action, Output):
            port = action.port
            if port == OFPP_CONTROLLER:
                result.packet_ins.append(copy_packet(pkt))
            elif port == OFPP_IN_PORT:
                if pkt.get("in_port"):
                    result.outputs.append((pkt["in_port"], copy_packet(pkt)))
                else:
                    result.suppressed.append(port)  # in_port cleared: nowhere to send it
            elif port == pkt.get("in_port"):
                result.suppressed.append(port)  # OpenFlow: never out the ingress port
            else:
                result.outputs.append((port, copy_packet(pkt)))
        elif isinstance(action, ToController):
            result.packet_ins.append(copy_packet(pkt))
        elif isinstance(action, PushMpls):
            stack = list(pkt.get("mpls") or [])
            stack.insert(0, stack[0] if stack else 0)  # a new outer label copies the old one
            pkt["mpls"] = stack
            pkt["eth_type"] = action.ethertype
        elif isinstance(action, PopMpls):
            stack = list(pkt.get("mpls") or [])
            if pkt.get("eth_type") not in (ETH_TYPE_MPLS, ETH_TYPE_MPLS_MC) or not stack:
                raise FakeOFError(f"{self.name}: pop_mpls on a packet without MPLS: {pkt}")
            stack.pop(0)
            pkt["mpls"] = stack
            pkt["eth_type"] = action.ethertype if not stack else ETH_TYPE_MPLS
        elif isinstance(action, SetField):
            if action.field == "mpls_label":
                if not pkt.get("mpls"):
                    raise FakeOFError(f"{self.name}: set mpls_label on a packet without MPLS")
                pkt["mpls"][0] = int(action.value)
            else:
                pkt[action.field] = _norm_value(action.field, action.value)


def _check_action(action: Action) -> None:
    if isinstance(action, SetField) and action.field not in SET_FIELDS:
        raise FakeOFError(f"set_field {action.field!r} is not modelled")
    if not isinstance(action, Output | ToController | PushMpls | PopMpls | SetField):
        raise FakeOFError(f"unknown action {action!r}")


# ------------------------------------------------------------------ the network


@dataclass(frozen=True)
class Hop:
    switch: str
    in_port: int
    table: int
    flow: Flow | None  # None: table miss


@dataclass(frozen=True)
class Outcome:
    kind: str  # "delivered", "dropped" or "controller"
    switch: str
    port: int | None  # delivered: the output port; otherwise the ingress port
    packet: Packet
    why: str = ""


@dataclass
class Trace:
    hops: list[Hop] = field(default_factory=list)
    arrivals: list[tuple[str, int, Packet]] = field(default_factory=list)  # packet on entering
    outcomes: list[Outcome] = field(default_factory=list)
    punts: list[Outcome] = field(default_factory=list)  # DRF punts handed to the controller

    @property
    def outcome(self) -> Outcome:
        if len(self.outcomes) != 1:
            raise FakeOFError(f"expected one outcome, got {self.outcomes}")
        return self.outcomes[0]

    def delivered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == "delivered"]

    def describe(self) -> str:
        lines = [f"{h.switch}:{h.in_port} t{h.table} {h.flow.describe() if h.flow else 'MISS'}" for h in self.hops]
        lines += [f"=> {o.kind} at {o.switch} port {o.port} {o.why}" for o in self.outcomes]
        return "\n".join(lines)


def is_delivered(trace: Trace, switch: str, port: int) -> bool:
    return any(o.switch == switch and o.port == port for o in trace.delivered())


def switches_crossed(trace: Trace) -> list[str]:
    """The switches the packet entered, in order (a switch entered twice appears twice)."""
    return [name for name, _, _ in trace.arrivals]


class Network:
    def __init__(self, domain: Domain, max_hops: int = 64, pipeline: bool = True) -> None:
        self.domain = domain
        self.max_hops = max_hops
        self.switches = {sw.name: FakeSwitch(sw.dpid, sw.name, pipeline=pipeline) for sw in domain.switches.values()}
        self.by_dpid = {s.dpid: s for s in self.switches.values()}
        self.links: dict[tuple[str, int], tuple[str, int]] = {}
        for link in domain.links:
            self.links[(link.a, link.a_port)] = (link.b, link.b_port)
            self.links[(link.b, link.b_port)] = (link.a, link.a_port)
        self.host_ports: dict[tuple[str, int], str] = {}  # (switch, port) -> host name
        self.packet_outs: list[tuple[str, PacketOut]] = []

    def apply(self, intents: Iterable[Intent]) -> None:
        for intent in intents:
            sw = self.by_dpid.get(intent.dpid)
            if sw is None:
                raise FakeOFError(f"intent for unknown dpid {intent.dpid}: {intent}")
            if isinstance(intent, FlowMod):
                sw.apply(intent)
            elif isinstance(intent, PacketOut):
                self.packet_outs.append((sw.name, intent))
            elif not isinstance(intent, Barrier):
                raise FakeOFError(f"unknown intent {intent!r}")

    def walk(self, switch: str, in_port: int, packet: Packet) -> Trace:
        """Follow a packet from ``switch``/``in_port`` until every copy has left on a host port,
        been dropped or reached the controller; ForwardingLoop past ``max_hops`` switches."""
        trace = Trace()
        # each copy carries the states it has been in: meeting one again is a loop
        todo: list[tuple[str, int, Packet, frozenset[str]]] = [(switch, in_port, copy_packet(packet), frozenset())]
        while todo:
            name, port, pkt, seen = todo.pop(0)
            state = repr((name, port, sorted((k, v) for k, v in pkt.items() if k != "in_port")))
            if state in seen or len(trace.arrivals) >= self.max_hops:
                raise ForwardingLoop(f"packet loops at {name} port {port}:\n{trace.describe()}")
            seen = seen | {state}
            trace.arrivals.append((name, port, copy_packet(pkt)))
            result = self.switches[name].process(pkt, port)
            trace.hops += [Hop(name, port, t, f) for t, f in result.hits]
            for p, t in zip(result.packet_ins, result.punt_tables, strict=True):
                trace.outcomes.append(Outcome("controller", name, port, p, f"table {t}"))
            for out_port, p in result.outputs:
                peer = self.links.get((name, out_port))
                if peer is not None:
                    todo.append((peer[0], peer[1], p, seen))
                elif (name, out_port) in self.host_ports:
                    trace.outcomes.append(Outcome("delivered", name, out_port, p, self.host_ports[(name, out_port)]))
                else:
                    trace.outcomes.append(Outcome("dropped", name, out_port, p, "output to a port with no host"))
            if not result.outputs and not result.packet_ins:
                table, flow = result.hits[-1]
                why = (
                    f"in_port output suppressed in table {table}"
                    if result.suppressed
                    else (f"table {table} miss" if flow is None else f"no output in table {table}")
                )
                trace.outcomes.append(Outcome("dropped", name, port, pkt, why))
        return trace


# ------------------------------------------------------------------ packets


def ipv6_packet(src: str, dst: str, eth_src: str, eth_dst: str, **fields: Any) -> Packet:
    """A UDP-over-IPv6 packet; ``fields`` override or add header fields."""
    pkt: Packet = {"eth_src": eth_src, "eth_dst": eth_dst, "eth_type": ETH_TYPE_IPV6,
                   "ipv6_src": str(src), "ipv6_dst": str(dst), "ip_proto": 17,
                   "mpls": []}  # fmt: skip
    pkt.update(fields)
    return pkt


def frame_packet(frame: bytes) -> Packet:
    """The model's header fields of a raw Ethernet frame (e.g. a packet-out's data), the frame kept
    in ``data``.  Like OVS, ``ip_proto`` is the protocol after a Hop-by-Hop options header."""
    frame = bytes(frame)
    if len(frame) < 14:
        raise FakeOFError(f"frame of {len(frame)} bytes has no Ethernet header")
    pkt: Packet = {"eth_dst": ":".join(f"{b:02x}" for b in frame[0:6]),
                   "eth_src": ":".join(f"{b:02x}" for b in frame[6:12]),
                   "eth_type": int.from_bytes(frame[12:14], "big"), "mpls": [], "data": frame}  # fmt: skip
    if pkt["eth_type"] == ETH_TYPE_IPV6 and len(frame) >= 54:
        proto = frame[20]
        if proto == 0 and len(frame) >= 55:  # Hop-by-Hop: the next header is the upper layer
            proto = frame[54]
        pkt["ipv6_src"] = str(ipaddress.IPv6Address(frame[22:38]))
        pkt["ipv6_dst"] = str(ipaddress.IPv6Address(frame[38:54]))
        pkt["ip_proto"] = proto
    return pkt


# ------------------------------------------------------------------ the harness


class FakeNet:
    """An ``EpmipController`` driving a ``Network``; every intent is applied as it is returned."""

    def __init__(self, domain: Domain, now: float = 0.0, connect: bool = True) -> None:
        self.domain = domain
        self.now = now
        self.ctl = EpmipController(domain)
        self.net = Network(domain)
        self.intents: list[Intent] = []
        self.where: dict[str, tuple[str, int]] = {}  # host -> (switch, port)
        self.walk_packet_outs = False  # True: every OFPP_TABLE packet-out is walked as it comes
        self.packet_out_traces: list[Trace] = []  # walks of OFPP_TABLE packet-outs, in order
        if connect:
            for name in domain.switches:
                self.connect(name)

    # ------------------------------------------------------------ plumbing

    def apply(self, intents: list[Intent]) -> list[Intent]:
        self.intents += intents
        self.net.apply(intents)
        if self.walk_packet_outs:
            for intent in intents:
                if isinstance(intent, PacketOut) and intent.port == OFPP_TABLE:
                    self.inject_packet_out(self.net.by_dpid[intent.dpid].name, intent)
        return intents

    def inject_packet_out(self, switch: str, packet_out: PacketOut) -> list[Trace]:
        """Walk a packet-out to OFPP_TABLE through ``switch``'s tables from its ``in_port`` (what a
        real switch does with it).  A copy that reaches the controller is handed to ``packet_in``
        and its intents applied; a packet-out to OFPP_TABLE among them (a query passed on) is
        walked in turn.  Returns one trace per walk, first the given packet-out's."""
        if packet_out.port != OFPP_TABLE:
            raise FakeOFError(f"only packet-outs to OFPP_TABLE go through the tables, not port {packet_out.port}")
        traces: list[Trace] = []
        todo = [(switch, packet_out)]
        while todo:
            if len(traces) >= self.net.max_hops:
                raise ForwardingLoop(f"packet-outs keep coming back to the tables: {[t.describe() for t in traces]}")
            name, out = todo.pop(0)
            trace = self.net.walk(name, out.in_port, frame_packet(out.data))
            traces.append(trace)
            for o in trace.outcomes:
                if o.kind != "controller" or o.packet.get("data") is None:
                    continue
                intents = self.ctl.packet_in(self.dpid(o.switch), o.port, o.packet["data"], self.now)
                self.intents += intents
                self.net.apply(intents)
                for i in intents:
                    if isinstance(i, PacketOut) and i.port == OFPP_TABLE:
                        todo.append((self.net.by_dpid[i.dpid].name, i))
        self.packet_out_traces += traces
        return traces

    def table_packet_outs(self, since: int = 0) -> list[tuple[str, PacketOut]]:
        """The packet-outs to OFPP_TABLE the controller sent (``since``: skip the first ones)."""
        return [(sw, po) for sw, po in self.net.packet_outs[since:] if po.port == OFPP_TABLE]

    def switch(self, name: str) -> FakeSwitch:
        return self.net.switches[name]

    def dpid(self, name: str) -> int:
        return self.domain.switches[name].dpid

    def connect(self, name: str) -> list[Intent]:
        """switch_up with its trunk ports and the host ports attached to it."""
        dpid = self.dpid(name)
        ports = [
            PortInfo(p, f"0a:00:{dpid >> 8 & 0xFF:02x}:{dpid & 0xFF:02x}:00:{p & 0xFF:02x}")
            for p in sorted(self.domain.trunk_ports(name))
        ]
        ports += [
            PortInfo(port, access_port_mac(self.node(host).mac))
            for host, (sw, port) in self.where.items()
            if sw == name
        ]
        return self.apply(self.ctl.switch_up(dpid, ports, self.now))

    def node(self, host: str) -> MobileNode | FixedNode:
        d = self.domain
        found = d.mobile_nodes.get(host) or d.fixed_nodes.get(host)
        if found is None:
            raise KeyError(f"no host {host!r} in the domain")
        return found

    def free_port(self, switch: str) -> int:
        used = set(self.domain.trunk_ports(switch))
        used |= {p for s, p in self.where.values() if s == switch}
        return max(used, default=0) + 1

    # ------------------------------------------------------------ hosts

    def attach(self, host: str, switch: str | None = None, port: int | None = None) -> int:
        """Plug ``host`` into ``switch`` (default: its configured one) and tell the controller."""
        node = self.node(host)
        if host in self.where:
            raise FakeOFError(f"{host} is already attached at {self.where[host]}")
        switch = switch or node.attach
        port = port or self.free_port(switch)
        self.where[host] = (switch, port)
        self.net.host_ports[(switch, port)] = host
        info = PortInfo(port, access_port_mac(node.mac))
        self.apply(self.ctl.port_added(self.dpid(switch), info, self.now))
        return port

    def detach(self, host: str) -> list[Intent]:
        switch, port = self.where.pop(host)
        del self.net.host_ports[(switch, port)]
        return self.apply(self.ctl.port_removed(self.dpid(switch), port, self.now))

    def move(self, host: str, switch: str, port: int | None = None) -> int:
        self.detach(host)
        return self.attach(host, switch, port)

    def port_of(self, host: str) -> tuple[str, int]:
        return self.where[host]

    def hnp(self, mn_id: str) -> ipaddress.IPv6Network:
        bce = self.ctl.binding(mn_id)
        if bce is None:
            raise LookupError(f"{mn_id} has no binding")
        return ipaddress.IPv6Network(bce["hnps"][0])

    def address(self, host: str, iid: int = 0x10) -> str:
        """A fixed node's address, or the address an MN forms in its HNP (interface id ``iid``)."""
        node = self.node(host)
        if isinstance(node, FixedNode):
            return str(node.address)
        return str(self.hnp(host).network_address + iid)

    # ------------------------------------------------------------ time and signalling

    def advance(self, seconds: float) -> list[Intent]:
        self.now += seconds
        return self.apply(self.ctl.tick(self.now))

    def solicit(self, host: str, src: str = "::") -> tuple[Trace, list[PacketOut]]:
        """The host sends a Router Solicitation; what the tables punt goes to ``packet_in``.
        Returns the RS's trace and the packet-outs the controller answered with."""
        node = self.node(host)
        frame = ndp.router_solicitation(node.mac, src)
        rs = {"eth_src": node.mac, "eth_dst": "33:33:00:00:00:02", "eth_type": ETH_TYPE_IPV6,
              "ipv6_src": src, "ipv6_dst": "ff02::2", "ip_proto": IPPROTO_ICMPV6,
              "icmpv6_type": 133, "mpls": [], "data": frame}  # fmt: skip
        trace = self.send_raw(host, rs)
        return trace, self.deliver_packet_ins(trace)

    def deliver_packet_ins(self, trace: Trace) -> list[PacketOut]:
        outs: list[PacketOut] = []
        for o in trace.outcomes:
            if o.kind == "controller" and o.packet.get("data") is not None:
                intents = self.apply(self.ctl.packet_in(self.dpid(o.switch), o.port, o.packet["data"], self.now))
                outs += [i for i in intents if isinstance(i, PacketOut)]
        return outs

    # ------------------------------------------------------------ data packets

    def send_raw(self, host: str, packet: Packet) -> Trace:
        switch, port = self.where[host]
        return self.net.walk(switch, port, packet)

    def send(self, host: str, dst: str, src: str | None = None, **fields: Any) -> Trace:
        """``host`` sends an IPv6 packet to ``dst`` (from its own address unless ``src``).  A copy
        the UPLINK table punts (DRF miss) is handed to the controller as a real switch would, and
        moved from ``outcomes`` to ``punts``, so ``outcome`` is what happened to the packet."""
        node = self.node(host)
        src = src if src is not None else self.address(host)
        trace = self.send_raw(host, ipv6_packet(src, dst, node.mac, self.domain.router_mac, **fields))
        for o in [o for o in trace.outcomes if o.kind == "controller" and o.packet.get("data") is None]:
            trace.outcomes.remove(o)
            trace.punts.append(o)
            header = (
                bytes.fromhex(o.packet["eth_dst"].replace(":", "") + o.packet["eth_src"].replace(":", ""))
                + b"\x86\xdd" + bytes(8)
                + ipaddress.IPv6Address(o.packet["ipv6_src"]).packed
                + ipaddress.IPv6Address(o.packet["ipv6_dst"]).packed
            )  # fmt: skip
            table = int(o.why.split()[-1]) if o.why.startswith("table ") else Table.UPLINK
            self.apply(self.ctl.packet_in(self.dpid(o.switch), o.port, header, self.now, table=table))
        return trace

    def inject(self, switch: str, port: int, dst: str, src: str = "2001:db8:f::99") -> Trace:
        """A plain IPv6 packet arriving at ``switch`` on ``port`` (e.g. from a trunk)."""
        return self.net.walk(switch, port, ipv6_packet(src, dst, "0a:00:00:00:00:99", self.domain.router_mac))
