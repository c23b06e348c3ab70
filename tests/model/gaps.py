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


KNOWN_GAPS: dict[str, Gap] = {
    "simul_same_mag": _gap(
        "two MNs that talked on one eMAG move at once: p-eMAG hands the first one's n-eMAG the other's "
        "location as itself, then takes the other's PBCI as its p-eMAG only - no relay to that n-eMAG",
        tags="simul:same_mag",
        seed=182,
        witness="attach mn1 emag2; attach mn2 emag5; move mn1 emag5; talk mn2 mn1; simul mn1 emag2 mn2 emag1",
        breaks="c.anchor",
    ),
    "pbca_departure_record": _gap(
        "p-eMAG answers n-eMAG's PBCI with the correspondents' locations as they were when the MN left; "
        "what it learnt since (a correspondent that moved onto this very eMAG, or left and was "
        "withdrawn) is not applied, so n-eMAG tunnels to where the correspondent was (also: both "
        "leave, one comes back elsewhere within MinDelayBeforeBCEDelete)",
        tags="simul:onto_peer reattach:soon delay:PPQ delay:PPA",
        seed=1400,
        witness="attach mn3 emag2; attach mn1 emag1; talk mn1 mn3; simul mn1 emag2 mn3 emag4",
        breaks="d.tunnel",
    ),
}


def excluded_tags(gaps: dict[str, Gap] | None = None) -> frozenset[str]:
    gaps = KNOWN_GAPS if gaps is None else gaps
    return frozenset(t for g in gaps.values() for t in g.tags)


def skipped_invariants(gaps: dict[str, Gap] | None = None) -> frozenset[str]:
    gaps = KNOWN_GAPS if gaps is None else gaps
    return frozenset(i for g in gaps.values() for i in g.invariants)
