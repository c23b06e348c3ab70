"""Run the model test by hand (from tests/: ``python -m model ...``; the repository root and tests/
must be importable, e.g. ``cd tests && PYTHONPATH=.. python -m model``).

    python -m model                          the CI budget (seeds 0..199, known gaps kept clear)
    python -m model --soak 2000 --jobs 2     fresh seeds
    python -m model --all --seeds 0:300      everything drawn and checked (known gaps too):
                                             what breaks today, one minimal sequence per invariant
    python -m model --gaps                   replay every known gap's witness: still there?
    python -m model --open late_pbqa         the CI run with that gap's events and checks back on
                                             (did a fix close it? what else does it show?)
    python -m model --replay 17 'attach mn1 emag2; move mn1 emag3 +1 !lose:PBCI#1'
"""

from __future__ import annotations

import argparse
import logging
import random
import sys

from model.batch import Config, run_batch, shrink_each_invariant
from model.events import parse_event
from model.gaps import KNOWN_GAPS, excluded_tags, skipped_invariants
from model.report import describe
from model.runner import CI_SEQUENCES, EVENTS, run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m model", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--seeds", default=f"0:{CI_SEQUENCES}", help="A:B, the seeds A..B-1 (default: the CI budget)")
    ap.add_argument("--soak", type=int, default=0, help="N sequences with fresh random seeds instead")
    ap.add_argument("--events", type=int, default=EVENTS, help="drawn events per sequence")
    ap.add_argument("--jobs", type=int, default=1, help="processes")
    ap.add_argument("--all", action="store_true", help="ignore KNOWN_GAPS: draw and check everything")
    ap.add_argument("--open", default="", metavar="GAP", help="treat these known gaps (space separated) as fixed")
    ap.add_argument("--exclude", default="", help="more event tags not to draw (space separated)")
    ap.add_argument("--skip", default="", help="more checks not to make (space separated)")
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--gaps", action="store_true", help="replay the known gaps' witnesses")
    ap.add_argument("--replay", nargs=2, metavar=("SEED", "EVENTS"), help="one sequence, events separated by ;")
    ap.add_argument("--log", action="store_true", help="show the controller's warnings")
    args = ap.parse_args(argv)
    if not args.log:
        logging.getLogger("epmip").setLevel(logging.CRITICAL)

    if args.replay:
        seed, text = int(args.replay[0]), args.replay[1]
        result = run(seed, [parse_event(e) for e in text.split(";") if e.strip()])
        print(describe(result, "replay") if result.failed else f"seed {seed}: no invariant broken")
        return 1 if result.failed else 0
    if args.gaps:
        open_ = 0
        for name, gap in KNOWN_GAPS.items():
            result = run(
                gap.seed, [parse_event(e) for e in gap.witness], wanted=lambda v, g=gap: v.invariant == g.breaks
            )
            open_ += result.failed
            print(f"{'still open' if result.failed else 'FIXED     '}  {name}: {gap.reason}")
        return 0 if open_ == len(KNOWN_GAPS) else 1

    if args.soak:
        base = random.SystemRandom().randrange(1 << 30)
        seeds = list(range(base, base + args.soak))
    else:
        a, b = (int(x) for x in args.seeds.split(":"))
        seeds = list(range(a, b))
    unknown = set(args.open.split()) - KNOWN_GAPS.keys()
    if unknown:
        ap.error(f"no known gap {sorted(unknown)}; they are {sorted(KNOWN_GAPS)}")
    gaps = {} if args.all else {k: g for k, g in KNOWN_GAPS.items() if k not in args.open.split()}
    config = Config(
        exclude=excluded_tags(gaps) | frozenset(args.exclude.split()),
        skip=skipped_invariants(gaps) | frozenset(args.skip.split()),
        n_events=args.events,
    )
    batch = run_batch(seeds, config, args.jobs)
    broken: dict[str, int] = {}
    for r in batch.failures:
        for inv in {v.invariant for v in r.violations}:
            broken[inv] = broken.get(inv, 0) + 1
    print(
        f"{batch.seeds} sequences in {batch.seconds:.1f} s: {len(batch.failures)} failed {dict(sorted(broken.items()))}"
    )
    if batch.failures:
        print(f"failing seeds: {[r.seed for r in batch.failures]}")
    if batch.failures and not args.no_shrink:
        for result in shrink_each_invariant(batch.failures):
            print()
            print(describe(result, with_domain=False))
    return 1 if batch.failures else 0


if __name__ == "__main__":
    sys.exit(main())
