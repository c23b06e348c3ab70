"""A short Mininet soak (issue 9 item 5): ``epmip bench soak --moves 12 --seed 42`` on real OVS + Mininet.

12 MNs on a seeded random walk over six eMAGs in three eLMA areas and a legacy MAG, one move a
second, under two-way and one-way UDP streams at 200 packets/s each way (benchmarks/soak.py).  The
seed puts mn1 on the legacy MAG from move 2 to move 9 while cn1 (behind the access router) and mn2
keep sending to it, and moves between eLMA areas nine times.

The issue's acceptance: no packet lost outside the link-layer gaps of a stream's two ends; every
stream whose ends are on DRF-capable switches ends on an optimized path (a direct DRF entry, no
(e)LMA, the shortest hop count); no MN's HoA changes.  One run per module; each check is a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import soak

LOG_ROOT = Path(__file__).resolve().parents[2] / "var" / "logs"

MOVES, SEED, MNS, RATE, INTERVAL = 12, 42, 12, 200.0, 1.0


@pytest.fixture(scope="module")
def result():
    lines: list[str] = []
    out = soak.soak(MOVES, INTERVAL, RATE, MNS, SEED, lines.append, log_dir=str(LOG_ROOT / "test_soak"))
    print("\n".join(lines) + soak.report(out))
    return out


def test_the_walk_crossed_areas_and_the_legacy_mag_and_every_move_was_registered(result):
    kinds = [e["kind"] for e in result["walk"]]
    assert len(kinds) == MOVES and "area" in kinds and "legacy" in kinds
    assert all(e["t_bound"] is not None for e in result["walk"]), result["walk"]
    assert all(e["hint_status"] == 202 for e in result["walk"])


def test_no_packet_is_lost_outside_the_link_layer_gaps(result):
    outside = {d["direction"]: d["outside_losses"] for d in result["directions"] if d["lost_outside_gaps"]}
    assert not outside
    assert all(d["received"] > 0.9 * d["sent"] for d in result["directions"])


def test_no_mns_hoa_changes(result):
    changed = [h for h in result["hoa"] if not h["unchanged"]]
    assert not changed
    assert all(h["after"]["addresses"] for h in result["hoa"])


def test_every_stream_between_drf_capable_switches_ends_on_an_optimized_path(result):
    """No (e)LMA crossed and the shortest hop count - also for a correspondent that fell back to PMIP
    routing while its MN visited the legacy MAG (the MN's new eMAG tells the holders)."""
    checked = result["paths"]["directions"]
    assert checked, result["paths"]["skipped"]
    assert not [p for p in checked if not p["optimized"]]


def test_no_flow_is_left_behind(result):
    assert not result["flows"]["stale"]


def test_the_controller_settled_and_reported_no_errors(result):
    assert result["settle"]["settled"], result["settle"]["pending"]
    assert result["verdict"]["checks"]["no controller errors"], result["controller"]["events"]
