"""Framework-free OpenFlow 1.3 intents.

The control logic returns these records; ``apps/ofp_adapter.py`` turns them into Ryu messages and
the in-memory table model of the tests applies them directly.  Keeping them plain data means the
whole controller can be tested without a switch, and the same records can be logged or diffed.

Match fields use Ryu's OXM names (``in_port``, ``eth_type``, ``ipv6_dst``, ``mpls_label`` ...).
Masked IPv6 fields are written as a prefix string, e.g. ``"2001:db8:a:1::/64"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OFPP_IN_PORT = 0xFFFFFFF8
OFPP_TABLE = 0xFFFFFFF9
OFPP_CONTROLLER = 0xFFFFFFFD
ETH_TYPE_IPV6 = 0x86DD
ETH_TYPE_MPLS = 0x8847
IPPROTO_ICMPV6 = 58


@dataclass(frozen=True)
class Output:
    port: int


@dataclass(frozen=True)
class ToController:
    max_len: int = 0xFFFF  # OFPCML_NO_BUFFER: the whole packet, no buffer id


@dataclass(frozen=True)
class PushMpls:
    ethertype: int = ETH_TYPE_MPLS


@dataclass(frozen=True)
class PopMpls:
    ethertype: int = ETH_TYPE_IPV6


@dataclass(frozen=True)
class SetField:
    field: str
    value: Any


Action = Output | ToController | PushMpls | PopMpls | SetField


@dataclass(slots=True)
class FlowMod:
    """One flow-mod.  ``command`` is ``add``, ``delete_strict`` or ``delete`` (non-strict, by match
    and cookie/mask, across ``table`` or all tables when ``table`` is None).

    A value: nothing changes one after it is made (``dataclasses.replace`` makes another), and
    one may be shared (``flows.in_generation`` returns it as is).  Not ``frozen``: a frozen
    dataclass sets each of its eleven fields through ``object.__setattr__``, which made building
    one three times dearer, and every event builds several (issue 13)."""

    dpid: int
    table: int | None
    priority: int
    match: dict[str, Any]
    actions: tuple[Action, ...] = ()
    goto: int | None = None
    cookie: int = 0
    cookie_mask: int = 0
    command: str = "add"
    idle_timeout: int = 0
    hard_timeout: int = 0

    def describe(self) -> str:
        m = ",".join(f"{k}={v}" for k, v in sorted(self.match.items()))
        a = ",".join(_act(a) for a in self.actions)
        g = f" goto:{self.goto}" if self.goto is not None else ""
        return f"{self.command} dp={self.dpid} t={self.table} p={self.priority} {m} -> {a}{g}"


def _act(a: Action) -> str:
    if isinstance(a, Output):
        return "out:in_port" if a.port == OFPP_IN_PORT else f"out:{a.port}"
    if isinstance(a, ToController):
        return "controller"
    if isinstance(a, PushMpls):
        return "push_mpls"
    if isinstance(a, PopMpls):
        return "pop_mpls"
    return f"set:{a.field}={a.value}"


@dataclass(frozen=True)
class PacketOut:
    """Send ``data`` out ``port`` (OFPP_TABLE: through the switch's own tables, as if it had
    arrived on ``in_port``)."""

    dpid: int
    port: int
    data: bytes = field(repr=False)
    in_port: int = OFPP_CONTROLLER


@dataclass(frozen=True)
class Barrier:
    """Ask the switch to finish everything sent before (e.g. deletes before a handoff's adds)."""

    dpid: int


Intent = FlowMod | PacketOut | Barrier
