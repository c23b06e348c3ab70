"""``epmip bench compare --controllers``: its pure parts - the counts, the move between regions,
the placement per anchor, the stats of several instances added up, the table."""

from __future__ import annotations

import pytest

from benchmarks import controllers
from mininet_topos.harness import merge_stats, split_by_anchor


def test_parse_counts():
    assert controllers.parse_counts("1,3") == [1, 3]
    for bad in ("", "one", "0,3"):
        with pytest.raises(controllers.ControllersError):
            controllers.parse_counts(bad)


def test_the_move_crosses_regions(domain):
    assert controllers.between_regions(domain, "mn1") == ("emag1", "emag3")


def test_split_by_anchor_is_a_valid_placement_per_region(doc, build_domain, domain):
    placement = split_by_anchor(domain)
    assert [(c["name"], c["switches"]) for c in placement] == [
        ("ielma1", ["elma1", "emag1", "emag2", "ar1", "c1", "c2"]),
        ("ielma3", ["elma3", "emag3", "emag4"]),
        ("ilma", ["lma", "mag5"]),
    ]
    doc["controllers"] = placement
    assert len(build_domain(doc).controllers) == 3  # check-config's rules hold


def test_merge_stats_adds_instances_up():
    a = {
        "messages": {"PBU": 2, "PBQR": 1},
        "messages_total": 3,
        "signalling_bytes": 300,
        "signalling_errors": {},
        "events": {"x": 1},
        "latency": {
            "registration": {"count": 2, "max_ms": 5.0, "median_ms": 1.0, "last_ms": 2.0},
            "handoff_reroute": {"count": 1, "max_ms": 7.0, "median_ms": 7.0, "last_ms": 7.0},
        },
    }
    b = {
        "messages": {"PBU": 1},
        "messages_total": 1,
        "signalling_bytes": 100,
        "signalling_errors": {"malformed": 1},
        "events": {"x": 2},
        "latency": {"registration": {"count": 1, "max_ms": 9.0, "median_ms": 9.0, "last_ms": 9.0}},
    }
    m = merge_stats([a, b])
    assert m["messages"] == {"PBU": 3, "PBQR": 1} and m["messages_total"] == 4 and m["signalling_bytes"] == 400
    assert m["signalling_errors"] == {"malformed": 1} and m["events"] == {"x": 3}
    assert m["latency"]["registration"] == {"count": 3, "max_ms": 9.0, "median_ms": None, "last_ms": None}
    assert m["latency"]["handoff_reroute"]["last_ms"] == 7.0  # only one instance has it: kept


def test_table_lists_every_figure_per_count():
    summary = {key: {"n": 4, "median": 12.0, "p95": 30.5} for key, _ in controllers.ROWS}
    result = {"results": {"1": {"summary": summary, "errors": {}}, "3": {"summary": summary, "errors": {}}}}
    text = controllers.table(result)
    assert text.splitlines()[0] == "| per handoff (median / p95) | 1 instance(s) | 3 instance(s) |"
    assert "| signalling bytes per handoff | 12 / 30 | 12 / 30 |" in text
    assert len(text.splitlines()) == 2 + len(controllers.ROWS)
