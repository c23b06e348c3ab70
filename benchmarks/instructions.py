"""``epmip bench instructions``: CPU instructions per route set-up and per registration, counted by
cachegrind.

Rates in seconds drift on a shared VM: ``simple_switch_13`` in the same ``bench control-plane``
run has moved by 30-50% within minutes (docs/benchmarks.md).  The number of instructions an event
executes does not depend on what else the machine is doing, so it shows a change of a few percent
that a timed run cannot.

``valgrind --tool=cachegrind --cache-sim=no`` runs a workload twice in fresh processes, with the
same set-up each time.  The set-up builds a domain of ``--mns`` MNs (the layout of
``bench control-plane``) and registers them.  Only the second process then runs ``--events``
events, and the difference of the two totals, divided by the events, is the cost of one event:

* ``route_setup``: ``packet_in(table=UPLINK)`` toward an MN on another eMAG not yet located (DRF
  miss, PBQR, LMF lookup, PBQA, DRF flow intent), as ``bench control-plane`` times it;
* ``registration``: ``port_added`` for an MN's access port (the full path, port-MAC lookup
  included), with every other MN registered first.

``PYTHONHASHSEED`` is fixed.  Where objects land in memory still moves a count by a few percent
between two builds of the harness, so compare counts taken with the same parameters.  Needs
valgrind (Debian: ``apt-get install valgrind``); about 30 s per event kind at the defaults.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

KINDS = ("route_setup", "registration")
DEFAULT_MNS = 3000
DEFAULT_EVENTS = 600
SEED = 13
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


class InstructionsError(RuntimeError):
    """The count could not be made (names what is wrong)."""


def workload(kind: str, n: int, events: int, run: bool) -> int:
    """Set up ``n`` MNs for ``events`` events of ``kind``; with ``run``, run them.  Returns how many
    events ran (0 without ``run``).  The set-up is the same with and without ``run``."""
    from benchmarks import control_plane as cp
    from openflow_rules.pipeline import Table

    if kind not in KINDS:
        raise InstructionsError(f"unknown event kind {kind!r} (one of {', '.join(KINDS)})")
    plane = cp.ControlPlane(n)
    order = list(plane.domain.mobile_nodes.values())
    random.Random(SEED).shuffle(order)
    if kind == "registration":
        if not 0 < events < n:
            raise InstructionsError(f"{events} registrations need more than {events} MNs (have {n})")
        for mn in order[: n - events]:
            plane.attach_known(mn, mn.attach)
        plane.heap.freeze(0, full=True)
        if not run:
            return 0
        for mn in order[n - events :]:
            plane.attach(mn, mn.attach)
        return events
    for mn in order:
        plane.attach_known(mn, mn.attach)
    plane.heap.freeze(0, full=True)
    items = [plane._frame(a, b) for a, b in plane._pairs()]
    if len(items) < events:
        raise InstructionsError(f"{n} MNs give {len(items)} route set-ups, fewer than {events}: raise --mns")
    items = items[:events]
    if not run:
        return 0
    ctl, uplink = plane.ctl, Table.UPLINK
    for dpid, port, frame in items:
        ctl.packet_in(dpid, port, frame, plane._tick(), table=uplink)
    return events


def instructions(valgrind_output: str) -> int:
    """The total of cachegrind's ``I refs`` line."""
    found = _REFS.search(valgrind_output)
    if found is None:
        raise InstructionsError(f"no 'I refs' line in valgrind's output: {valgrind_output[-300:]!r}")
    return int(found.group(1).replace(",", ""))


def _count(kind: str, n: int, events: int, run: bool) -> int:
    cmd = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.instructions", "workload", kind, str(n), str(events), str(int(run)),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise InstructionsError(f"{kind} workload failed under valgrind: {done.stderr.strip()[-500:]}")
    return instructions(done.stderr)


def measure(n: int, events: int, kinds: tuple[str, ...] = KINDS) -> dict:
    if shutil.which("valgrind") is None:
        raise InstructionsError("valgrind not found (Debian: apt-get install valgrind)")
    out: dict = {"benchmark": "instructions", "mns": n, "events": events, "per_event": {}}
    with ThreadPoolExecutor(max_workers=2) as pool:  # the two runs of a kind side by side
        for kind in kinds:
            print(f"{kind}: counting {events} events at {n:,} MNs under cachegrind ...", file=sys.stderr, flush=True)
            base, with_events = pool.map(lambda r, k=kind: _count(k, n, events, r), (False, True))
            out["per_event"][kind] = round((with_events - base) / events)
    return out


def report(result: dict) -> str:
    lines = [
        f"epmip bench instructions: cachegrind, {result['mns']:,} MNs, {result['events']} events per kind",
        "",
        f"{'event':<16} {'instructions':>14}",
    ]
    lines += [f"{kind:<16} {count:>14,}" for kind, count in result["per_event"].items()]
    return "\n".join(lines)


def run(n: int = DEFAULT_MNS, events: int = DEFAULT_EVENTS, as_json: bool = False) -> int:
    try:
        if n < 2 or events < 1:
            raise InstructionsError(f"--mns {n} and --events {events} must be at least 2 and 1")
        result = measure(n, events)
    except InstructionsError as exc:
        print(f"epmip bench instructions: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if as_json else report(result))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["workload"]:
        kind, n, events, run_events = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
        try:
            workload(kind, n, events, run_events)
        except InstructionsError as exc:
            print(f"epmip bench instructions: {exc}", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    sys.exit(f"usage: {sys.argv[0]} workload KIND MNS EVENTS RUN")
