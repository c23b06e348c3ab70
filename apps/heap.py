"""The controller's heap and Python's cyclic garbage collector (issue 13).

CPython's collector looks at every tracked object of a generation when it collects it.  The
controller's state - the domain's profiles, every binding, attachment, DRF location - lives for
as long as the process, so each full collection walked all of it: at 10,000 MNs one took 50-70 ms
(measured with ``gc.callbacks`` in the in-process benchmark), and such pauses were the p99 of
``epmip bench load``; at 1M MNs they grow to seconds.  Yet that walk finds nothing: with
registrations, route set-ups, handoffs and timer ticks the collector freed 0 objects (the state
is trees of records; a record that goes is freed by its reference count).
``tests/unit/test_heap.py`` keeps it so: a workload of every event kind leaves no cyclic garbage.

So the app freezes the heap (``gc.freeze``: the objects that exist move to a generation the
collector never looks at) once the domain is loaded and the state restored, and again at every
timer tick (``FREEZE_EVERY``), after collecting the youngest generation (at most 700 objects,
a tenth of a millisecond; collecting the two young ones took several milliseconds per tick in
epmip-manager under load - a py-spy profile of ``bench load`` at half rate put 4% of the
controller's time there).  Freezing
often keeps the oldest generation small: with a 5 s interval, the state events built in those 5 s
(registrations at thousands per second) was walked again by each full collection.  The
collector keeps running for new objects.
The cost: a cycle that becomes garbage after its objects were frozen is not freed; ``stats``
shows how many objects are frozen, so a leak would show there.
"""

from __future__ import annotations

import gc

FREEZE_EVERY = 0.2  # seconds between freezes: the app timer's tick


class Heap:
    def __init__(self, every: float = FREEZE_EVERY) -> None:
        self.every = every
        self.last: float | None = None
        self.freezes = 0

    def freeze(self, now: float, full: bool = False) -> None:
        """Collect (all generations with ``full``, else the youngest) and freeze what is left."""
        gc.collect() if full else gc.collect(0)
        gc.freeze()
        self.last = now
        self.freezes += 1

    def tick(self, now: float) -> None:
        if self.last is None or now - self.last >= self.every:
            self.freeze(now)

    def stats(self) -> dict[str, object]:
        return {
            "frozen_objects": gc.get_freeze_count(),
            "freezes": self.freezes,
            "collections": [s["collections"] for s in gc.get_stats()],
            "collected": sum(s["collected"] for s in gc.get_stats()),
        }
