"""The events of a sequence, each with a one-line text form that ``parse_event`` reads back.

    attach mn1 emag2           plug mn1 into emag2 (``reattach`` tag if it was attached before)
    move mn1 emag3             port removed at its switch, then added at emag3
    move mn1 mag1 mbb          make-before-break: the new port first, then the old one goes
    detach mn1                 unplug for good (it may be attached again later)
    expire mn1                 all of mn1's PBU/PBA are lost for binding_lifetime + 1 s; then its
                               address has expired and it sends a Router Solicitation
    talk mn1 cn1               mn1 sends to cn1 and cn1 back to mn1 (two-way traffic)
    send cn1 mn1               only cn1 -> mn1 (one-way traffic)
    simul mn1 emag2 mn2 emag4  both leave their switches, then both arrive (simultaneous moves)
    wait                       nothing happens (but time passes)

Any event may end with ``+DT`` (seconds that pass after it, timers running) and with a fault that
applies during the event and those seconds, e.g. ``move mn1 emag3 +0.5 !lose:PBCI#1`` (see
``world.Fault``).  An event whose hosts are not in the state it needs (a move of a detached MN)
does nothing, so any sub-list of a sequence is a sequence (the shrinker relies on it).

``tags(world)`` names what an event exercises in the world's current state - the vocabulary of
``gaps.KNOWN_GAPS``:

    attach reattach move detach expire talk send simul wait
    talk:legacy     two-way traffic with an MN on the legacy MAG (only the other end has a DRF)
    reattach:soon   attached again while its binding still waits for MinDelayBeforeBCEDelete
    return:silent   back at the eMAG it last left, from being detached or from the legacy MAG
                    (no PBCI tells that eMAG where the MN was meanwhile)
    simul:same_mag  simultaneous moves of two MNs attached to the same MAG
    simul:legacy    simultaneous moves, one of them to or from the legacy MAG
    simul:onto_peer simultaneous moves, one MN onto the MAG the other one leaves
    move:legacy     to or from the legacy MAG
    move:mbb        make-before-break
    move:chain      the MN arrives somewhere else than where it went when it last left some MAG
                    P (A -> B -> C: P = A heard "B" in the PBCI and is never told again)
    leave:daf_off   an MN without DAF (registered with the legacy LMA) leaves an eMAG
    other_lma       a profile-less MN arrives at a MAG whose default LMA is not the one its first
                    MAG chose (its anchor must stay: same LMA, HNPs, HoA)
    lose:T dup:T delay:T   a fault on messages of type T
"""

from __future__ import annotations

from dataclasses import dataclass

from model.world import Fault, World

EPSILON = 0.001  # seconds between the end of one event and the start of the next


@dataclass(frozen=True)
class Event:
    dt: float = 0.0
    fault: Fault | None = None

    verb = "?"

    def args(self) -> list[str]:
        return []

    def text(self) -> str:
        parts = [self.verb, *self.args()]
        if self.dt:
            parts.append(f"+{self.dt:g}")
        if self.fault is not None:
            parts.append(self.fault.text())
        return " ".join(parts)

    def own_tags(self, world: World) -> set[str]:
        return {self.verb}

    def tags(self, world: World) -> set[str]:
        return self.own_tags(world) | ({self.fault.tag} if self.fault else set())

    def apply(self, world: World) -> None:
        """Run the event, then let ``dt`` pass; the fault is on throughout.  The event happens a
        millisecond after the previous one ended: two events of a real network never share a
        timestamp (a PBU's timestamp orders registrations)."""
        world.fake.now += EPSILON
        world.begin_step(self.fault)
        try:
            self.act(world)
            world.advance(self.dt)
        finally:
            world.end_step()

    def act(self, world: World) -> None:
        raise NotImplementedError


def _arrival_tags(world: World, mn: str, switch: str) -> set[str]:
    tags = set()
    first = world.memory.first_lma.get(mn)
    if first is not None and world.md.lma_for(mn, switch) != first:
        tags.add("other_lma")
    if world.memory.chain(mn, switch):
        tags.add("move:chain")
    if switch in world.md.emags and world.memory.silent_return(
        mn, switch, world.where(mn) is not None, world.md.legacy_mag
    ):
        tags.add("return:silent")
    return tags


@dataclass(frozen=True)
class Attach(Event):
    mn: str = ""
    switch: str = ""
    verb = "attach"

    def args(self) -> list[str]:
        return [self.mn, self.switch]

    def own_tags(self, world: World) -> set[str]:
        tags = _arrival_tags(world, self.mn, self.switch)
        if self.mn not in world.memory.ever_attached:
            return {"attach"} | tags
        since = world.now - world.memory.detached_at.get(self.mn, -1e9)
        if since < world.timers.min_delay_before_bce_delete + 1.0:
            tags.add("reattach:soon")  # its binding still waits for MinDelayBeforeBCEDelete
        return {"reattach"} | tags

    def act(self, world: World) -> None:
        if world.where(self.mn) is None:
            world.note_attach(self.mn, self.switch)
            world.fake.attach(self.mn, self.switch)


@dataclass(frozen=True)
class Move(Event):
    mn: str = ""
    switch: str = ""
    mbb: bool = False
    verb = "move"

    def args(self) -> list[str]:
        return [self.mn, self.switch] + (["mbb"] if self.mbb else [])

    def own_tags(self, world: World) -> set[str]:
        return move_tags(world, self.mn, self.switch, self.mbb)

    def act(self, world: World) -> None:
        old = world.fake.where.get(self.mn)
        if old is None or old[0] == self.switch:
            return
        world.note_attach(self.mn, self.switch)
        if not self.mbb:
            world.fake.move(self.mn, self.switch)
            return
        fake = world.fake  # the new port comes up before the old one goes down
        del fake.where[self.mn]
        del fake.net.host_ports[old]
        fake.attach(self.mn, self.switch)
        fake.apply(fake.ctl.port_removed(fake.dpid(old[0]), old[1], fake.now))


def _departure_tags(world: World, mn: str) -> set[str]:
    sw = world.where(mn)
    att = world.attachment(mn)
    if sw in world.md.emags and att is not None and not att.daf:
        return {"leave:daf_off"}  # e.g. mnl, whose HNP is the legacy LMA's, leaving an eMAG
    return set()


def move_tags(world: World, mn: str, switch: str, mbb: bool = False) -> set[str]:
    tags = {"move"} | _arrival_tags(world, mn, switch) | _departure_tags(world, mn)
    if world.md.legacy_mag in (switch, world.where(mn)):
        tags.add("move:legacy")
    if mbb:
        tags.add("move:mbb")
    return tags


@dataclass(frozen=True)
class Detach(Event):
    mn: str = ""
    verb = "detach"

    def args(self) -> list[str]:
        return [self.mn]

    def own_tags(self, world: World) -> set[str]:
        return {"detach"} | _departure_tags(world, self.mn)

    def act(self, world: World) -> None:
        if world.where(self.mn) is not None:
            world.fake.detach(self.mn)
            world.memory.detached_at[self.mn] = world.now


@dataclass(frozen=True)
class Expire(Event):
    mn: str = ""
    verb = "expire"

    def args(self) -> list[str]:
        return [self.mn]

    def act(self, world: World) -> None:
        world.expiring = self.mn
        try:
            world.advance(world.timers.binding_lifetime + 1.0)
        finally:
            world.expiring = None
        if world.where(self.mn) is not None:
            # its prefix's lifetime (the binding's, in the RA) ran out: the MN solicits a router
            world.fake.solicit(self.mn)


@dataclass(frozen=True)
class Talk(Event):
    """Two-way traffic: ``a`` sends to ``b``, then ``b`` to ``a``."""

    a: str = ""
    b: str = ""
    verb = "talk"

    def args(self) -> list[str]:
        return [self.a, self.b]

    def own_tags(self, world: World) -> set[str]:
        legacy = world.md.legacy_mag in (world.where(self.a), world.where(self.b))
        return {"talk", "talk:legacy"} if legacy else {"talk"}

    def act(self, world: World) -> None:
        if world.where(self.a) and world.where(self.b):
            world.send(self.a, self.b)
            world.send(self.b, self.a)


@dataclass(frozen=True)
class Send(Event):
    """One-way traffic: only ``a`` -> ``b`` (a correspondent to an MN that never answers)."""

    a: str = ""
    b: str = ""
    verb = "send"

    def args(self) -> list[str]:
        return [self.a, self.b]

    def act(self, world: World) -> None:
        if world.where(self.a) and world.where(self.b):
            world.send(self.a, self.b)


@dataclass(frozen=True)
class Simul(Event):
    """Two MNs move at once: both ports go down, then both come up at the new switches."""

    mn1: str = ""
    to1: str = ""
    mn2: str = ""
    to2: str = ""
    verb = "simul"

    def args(self) -> list[str]:
        return [self.mn1, self.to1, self.mn2, self.to2]

    def own_tags(self, world: World) -> set[str]:
        tags = {"simul"} | move_tags(world, self.mn1, self.to1) | move_tags(world, self.mn2, self.to2)
        if world.where(self.mn1) is not None and world.where(self.mn1) == world.where(self.mn2):
            tags.add("simul:same_mag")
        if "move:legacy" in tags:
            tags.add("simul:legacy")
        if self.to1 == world.where(self.mn2) or self.to2 == world.where(self.mn1):
            tags.add("simul:onto_peer")
        return tags

    def act(self, world: World) -> None:
        moving = [
            (mn, to) for mn, to in ((self.mn1, self.to1), (self.mn2, self.to2)) if world.where(mn) not in (None, to)
        ]
        if len(moving) != 2 or self.mn1 == self.mn2:
            return
        for mn, _ in moving:
            world.fake.detach(mn)
        for mn, to in moving:
            world.note_attach(mn, to)
            world.fake.attach(mn, to)


@dataclass(frozen=True)
class Wait(Event):
    verb = "wait"

    def act(self, world: World) -> None:
        pass


EVENT_TYPES: dict[str, type[Event]] = {cls.verb: cls for cls in (Attach, Move, Detach, Expire, Talk, Send, Simul, Wait)}


def parse_event(text: str) -> Event:
    """The inverse of ``Event.text``."""
    words = text.split()
    verb, rest = words[0], words[1:]
    dt, fault = 0.0, None
    args = []
    for w in rest:
        if w.startswith("+"):
            dt = float(w[1:])
        elif w.startswith("!"):
            fault = Fault.parse(w)
        else:
            args.append(w)
    cls = EVENT_TYPES[verb]
    if cls is Move:
        return Move(dt, fault, args[0], args[1], mbb=args[2:] == ["mbb"])
    return cls(dt, fault, *args)  # type: ignore[arg-type]
