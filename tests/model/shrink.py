"""Make a failing sequence minimal, as long as the same invariant still breaks.

1. Delta debugging (Zeller's ddmin) over the events.  A removed event is replaced by a ``wait`` as
   long as it took, so that what is left happens at the same times (many failures hang on a timer:
   a refresh, a redirect's hold, a retry).
2. The waits are merged, then dropped or cut where the failure does not need them.
3. Each remaining event is simplified: its fault dropped, its ``+dt`` cut; a wait after an event
   becomes that event's ``+dt``.

A replay checks a-d after its last event only (and e at the end), which is where a minimal
sequence breaks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from model.events import EPSILON, Event, Wait
from model.runner import Result, run

Test = Callable[[list[Event]], bool]


def still_fails(seed: int, invariant: str) -> Test:
    def test(events: list[Event]) -> bool:
        return run(seed, events, wanted=lambda v: v.invariant == invariant, check_every_step=False).failed

    return test


def ddmin(items: Sequence[int], test: Callable[[list[int]], bool]) -> list[int]:
    """The smallest sub-list of ``items`` (1-minimal) that ``test`` accepts; ``test(items)`` holds."""
    current = list(items)
    n = 2
    while len(current) >= 2:
        chunk = -(-len(current) // n)
        parts = [current[i : i + chunk] for i in range(0, len(current), chunk)]
        for i, part in enumerate(parts):
            if test(part):
                current, n = part, 2
                break
            rest = [x for j, p in enumerate(parts) if j != i for x in p]
            if len(parts) > 2 and test(rest):
                current, n = rest, max(n - 1, 2)
                break
        else:
            if n >= len(current):
                break
            n = min(n * 2, len(current))
    return current


def hollow(events: Sequence[Event], durations: Sequence[float], keep: Sequence[int]) -> list[Event]:
    """``events`` with those not in ``keep`` replaced by one wait per run of them, as long as they
    took together (less the wait's own start offset, ``EPSILON``): what is kept happens at the
    same times as before."""
    kept = set(keep)
    out: list[Event] = []
    pending = 0.0
    for i, (event, took) in enumerate(zip(events, durations, strict=True)):
        if i in kept:
            if pending:
                out.append(Wait(dt=round(pending - EPSILON, 6)))
                pending = 0.0
            out.append(event)
        else:
            pending += took
    if pending:
        out.append(Wait(dt=round(pending - EPSILON, 6)))
    return out


def _without_waits(events: list[Event], test: Test) -> list[Event]:
    out = list(events)
    i = 0
    while i < len(out):
        if isinstance(out[i], Wait) and out[i].fault is None:
            for shorter in ([], [Wait(dt=round(out[i].dt / 2, 3))] if out[i].dt >= 1 else []):
                if test(out[:i] + shorter + out[i + 1 :]):
                    out[i : i + 1] = shorter
                    break
        i += 1
    return out


def simplify(events: list[Event], test: Test) -> list[Event]:
    out = list(events)
    for i, event in enumerate(out):
        if isinstance(event, Wait):
            continue
        for simpler in (replace(event, fault=None, dt=0.0), replace(event, fault=None), replace(event, dt=0.0)):
            if simpler != out[i] and test(out[:i] + [simpler] + out[i + 1 :]):
                out[i] = simpler
                break
    return out


def fold_waits(events: list[Event], test: Test) -> list[Event]:
    """``attach ... +0.2; wait +16.4`` -> ``attach ... +16.6`` (when the event has no fault, whose
    window the longer ``+dt`` would stretch)."""
    out = list(events)
    i = 1
    while i < len(out):
        prev, cur = out[i - 1], out[i]
        if isinstance(cur, Wait) and cur.fault is None and prev.fault is None:
            folded = out[: i - 1] + [replace(prev, dt=round(prev.dt + cur.dt + EPSILON, 6))] + out[i + 1 :]
            if test(folded):
                out = folded
                continue
        i += 1
    return out


def shrink(result: Result, invariant: str | None = None) -> Result:
    """The smallest sequence of ``result``'s seed found that still breaks ``invariant`` (default:
    the first one ``result`` broke), replayed so that it carries its violations."""
    assert result.failed and result.step is not None
    invariant = invariant or result.violations[0].invariant
    test = still_fails(result.seed, invariant)
    last = min(result.step + 1, len(result.events))
    events, durations = result.events[:last], result.durations[:last]
    if not test(events):  # checked after the last event only: the failure may be gone by then
        return result
    keep = ddmin(range(len(events)), lambda k: test(hollow(events, durations, k)))
    candidate = hollow(events, durations, keep)
    candidate = fold_waits(simplify(_without_waits(candidate, test), test), test)
    return run(result.seed, candidate, wanted=lambda v: v.invariant == invariant, check_every_step=False)
