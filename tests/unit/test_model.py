"""Randomized model test: domain-wide consistency of mobility state (tests/model/).

Random domains (2-4 eLMAs, 3-8 eMAGs, a legacy MAG and LMA, an access router with DRF, a core
with a cycle) and random sequences (attach, move, detach, re-attach, expiry, one- and two-way
traffic, simultaneous moves; signalling lost, duplicated or delayed), with the invariants of
``model/invariants.py`` checked after every step.

* CI: the fixed seeds ``CI_SEEDS``, keeping clear of ``model/gaps.py``'s KNOWN_GAPS.
* ``pytest tests/unit/test_model.py --soak 2000``: fresh seeds (printed on failure).
* ``--model-all``: KNOWN_GAPS ignored (what is broken today); ``--model-seeds A:B``, ``--model-jobs J``.

A failure prints, per broken invariant, the seed, a minimal event sequence that still breaks it
(delta debugging), the violation with its packet trace and the domain.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest
from model.batch import Config, run_batch, shrink_each_invariant
from model.domains import LEGACY_HNP, generate_domain
from model.events import Attach, Event, Move, Talk, Wait, parse_event
from model.gaps import KNOWN_GAPS, excluded_tags, skipped_invariants
from model.invariants import INVARIANTS, check_b, check_d, check_e, check_step, clean_up
from model.report import describe
from model.runner import CI_SEQUENCES, EVENTS, run
from model.shrink import ddmin, shrink
from model.world import World

from openflow_rules.intents import FlowMod, SetField
from openflow_rules.pipeline import Fn, Prio, Table, cookie

CI_SEEDS = range(CI_SEQUENCES)
SHRINK_BUDGET = 240.0  # seconds spent making failures minimal before reporting them


def _seeds(config: pytest.Config) -> list[int]:
    soak = config.getoption("--soak")
    if soak:
        base = random.SystemRandom().randrange(1 << 30)
        return list(range(base, base + soak))
    text = config.getoption("--model-seeds")
    if text:
        a, b = (int(x) for x in text.split(":"))
        return list(range(a, b))
    return list(CI_SEEDS)


def test_random_sequences_keep_mobility_state_consistent(pytestconfig: pytest.Config) -> None:
    everything = pytestconfig.getoption("--model-all")
    config = Config(
        exclude=frozenset() if everything else excluded_tags(),
        skip=frozenset() if everything else skipped_invariants(),
        n_events=EVENTS,
    )
    jobs = pytestconfig.getoption("--model-jobs") or min(2, os.cpu_count() or 1)
    seeds = _seeds(pytestconfig)
    batch = run_batch(seeds, config, jobs)
    if not batch.failures:
        return
    shrunk = shrink_each_invariant(batch.failures, SHRINK_BUDGET)
    head = (
        f"{len(batch.failures)} of {batch.seeds} sequences (seeds {seeds[0]}..{seeds[-1]}) broke an invariant "
        f"outside KNOWN_GAPS; failing seeds: {[r.seed for r in batch.failures][:30]}"
    )
    pytest.fail("\n\n".join([head, *(describe(r) for r in shrunk)]), pytrace=False)


# ------------------------------------------------------------------ the known gaps are still there


@pytest.mark.parametrize("name", list(KNOWN_GAPS) or [None])
def test_known_gap_is_still_open(name: str | None) -> None:
    """Each gap's witness still breaks its invariant.  When this fails, the controller no longer
    has the gap: delete it from KNOWN_GAPS so that CI draws and checks what it kept out.  With no
    known gap (``None``), CI keeps no event kind out and skips no invariant."""
    if name is None:
        assert excluded_tags() == frozenset() and skipped_invariants() == frozenset()
        return
    gap = KNOWN_GAPS[name]
    assert gap.witness and gap.breaks in INVARIANTS and (gap.tags or gap.invariants)
    events = [parse_event(e) for e in gap.witness]
    result = run(gap.seed, events, wanted=lambda v: v.invariant == gap.breaks)
    assert result.failed, (
        f"known gap {name!r} ({gap.reason}) no longer breaks {gap.breaks} with seed {gap.seed} and "
        f"{'; '.join(gap.witness)}: if the controller was fixed, delete it from tests/model/gaps.py"
    )


# ------------------------------------------------------------------ what soaks found, fixed since

# Minimal sequences that fresh-seed soaks found breaking an invariant, each replayed here so the
# fix stays: (seed, events, the invariant it broke, what the controller got wrong).
SOAK_FINDINGS = [
    (
        655288272,
        "attach mn1 emag1; move mn1 emag4 mbb; attach mn2 emag1; send mn1 mn2 !lose:PBQA#1x2; move mn2 emag4; "
        "talk mn2 mn1; move mn2 mag1",
        "d.tunnel",
        "a direct entry turned into a fallback stayed in the table, shadowing the fallback",
    ),
    (
        655288476,
        "attach mn1 emag1; detach mn1 +0.5 !lose:PBU#1x2; attach mn1 emag2 !delay:PPA#1@0.3",
        "a.bound",
        "a resent de-registration stamped at its resend looked newer than the registration elsewhere meanwhile",
    ),
    (
        690710292,
        "attach mn2 emag7; move mn2 emag1; move mn2 emag6; move mn2 emag2 !lose:PBCI#2; move mn2 emag1 !lose:PBA#2",
        "a.bound",
        "a late copy of an older PBCI detached an MN whose registration at the eMAG was not answered yet",
    ),
    (
        506798075,
        "attach mn4 emag2; attach mn2 emag2; talk mn4 mn2; simul mn2 emag6 mn4 emag3; move mn4 emag2 mbb",
        "d.cache",
        "the DRF a p-eMAG relayed the move to was not named in its PBCA, so n-eMAG never told it of the next move",
    ),
    (
        506799838,
        "attach mn1 emag3; attach mn2 emag1; send mn2 mn1; simul mn1 emag1 mn2 emag5; simul mn2 emag4 mn1 emag3",
        "d.cache",
        "a correspondent that had just arrived at the p-eMAG was handed on by its PBCA but not recorded as held",
    ),
    (
        680315564,
        "attach mn2 emag2; attach mn3 mag1; attach mn4 emag2; move mn2 emag4; send mn2 mn4; move mn2 emag3 mbb; "
        "simul mn4 emag4 mn3 emag2",
        "d.tunnel",
        "a PBCI handled as p-eMAG ignored its 'holds', so a holder of a local MN's location was never updated",
    ),
    (
        680315607,
        "attach mn3 emag5; attach mn4 emag2; talk mn4 mn3 !delay:PBQA#1@0.3; move mn3 emag1",
        "d.cache",
        "a PBQA overtaken by the PBCI of a move put the older location back in the cache",
    ),
    (
        680316452,
        "attach mn2 emag4; attach mn1 emag4; simul mn2 emag7 mn1 emag2; simul mn2 emag1 mn1 emag1 !lose:PBCA#1; "
        "detach mn2",
        "d.cache",
        "a withdrawal from the eMAG a p-eMAG had redirected to did not reach the DRFs the p-eMAG told of that move",
    ),
    (
        680315682,
        "attach mn4 emag3; attach mn3 emag4; send mn3 mn4; move mn4 emag2 mbb; move mn4 mag1 mbb; move mn3 emag2; "
        "simul mn4 emag5 mn3 emag3; move mn4 emag3",
        "d.cache",
        "the DRF a PBCI was relayed to was not known to the MN's eMAG as a holder, so the next move missed it",
    ),
    (
        820365371,
        "attach mn3 emag1; attach mn2 emag4; send mn2 mn3; detach mn2; attach mn2 emag2 !delay:PBCI#1@0.3; "
        "move mn2 mag1",
        "d.cache",
        "a PBCA that came after the MN had left again named holders that were never withdrawn",
    ),
    (
        820365423,
        "attach mn1 emag1; attach mn3 emag3; move mn1 emag3 mbb; talk mn3 mn1; move mn3 emag8 mbb; "
        "simul mn1 emag6 mn3 emag5 !lose:PBCI#1x2",
        "d.tunnel",
        "a PBCI handled as p-eMAG (the MN had been here once) was not relayed to a local MN's new eMAG",
    ),
    (
        676535680,
        "attach mn4 emag3; attach mn2 emag4; send mn2 mn4; detach mn4; move mn2 emag2",
        "d.tunnel",
        "a withdrawal reached mn2's previous eMAG after its PBCA had handed the location on; not relayed",
    ),
    (
        676535554,
        "attach mn1 emag4 +2.252; send cn1 mn1; move mn1 mag1 !lose:PBA#1",
        "d.tunnel",
        "holders named by a late de-registration PBA were never told the MN left (withdrawal already sent)",
    ),
    (
        676535952,
        "attach mn3 emag2; move mn3 emag3 !delay:PBU#2@0.8; detach mn3",
        "d.tunnel",
        "a registration overtaken by its MAG's own de-registration re-created the binding",
    ),
    (
        676535561,
        "attach mn5 emag2; attach mn2 emag1; talk mn2 mn5; move mn5 emag4 +12 !delay:PBA#2@0.8; "
        "move mn5 emag2 mbb; move mn2 emag3",
        "d.cache",
        "a withdrawal stamped when sent looked newer than the move it pre-empted, whose PBCI was then dropped",
    ),
    (
        676535860,
        "attach mn5 emag1; attach mn4 emag5; talk mn4 mn5; move mn5 mag1 mbb; move mn4 emag4; move mn4 emag8 mbb",
        "d.cache",
        "a PBCI's 'holds' for an MN that had already left was ignored, so the holder was never withdrawn",
    ),
]


@pytest.mark.parametrize(("seed", "events", "broke", "what"), SOAK_FINDINGS, ids=[str(f[0]) for f in SOAK_FINDINGS])
def test_soak_finding_stays_fixed(seed: int, events: str, broke: str, what: str) -> None:
    result = run(seed, [parse_event(e) for e in events.split(";") if e.strip()])
    assert not result.failed, f"{what} ({broke}) is back:\n{describe(result, 'replay')}"


# ------------------------------------------------------------------ the harness itself


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_generated_domains_have_every_element(seed: int) -> None:
    md = generate_domain(seed)  # parse_domain validated it
    d = md.domain
    roles = [s.role for s in d.switches.values()]
    assert 2 <= roles.count("elma") <= 4 and 3 <= roles.count("emag") <= 8
    assert roles.count("mag") == roles.count("lma") == roles.count("ar_drf") == 1
    assert all(d.switches[e].lma in md.elmas for e in md.emags)
    assert d.switches[md.legacy_mag].lma == md.legacy_lma
    core_links = [(k.a, k.b) for k in d.links if k.a in md.cores and k.b in md.cores]
    assert len(core_links) >= len(md.cores)  # a ring (at least): the core has a cycle
    profiles = [d.mobile_nodes[m] for m in md.mns]
    assert any(p.lma for p in profiles) and any(p.lma is None and p.hnp is None for p in profiles)
    assert str(d.mobile_nodes["mnl"].hnp) == LEGACY_HNP and md.lma_for("mnl", md.emags[0]) == md.legacy_lma
    assert d.fixed_nodes[md.fixed_host].attach == md.ar


def test_events_print_and_parse_back() -> None:
    for seed in range(5):
        result = run(seed, n_events=12)
        for event in result.events:
            assert parse_event(event.text()) == event, event.text()


def test_a_sequence_replays_identically() -> None:
    first = run(7, n_events=10)
    again = run(7, first.events)
    assert [e.text() for e in again.events] == [e.text() for e in first.events]
    assert [v.describe() for v in again.violations] == [v.describe() for v in first.violations]
    assert again.durations == first.durations


def test_ci_draws_nothing_the_known_gaps_keep_out() -> None:
    exclude = excluded_tags()
    for seed in range(6):
        result = run(seed, exclude=exclude, skip=skipped_invariants())
        assert all(not (tags & exclude) for tags in result.tags)


def test_ddmin_finds_a_one_minimal_subset() -> None:
    assert ddmin(range(10), lambda xs: {2, 7} <= set(xs)) == [2, 7]
    assert ddmin(range(8), lambda xs: 5 in xs) == [5]


def _talking_world(seed: int = 3) -> tuple[World, str, str, str, str]:
    """Two MNs with DAF on two eMAGs that talked (direct tunnels both ways)."""
    md = generate_domain(seed)
    world = World(md)
    a, b = [m for m in md.mns if m != "mnl"][:2]
    sa, sb = md.emags[0], md.emags[1]
    for event in (Attach(mn=a, switch=sa), Attach(mn=b, switch=sb), Talk(a=a, b=b, dt=1.0)):
        event.apply(world)
    world.observe()
    return world, a, b, sa, sb


def test_a_consistent_world_breaks_nothing() -> None:
    world, *_ = _talking_world()
    assert check_step(world) == []
    end = world.copy()
    clean_up(end)
    assert check_e(end) == []


def test_invariants_see_a_missing_delivery_flow() -> None:
    world, a, b, sa, sb = _talking_world()
    sw = world.fake.switch(sb)
    deliver = [
        f for f in sw.flows(Table.ROUTE, cookie(Fn.ACCESS, world.fake.ctl.mn_index[b])) if f.priority == Prio.DELIVER
    ]
    for flow in deliver:
        sw.tables[Table.ROUTE].remove(flow)
    # without the delivery flow the eMAG routes the HNP to the LMA, which tunnels it back: a loop
    assert {v.invariant for v in check_b(world)} == {"b.loop"}


def test_invariants_see_a_tunnel_to_the_wrong_emag() -> None:
    world, a, b, sa, sb = _talking_world()
    label = world.domain.switches[world.md.emags[2]].label
    for entry in [f for f in world.fake.switch(sa).flows(Table.UPLINK) if f.priority == Prio.DRF]:
        entry.actions = tuple(SetField("mpls_label", label) if isinstance(x, SetField) else x for x in entry.actions)
    assert "d.tunnel" in {v.invariant for v in check_d(world)}
    assert {v.invariant for v in check_step(world)} & {"c.anchor", "c.length", "d.tunnel"} >= {"d.tunnel"}
    assert any(v.invariant.startswith("c.") for v in check_step(world))


def test_invariants_see_what_is_left_behind() -> None:
    world, a, b, sa, sb = _talking_world()
    end = world.copy()
    clean_up(end)
    hnp = next(iter(end.md.candidate_hnps(a)))
    stray = FlowMod(end.fake.dpid(sb), Table.ROUTE, Prio.BINDING, {"eth_type": 0x86DD, "ipv6_dst": str(hnp)},
                    cookie=cookie(Fn.BINDING, end.fake.ctl.mn_index[a]))  # fmt: skip
    end.fake.net.apply([stray])
    assert {v.invariant for v in check_e(end)} == {"e.flows"}


@dataclass(frozen=True)
class Unplug(Event):
    """A planted fault for the shrinker: the MN's port stops delivering and nobody is told."""

    mn: str = ""
    verb = "unplug"

    def args(self) -> list[str]:
        return [self.mn]

    def act(self, world: World) -> None:
        if world.where(self.mn) is not None:
            world.fake.net.host_ports.pop(world.fake.where[self.mn], None)


def test_shrinking_finds_the_planted_fault() -> None:
    md = generate_domain(5)
    a, b = [m for m in md.mns if m != "mnl"][:2]
    noise = [
        Attach(mn=b, switch=md.emags[1], dt=0.5),
        Attach(mn=a, switch=md.emags[0], dt=2.0),
        Talk(a=a, b=b, dt=1.0),
        Move(mn=b, switch=md.emags[2], dt=4.0),
        Wait(dt=3.0),
    ]
    result = run(5, [*noise, Unplug(mn=a), Talk(a=b, b="cn1")])
    assert result.failed and result.violations[0].invariant == "b.reach"
    small = shrink(result)
    assert small.failed and small.violations[0].invariant == "b.reach"
    assert [e.text() for e in small.events] == [f"attach {a} {md.emags[0]}", f"unplug {a}"]
    assert "seed 5, broke b.reach after event 2" in describe(small)
