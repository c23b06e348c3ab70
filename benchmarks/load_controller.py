"""``epmip-manager`` with a profiler the load driver switches on and off (``benchmarks/load.py``).

    python -m benchmarks.load_controller PROFILE_OUT [epmip-manager arguments...]

SIGUSR1 starts cProfile, SIGUSR2 stops it and writes the statistics to PROFILE_OUT (pstats
format).  Everything else is ``apps.launcher.main``: the same process the bench measures without
the profiler.  The handlers run between bytecodes of whichever green thread is running; cProfile
follows the one OS thread, so the figures of the event handlers are right and the split of time
between eventlet's green threads is approximate.
"""

from __future__ import annotations

import cProfile
import signal
import sys


def main(argv: list[str]) -> None:
    out = argv[0]
    profiler = cProfile.Profile()

    def start(*_: object) -> None:
        profiler.enable()

    def stop(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from apps.launcher import main as launch

    launch(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
