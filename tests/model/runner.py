"""Run one sequence: a domain from the seed, events drawn (or given), the invariants after every
step and e at the end; stop at the first step that breaks one."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from model.domains import ModelDomain, generate_domain
from model.events import Event
from model.generator import Generator
from model.invariants import Violation, check_end, check_step
from model.world import World

EVENTS = 8  # drawn events per sequence in CI (after the first attachments)
CI_SEQUENCES = 200  # the CI budget: seeds 0 .. CI_SEQUENCES - 1
INITIAL = 3  # the first drawn events attach MNs


@dataclass
class Result:
    seed: int
    events: list[Event]
    tags: list[set[str]] = field(default_factory=list)  # per event, as it was applied
    durations: list[float] = field(default_factory=list)  # seconds each event took
    violations: list[Violation] = field(default_factory=list)
    step: int | None = None  # the failing step (0-based); len(events) for the final check e

    @property
    def failed(self) -> bool:
        return bool(self.violations)


@functools.lru_cache(maxsize=8)
def domain(seed: int) -> ModelDomain:
    return generate_domain(seed)


def run(
    seed: int,
    events: Sequence[Event] | None = None,
    n_events: int = EVENTS,
    exclude: frozenset[str] = frozenset(),
    skip: frozenset[str] = frozenset(),
    wanted: Callable[[Violation], bool] = lambda v: True,
    check_every_step: bool = True,
) -> Result:
    """Run the sequence of ``seed`` - ``events`` if given, else ``n_events`` drawn ones - and stop
    at the first step where a violation that ``wanted`` accepts occurs (then ``violations`` holds
    every wanted violation of that step).  ``check_every_step`` False checks a-d after the last
    event only (the shrinker's replays)."""
    world = World(domain(seed))
    gen = Generator(seed, exclude, initial=INITIAL) if events is None else None
    total = len(events) if events is not None else n_events + INITIAL
    result = Result(seed, [])
    for i in range(total):
        event = events[i] if events is not None else gen.next_event(world)  # type: ignore[union-attr]
        result.events.append(event)
        result.tags.append(event.tags(world))
        start = world.now
        event.apply(world)
        result.durations.append(round(world.now - start, 6))
        world.observe()
        if check_every_step or i == total - 1:
            found = [v for v in check_step(world, skip) if wanted(v)]
            if found:
                result.violations, result.step = found, i
                return result
    found = [v for v in check_end(world, skip) if wanted(v)]
    if found:
        result.violations, result.step = found, total
    return result
