"""apps/heap.py freezes the controller's heap: that is only safe while the controller's events
leave no cyclic garbage (a cycle among frozen objects is never freed).  These tests run every
kind of event with the collector off and then count what a collection finds."""

from __future__ import annotations

import gc

import pytest

from apps.heap import Heap
from benchmarks import control_plane as cp
from openflow_rules.pipeline import Table


@pytest.fixture
def collector_off():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _workload(bench: cp.ControlPlane) -> None:
    mns = list(bench.domain.mobile_nodes.values())
    for mn in mns:  # registrations: port added, PBU/PBA, RA
        bench.attach(mn, mn.attach)
    for dpid, port, frame in [bench._frame(a, b) for a, b in bench._pairs()]:  # route set-ups: PBQR/PBQA
        bench.now += cp.STEP
        bench.ctl.packet_in(dpid, port, frame, bench.now, table=Table.UPLINK)
    for mn in mns[:40]:  # handoffs: PBCI/PBCA, redirects
        bench.detach(mn.id)
        bench.attach(mn, bench.other_emag[mn.attach])
        bench.ctl.tick(bench._tick())
    for mn in mns[40:60]:  # departures that are not taken over: de-registration, withdrawals
        bench.detach(mn.id)
    bench.now += 10 * cp.LIFETIME  # every binding, location and redirect expires
    bench.ctl.tick(bench.now)


def test_events_leave_no_cyclic_garbage(collector_off) -> None:
    bench = cp.ControlPlane(120)
    gc.collect()
    _workload(bench)
    counters = bench.ctl.counters
    assert counters["registration_completed"] >= 120 and counters["drf_direct_installed"] > 0
    assert bench.ctl.bus.sent["PBCI"] > 0 and bench.ctl.bus.sent["PBQR"] > 0
    found = gc.collect()
    assert found == 0, f"the controller's events left {found} objects in reference cycles: apps/heap.py must not freeze"


def test_a_cycle_is_what_the_check_finds(collector_off) -> None:
    """The check above can fail: a cycle made the same way is counted."""

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    del a, b
    assert gc.collect() >= 2


def test_freeze_moves_what_exists_out_of_the_collector_s_reach() -> None:
    heap = Heap(every=5.0)
    kept = [object() for _ in range(1000)]
    try:
        heap.tick(100.0)
        frozen = gc.get_freeze_count()
        assert frozen >= 1000 and heap.freezes == 1
        heap.tick(102.0)  # not yet due
        assert heap.freezes == 1
        heap.tick(105.0)
        assert heap.freezes == 2 and heap.stats()["frozen_objects"] >= frozen
    finally:
        gc.unfreeze()
        del kept
