"""KNOWN_GAPS: the ways the controller is known to break the model, in one place.

Each gap names what the CI run keeps clear of while it is open - event kinds it does not draw
(``tags``, see model/events.py) and checks it does not make (``invariants``, see
model/invariants.py) - and a witness: the minimal failing sequence found for it, which
``tests/unit/test_model.py`` replays to show that the gap is still there.  When the controller is
fixed, that replay starts to pass and its test fails: delete the gap, and CI draws those events
and makes those checks again.  Anything that breaks outside these gaps fails the CI run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gap:
    reason: str
    tags: frozenset[str] = frozenset()  # event kinds CI does not draw while the gap is open
    invariants: frozenset[str] = frozenset()  # checks CI does not make while the gap is open
    seed: int = 0  # the witness: seed and minimal event sequence, and the invariant it breaks
    witness: tuple[str, ...] = ()
    breaks: str = ""


def _gap(reason: str, tags: str = "", invariants: str = "", seed: int = 0, witness: str = "", breaks: str = "") -> Gap:
    return Gap(
        reason,
        frozenset(tags.split()),
        frozenset(invariants.split()),
        seed,
        tuple(e.strip() for e in witness.split(";") if e.strip()),
        breaks,
    )


KNOWN_GAPS: dict[str, Gap] = {}


def excluded_tags(gaps: dict[str, Gap] | None = None) -> frozenset[str]:
    gaps = KNOWN_GAPS if gaps is None else gaps
    return frozenset(t for g in gaps.values() for t in g.tags)


def skipped_invariants(gaps: dict[str, Gap] | None = None) -> frozenset[str]:
    gaps = KNOWN_GAPS if gaps is None else gaps
    return frozenset(i for g in gaps.values() for i in g.invariants)
