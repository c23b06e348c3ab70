"""Many sequences, optionally over several processes, and the shrinking of what failed."""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from model.runner import EVENTS, Result, run
from model.shrink import shrink


@dataclass
class Batch:
    seeds: int = 0
    failures: list[Result] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Config:
    exclude: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    n_events: int = EVENTS


def _run_chunk(seeds: Sequence[int], config: Config, quiet: bool = False) -> list[Result]:
    if quiet:  # a worker process: its log would go straight to the terminal
        logging.getLogger("epmip").setLevel(logging.CRITICAL)
    return [r for r in (run(s, None, config.n_events, config.exclude, config.skip) for s in seeds) if r.failed]


def run_batch(seeds: Sequence[int], config: Config, jobs: int = 1) -> Batch:
    """Run every seed's sequence; the failed ones, in seed order."""
    start = time.perf_counter()
    if jobs <= 1 or len(seeds) < 2 * jobs:
        failures = _run_chunk(seeds, config)
    else:
        chunks = [seeds[i::jobs] for i in range(jobs)]
        # spawn, not fork: the test process may hold eventlet state that a fork would share
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            parts = list(pool.map(_run_chunk, chunks, [config] * jobs, [True] * jobs))
        failures = sorted((r for part in parts for r in part), key=lambda r: r.seed)
    return Batch(len(seeds), failures, time.perf_counter() - start)


def shrink_each_invariant(failures: Sequence[Result], budget: float = 300.0) -> list[Result]:
    """One minimal sequence per invariant broken (the first seed that broke it), within ``budget``
    seconds; past it the remaining failures are returned as they are."""
    start = time.perf_counter()
    out: list[Result] = []
    seen: set[str] = set()
    for result in failures:
        for invariant in dict.fromkeys(v.invariant for v in result.violations):
            if invariant in seen:
                continue
            seen.add(invariant)
            if time.perf_counter() - start > budget:
                out.append(result)
            else:
                out.append(shrink(result, invariant))
    return out
