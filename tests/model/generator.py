"""Random event sequences, drawn step by step against the world's current state (only MNs that are
attached move, traffic flows between attached hosts...).

An event whose tags (``Event.tags``) hit ``exclude`` is drawn again: that is how the CI run keeps
clear of the known gaps (``gaps.KNOWN_GAPS``) while drawing everything else.
"""

from __future__ import annotations

import random

from model.events import Attach, Detach, Event, Expire, Move, Send, Simul, Talk, Wait
from model.world import Fault, World

DTS = (0.0, 0.2, 0.5, 1.0, 2.0, 4.0, 12.0)
DT_WEIGHTS = (3, 2, 2, 2, 2, 1, 1)
FAULT_RATE = 0.3
# the messages an event of each kind makes (and so may lose, duplicate or delay)
# (PPQ/PPA: the policy store, asked at an MN's first attachment to each MAG; PBCI/PBCA also
# carry departures and the LMF's withdrawals; a wait sees refreshes, retries and withdrawals)
FAULT_TYPES = {
    "attach": ("PPQ", "PPA", "PBU", "PBA", "PBCI", "PBCA"),
    "move": ("PPQ", "PPA", "PBU", "PBA", "PBCI", "PBCA"),
    "simul": ("PBU", "PBA", "PBCI", "PBCA"),
    "detach": ("PBU", "PBA", "PBCI", "PBCA"),
    "talk": ("PBQR", "PBQA"),
    "send": ("PBQR", "PBQA"),
    "expire": ("PBU", "PBA", "PBCI", "PBCA"),
    "wait": ("PBU", "PBA", "PBQR", "PBQA", "PBCI", "PBCA"),
}


class Generator:
    def __init__(self, seed: int, exclude: frozenset[str] = frozenset(), initial: int = 0) -> None:
        self.rng = random.Random(f"events-{seed}")
        self.exclude = exclude
        self.initial = initial  # the first steps attach MNs
        self.drawn = 0

    def next_event(self, world: World) -> Event:
        self.drawn += 1
        for _ in range(50):
            event = self._draw(world)
            if not (event.tags(world) & self.exclude):
                return event
        return Wait(dt=1.0)

    # ------------------------------------------------------------ drawing

    def _draw(self, world: World) -> Event:
        rng = self.rng
        md = world.md
        attached = world.attached_mns()
        detached = [mn for mn in md.mns if mn not in attached]
        hosts = [*attached, md.fixed_host]
        choices: list[tuple[str, int]] = []
        if detached:
            choices.append(("attach", 40 if self.drawn <= self.initial or len(attached) < 2 else 3))
        if attached:
            choices += [("move", 10), ("detach", 2), ("expire", 1), ("send", 3)]
        if len(hosts) >= 2:
            choices.append(("talk", 6))
        if len(attached) >= 2:
            choices.append(("simul", 2))
        choices.append(("wait", 1))
        kind = rng.choices([k for k, _ in choices], [w for _, w in choices])[0]
        dt = rng.choices(DTS, DT_WEIGHTS)[0]
        fault = self._fault(kind) if rng.random() < FAULT_RATE else None
        if kind == "attach":
            return Attach(dt=dt, fault=fault, mn=rng.choice(detached), switch=rng.choice(md.mags))
        if kind == "move":
            mn = rng.choice(attached)
            to = rng.choice([m for m in md.mags if m != world.where(mn)])
            return Move(dt=dt, fault=fault, mn=mn, switch=to, mbb=rng.random() < 0.25)
        if kind == "detach":
            return Detach(dt=dt, fault=fault, mn=rng.choice(attached))
        if kind == "expire":
            return Expire(dt=dt, fault=fault, mn=rng.choice(attached))
        if kind == "talk":
            a, b = rng.sample(hosts, 2)
            return Talk(dt=dt, fault=fault, a=a, b=b)
        if kind == "send":
            b = rng.choice(attached)
            return Send(dt=dt, fault=fault, a=rng.choice([h for h in hosts if h != b]), b=b)
        if kind == "simul":
            m1, m2 = rng.sample(attached, 2)
            to1 = rng.choice([m for m in md.mags if m != world.where(m1)])
            to2 = rng.choice([m for m in md.mags if m != world.where(m2)])
            return Simul(dt=dt, fault=fault, mn1=m1, to1=to1, mn2=m2, to2=to2)
        return Wait(dt=max(dt, 1.0), fault=fault)

    def _fault(self, kind: str) -> Fault:
        rng = self.rng
        action = rng.choices(Fault.ACTIONS, (2, 1, 1))[0]
        return Fault(
            action=action,
            msg_type=rng.choice(FAULT_TYPES[kind]),
            first=rng.choices((1, 2), (3, 1))[0],
            count=rng.choices((1, 2), (4, 1))[0],
            delay=rng.choice((0.3, 0.8)) if action == "delay" else 0.0,
        )
