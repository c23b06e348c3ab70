"""The world a sequence runs in: a ``FakeNet`` over a generated domain, a clock that ticks like
the Ryu app's (``TICK``), the signalling fault model and what the model remembers about the MNs.

Faults go through ``ctl.bus.faults`` (controller/dispatcher.py): for every message the bus is
about to deliver, a list of delays - ``[]`` lost, ``[0.0]`` delivered, ``[0.0, 0.0]`` duplicated,
``[d]`` delivered on the first event ``d`` seconds later.  A step's ``Fault`` picks messages by
type and by their rank among the messages of that type sent during the step (the order in which
the controller sends is deterministic), so a sequence replays identically.

``copy()`` gives an independent world (a deep copy of the tables and of the controller, faults
off) that the invariants may settle and send traffic in without touching the sequence itself.
"""

from __future__ import annotations

import copy
import ipaddress
from collections import Counter
from dataclasses import dataclass, field

from fakeof import FakeNet, Trace, ipv6_packet

from controller.mag import BOUND, Attachment
from controller.messages import Message
from model.domains import ModelDomain

TICK = 0.25  # seconds between two ticks of the controller's timers (the app ticks every 0.2 s)
SETTLE_TICK = 0.5  # while a probe waits for the timers to settle
LONG_TICK = 1.0  # for long idle stretches in a probe (before the route set-up of c, the final clean-up)
IID = 0x10  # the interface id every MN uses in its HNP


@dataclass(frozen=True)
class Fault:
    """Messages of ``msg_type`` number ``first`` .. ``first + count - 1`` (1-based, counted over the
    step) are lost, duplicated or delayed by ``delay`` seconds."""

    action: str  # lose | dup | delay
    msg_type: str
    first: int = 1
    count: int = 1
    delay: float = 0.0

    ACTIONS = ("lose", "dup", "delay")

    def __post_init__(self) -> None:
        if self.action not in self.ACTIONS:
            raise ValueError(f"fault action {self.action!r} is not one of {self.ACTIONS}")

    @property
    def tag(self) -> str:
        return f"{self.action}:{self.msg_type}"

    def delays(self) -> list[float]:
        return {"lose": [], "dup": [0.0, 0.0], "delay": [self.delay]}[self.action]

    def text(self) -> str:
        n = f"#{self.first}" + (f"x{self.count}" if self.count != 1 else "")
        d = f"@{self.delay:g}" if self.action == "delay" else ""
        return f"!{self.action}:{self.msg_type}{n}{d}"

    @classmethod
    def parse(cls, text: str) -> Fault:
        body = text.removeprefix("!")
        action, rest = body.split(":", 1)
        delay = 0.0
        if "@" in rest:
            rest, d = rest.split("@")
            delay = float(d)
        msg_type, n = rest.split("#")
        first, _, count = n.partition("x")
        return cls(action, msg_type, int(first), int(count or 1), delay)


@dataclass
class Memory:
    """What the model knows independently of the controller."""

    first_lma: dict[str, str] = field(default_factory=dict)  # MN -> the LMA its first MAG would choose
    ever_attached: set[str] = field(default_factory=set)
    # MN -> (LMA, HNPs) of its first registration, as its MAG saw it at the end of a step: they must
    # never change
    anchor: dict[str, tuple[str, tuple[ipaddress.IPv6Network, ...]]] = field(default_factory=dict)
    visited: dict[str, list[str]] = field(default_factory=dict)  # MN -> the MAGs it was at, in order
    detached_at: dict[str, float] = field(default_factory=dict)  # MN -> when it was last unplugged

    def chain(self, mn: str, switch: str) -> bool:
        """Would arriving at ``switch`` leave a former p-MAG with a stale idea of where the MN
        went?  True when the MN once left some MAG P for a MAG Q, and neither is ``switch``
        (A -> B -> C: A heard "B" in the PBCI)."""
        seen = self.visited.get(mn, [])
        return any(p != switch and q != switch for p, q in zip(seen, seen[1:], strict=False))

    def silent_return(self, mn: str, switch: str, attached: bool, legacy: str) -> bool:
        """Does the MN come back to the MAG it last left without a PBCI announcing it: from
        being detached (re-attach), or from the legacy MAG (which sends none)?"""
        seen = self.visited.get(mn, [])
        if not attached:  # a re-attachment
            return bool(seen) and (seen[-1] == switch or (seen[-1] == legacy and seen[-2:-1] == [switch]))
        return len(seen) >= 2 and seen[-1] == legacy and seen[-2] == switch


class World:
    def __init__(self, md: ModelDomain, fake: FakeNet | None = None, memory: Memory | None = None) -> None:
        self.md = md
        self.domain = md.domain
        self.timers = md.domain.timers
        if fake is None:
            fake = FakeNet(md.domain)
            fake.attach(md.fixed_host)
        self.fake = fake
        self.memory = memory or Memory()
        self.fault: Fault | None = None
        self.expiring: str | None = None  # an MN whose PBU/PBA are all lost (an expiry window)
        self._seen: Counter[str] = Counter()  # messages of each type sent during the step
        self.fake.ctl.bus.faults = self._faults

    # ------------------------------------------------------------ time and faults

    @property
    def now(self) -> float:
        return self.fake.now

    def advance(self, seconds: float, tick: float = TICK) -> None:
        """Let ``seconds`` pass, the controller's timers running every ``tick``."""
        end = self.fake.now + seconds
        while self.fake.now < end - 1e-9:
            self.fake.advance(min(tick, end - self.fake.now))
            self._trim_logs()

    def _trim_logs(self) -> None:
        # FakeNet keeps every intent and packet-out it saw; nothing here reads them, and they would
        # make every copy() slower as the sequence goes on
        self.fake.intents.clear()
        self.fake.net.packet_outs.clear()
        self.fake.packet_out_traces.clear()

    def begin_step(self, fault: Fault | None) -> None:
        self.fault = fault
        self._seen.clear()

    def end_step(self) -> None:
        self.fault = None
        self._trim_logs()

    def _faults(self, msg: Message) -> list[float]:
        if self.expiring is not None and msg.TYPE in ("PBU", "PBA") and getattr(msg, "mn_id", "") == self.expiring:
            return []
        f = self.fault
        if f is None or msg.TYPE != f.msg_type:
            return [0.0]
        self._seen[msg.TYPE] += 1
        rank = self._seen[msg.TYPE]
        return f.delays() if f.first <= rank < f.first + f.count else [0.0]

    # ------------------------------------------------------------ hosts

    def where(self, host: str) -> str | None:
        """The switch ``host`` is plugged into (None: detached)."""
        at = self.fake.where.get(host)
        return at[0] if at else None

    def attached_mns(self) -> list[str]:
        return [mn for mn in self.md.mns if mn in self.fake.where]

    def attachment(self, mn: str) -> Attachment | None:
        """The MN's attachment at the MAG it is plugged into, as that MAG sees it."""
        sw = self.where(mn)
        if sw is None:
            return None
        return self.fake.ctl.mags[sw].attachments.get(mn)

    def bound(self, mn: str) -> Attachment | None:
        att = self.attachment(mn)
        return att if att is not None and att.state == BOUND and att.hnps else None

    def address(self, host: str) -> str | None:
        """The host's address: a fixed host's own, an MN's HoA in the HNP its MAG advertises
        (None while it has none)."""
        if host == self.md.fixed_host:
            return str(self.domain.fixed_nodes[host].address)
        att = self.bound(host)
        return str(att.hnps[0].network_address + IID) if att is not None else None

    def observe(self) -> None:
        """Remember the LMA and HNPs of each MN's first registration."""
        for mn in self.attached_mns():
            att = self.bound(mn)
            if att is not None:
                self.memory.anchor.setdefault(mn, (att.lma, tuple(att.hnps)))

    def daf(self, host: str) -> bool:
        """Is ``host`` a DRF-capable end: the fixed host, or an MN bound at an eMAG and anchored
        at an eLMA (draft §4.1)?"""
        if host == self.md.fixed_host:
            return True
        att = self.bound(host)
        return att is not None and self.where(host) in self.md.emags and att.lma in self.md.elmas

    def note_attach(self, mn: str, switch: str) -> None:
        self.memory.first_lma.setdefault(mn, self.md.lma_for(mn, switch))
        self.memory.ever_attached.add(mn)
        visited = self.memory.visited.setdefault(mn, [])
        if not visited or visited[-1] != switch:
            visited.append(switch)

    # ------------------------------------------------------------ packets

    def walk(self, src: str, dst: str) -> Trace | None:
        """A packet from host ``src`` to host ``dst``, walked through the tables only (a punted
        copy is not handed to the controller): observes, changes nothing."""
        s, d = self.address(src), self.address(dst)
        if s is None or d is None:
            return None
        node = self.fake.node(src)
        return self.fake.send_raw(src, ipv6_packet(s, d, node.mac, self.domain.router_mac))

    def send(self, src: str, dst: str) -> Trace | None:
        """A packet from ``src`` to ``dst`` as traffic: what the tables punt reaches the controller."""
        s, d = self.address(src), self.address(dst)
        if s is None or d is None:
            return None
        return self.fake.send(src, d, src=s)

    # ------------------------------------------------------------ copies

    def copy(self) -> World:
        """An independent world, faults off, for the invariants to settle and probe."""
        fake = self.fake
        bus = fake.ctl.bus
        shared: list[object] = [fake.domain, fake.ctl.topo, fake.net.links]
        for node in fake.ctl.nodes.values():
            v = node.view
            shared += [v.profiles, v.mn_index, v.fixed_index, v.me, v.timers, v.fixed_networks, v.peers]
        memo = {id(x): x for x in shared}
        # the flow tables are copied flow by flow below: a flow's match and actions are never
        # changed in place (an add makes a new Flow), only its packet counter
        tables = {name: sw.tables for name, sw in fake.net.switches.items()}
        for sw in fake.net.switches.values():
            sw.tables = {}
        bus.faults = None
        try:
            clone = copy.deepcopy(fake, memo)
        finally:
            bus.faults = self._faults
            for name, sw in fake.net.switches.items():
                sw.tables = tables[name]
        for name, sw in clone.net.switches.items():
            sw.tables = {t: [copy.copy(f) for f in flows] for t, flows in tables[name].items()}
        # its own memory: what a probe sees (a settled future) must not become the sequence's past
        world = World(self.md, clone, copy.deepcopy(self.memory))
        clone.ctl.bus.faults = None
        return world
