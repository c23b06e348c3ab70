"""``epmip bench instructions``: its workloads run exactly the events they count (and set up the
same without them), it reads cachegrind's total, and it says what is missing without valgrind."""

from __future__ import annotations

import pytest

from benchmarks import instructions
from benchmarks.instructions import InstructionsError


@pytest.mark.parametrize("kind", instructions.KINDS)
def test_a_workload_runs_its_events_only_when_asked(kind, monkeypatch):
    from benchmarks import control_plane

    made = []
    real = control_plane.ControlPlane

    def keep(n):
        plane = real(n)
        made.append(plane)
        return plane

    monkeypatch.setattr(control_plane, "ControlPlane", keep)
    assert instructions.workload(kind, 400, 20, run=False) == 0
    assert instructions.workload(kind, 400, 20, run=True) == 20
    idle, busy = (plane.ctl.counters for plane in made)
    if kind == "route_setup":
        assert (idle["drf_direct_installed"], busy["drf_direct_installed"]) == (0, 20)
        assert busy["lmf_query"] == 20 and busy["handler_errors"] == 0
    else:
        assert busy["registration_completed"] - idle["registration_completed"] == 20
        assert idle["registration_completed"] == 380


def test_too_few_mns_for_the_events_is_named():
    with pytest.raises(InstructionsError, match="raise --mns"):
        instructions.workload("route_setup", 40, 500, run=False)
    with pytest.raises(InstructionsError, match="need more than"):
        instructions.workload("registration", 10, 10, run=False)
    with pytest.raises(InstructionsError, match="unknown event kind"):
        instructions.workload("handoff", 10, 1, run=False)


def test_the_total_is_read_from_cachegrind():
    out = "==7== Cachegrind, a cache and branch-prediction profiler\n==7== I   refs:      2,436,465,753\n"
    assert instructions.instructions(out) == 2_436_465_753
    with pytest.raises(InstructionsError, match="no 'I refs' line"):
        instructions.instructions("==7== nothing counted\n")


def test_without_valgrind_it_says_so(monkeypatch, capsys):
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.run(100, 10) == 1
    assert "valgrind not found" in capsys.readouterr().err
