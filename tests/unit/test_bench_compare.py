"""benchmarks/compare.py without Mininet: the figures, the table, the Markdown and the plots from
synthetic results, and the ``epmip bench compare`` wiring."""

from __future__ import annotations

import pytest

from apps import cli
from benchmarks import compare

PING_OUTPUT = """PING 2001:db8:a:2::1(2001:db8:a:2::1) 56 data bytes
64 bytes from 2001:db8:a:2::1: icmp_seq=1 ttl=64 time=0.412 ms
64 bytes from 2001:db8:a:2::1: icmp_seq=2 ttl=64 time=0.250 ms
64 bytes from 2001:db8:a:2::1: icmp_seq=3 ttl=64 time=0.301 ms

--- 2001:db8:a:2::1 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 41ms
rtt min/avg/max/mdev = 0.250/0.321/0.412/0.067 ms
"""


def test_parse_ping_reads_every_rtt_and_the_summary():
    assert compare.parse_ping(PING_OUTPUT) == ([0.412, 0.25, 0.301], 3, 3)
    with pytest.raises(compare.CompareError):
        compare.parse_ping("connect: Network is unreachable")


def test_hop_figures_count_switches_and_visits():
    # pmip A21 over K=50 round trips: emag1, elma1 and emag2 once each way, c1 twice each way (hairpin);
    # emag4 saw two stray ND packets; lma nothing
    before = {"emag1": 10, "c1": 100, "elma1": 7, "emag2": 0, "emag4": 3, "lma": 5}
    after = {"emag1": 110, "c1": 300, "elma1": 107, "emag2": 100, "emag4": 5, "lma": 5}
    got = compare.hop_figures(before, after, 50)
    assert got["crossed"] == ["c1", "elma1", "emag1", "emag2"]
    assert got["visits"] == 2 + 4 + 2 + 2
    assert got["growth"]["emag4"] == 2
    with pytest.raises(ValueError):
        compare.hop_figures(before, after, 0)


def test_route_figures_stretch_model_and_lma_load():
    before = {"emag1": 0, "c1": 0, "elma1": 0, "emag2": 0}
    after = {"emag1": 6, "c1": 12, "elma1": 6, "emag2": 6}
    fig = compare.route_figures(before, after, PING_OUTPUT, ["emag1", "c1", "emag2"], ["elma1"])
    assert fig["visits_round_trip"] == 10 and fig["shortest_round_trip"] == 6
    assert fig["stretch"] == pytest.approx(10 / 6)
    assert fig["model_rtt_ms"] == (10 + 2) * compare.MODEL_LINK_MS
    assert fig["lma_packets_per_round_trip"] == {"elma1": 2.0}
    assert fig["rtt_median_ms"] == 0.301 and fig["rtt_p95_ms"] == 0.412


def _handoff_result(mode: str, buffer: str, loss: int, moves: int = 4, rate: float = 100.0) -> dict:
    """What handoff._run(..., keep_records=True, count_switches=...) returns, made up: mn1 <-> mn2 at
    ``rate``, move k at t = 10 k s; around each move ``loss`` packets each way are never received."""
    t_start, dt = 5.0, 1 / rate
    count = int((10 * moves + 5 - t_start) * rate)
    moves_t = [10.0 * (k + 1) for k in range(moves)]
    sent = {h: [(s, t_start + s * dt, 0.0) for s in range(count)] for h in ("mn1", "mn2")}

    def lost(seq: int) -> bool:
        t = t_start + seq * dt
        return any(m <= t < m + loss * dt for m in moves_t)

    directions = (("mn1", "mn2"), ("mn2", "mn1"))
    received = {dst: [(s, t, t + 0.0005) for s, t, _ in sent[src] if not lost(s)] for src, dst in directions}
    rows = []
    for k, m in enumerate(moves_t, 1):
        rows.append({
            "move": k, "from": "emag1" if k % 2 else "emag2", "to": "emag2" if k % 2 else "emag1", "t_move": m,
            "move_ms": 40.0, "registration_ms": 60.0 + k, "downlink_lost": loss + (k == 2), "uplink_lost": loss,
            "uplink_l2_gap_lost": loss, "downlink_interruption_ms": 1000 * (loss + 1) * dt,
            "uplink_interruption_ms": 1000 * (loss + 1) * dt, "signalling_total": 8, "signalling": {"PBU": 2},
        })  # fmt: skip
    from benchmarks import analysis, handoff

    return {
        "mode": mode, "handoff_buffer": buffer, "mobile_node": "mn1", "correspondent": "mn2",
        "emags": ["emag1", "emag2"], "moves": rows, "summary": analysis.summarize(rows, handoff.SUMMARY_KEYS),
        "overall": {d: {"sent": count, "lost": loss * moves, "loss_ratio": loss * moves / count}
                    for d in ("downlink", "uplink")},
        "controller": {"errors": {}, "log": "controller.log"},
        "switch_packets": {"elma1": 2 * count if mode == "pmip" else 3, "elma3": 0, "lma": 0},
        "records": {"received": received, "sent": sent},
    }  # fmt: skip


def _route(visits: int, shortest: int, lma: float) -> dict:
    return {
        "switches_crossed": visits // 2, "visits_round_trip": visits, "shortest_round_trip": shortest,
        "shortest_path": ["s"] * (shortest // 2), "stretch": visits / shortest, "rtt_ms": [0.2, 0.3, 0.25, 0.4],
        "rtt_median_ms": 0.275, "rtt_p95_ms": 0.4, "model_rtt_ms": visits + 2.0,
        "lma_packets_per_round_trip": {"elma1": lma, "elma3": 0.0, "lma": 0.0},
    }  # fmt: skip


@pytest.fixture
def result() -> dict:
    lmas = ["elma1", "elma3", "lma"]
    handoffs = {
        compare.config_label(m, b): compare.handoff_summary(_handoff_result(m, b, loss), lmas)
        for (m, b), loss in zip(compare.CONFIGS, (3, 1, 0, 3, 4, 2), strict=True)
    }
    handoffs["lr"] = {"error": "controller exited with 1"}
    return {
        "benchmark": "compare", "date": "2026-01-01T00:00:00+00:00", "domain": "examples/domain.yaml",
        "machine": {"cpu": "Test CPU", "cores": 2, "kernel": "6.1.0", "ovs": "ovs-vswitchd (Open vSwitch) 3.1.0"},
        "moves": 4, "rate_pps": 100.0, "interval_s": 2.0, "pings": 50, "ping_interval_s": 0.02,
        "lmas": lmas, "errors": ["handoff A22 lr: controller exited with 1"],
        "routes": {
            "epmip": {"A21": _route(6, 6, 0.0), "A22": _route(8, 8, 0.0)},
            "lr": {"A21": _route(6, 6, 0.0), "A22": _route(16, 8, 4.0)},
            "pmip": {"error": "timed out"},
            "lma_daf": {"A21": _route(8, 8, 0.0), "A22": _route(10, 10, 0.0)},
        },
        "handoffs": {"A22": handoffs},
    }  # fmt: skip


def test_handoff_summary_keeps_the_figures_and_a_typical_timeline(result):
    h = result["handoffs"]["A22"]["pmip"]
    assert h["lma_load"]["elma1"] == pytest.approx(1.0)  # 2 * count LMA packets for 2 * count stream packets
    assert h["summary"]["downlink_lost"]["median"] == 4
    t = h["timeline"]
    assert t["move"] == compare.pick_timeline_move(h["moves"]) + 1
    assert len(t["downlink"]["lost"]) == 4 and len(t["uplink"]["lost"]) == 4
    assert all(0 <= x < 50 for x, _ in t["downlink"]["lost"])  # lost right after the move, at send time
    ys = [y for _, y in t["downlink"]["lost"]]  # seq relative to the last one sent at or before the move
    assert ys[0] in (0, 1) and ys == list(range(ys[0], ys[0] + 4))
    assert all(-200 <= x <= 500 for x, _ in t["uplink"]["received"])


def test_pick_timeline_move_takes_the_lower_median():
    moves = [{"downlink_lost": d, "uplink_lost": 0} for d in (9, 1, 5, 3)]
    assert compare.pick_timeline_move(moves) == 3  # totals 1, 3, 5, 9 -> the lower median 3 is move index 3


def test_table_is_side_by_side_with_errors_and_unmeasured_cells(result):
    header, sections = compare.table_sections(result)
    assert header == ["", "epmip", "epmip+reactive", "epmip+predictive", "lr", "pmip", "lma_daf"]
    titles = [t for t, _ in sections]
    assert titles[0].startswith("Route A21") and titles[1].startswith("Route A22")
    assert titles[2].startswith("Handoff A22") and len(titles) == 3  # no A21 handoff runs in this result
    a22 = dict((r[0], r[1:]) for r in sections[1][1])
    assert a22["route stretch (visits / shortest)"] == ["1.00", "·", "·", "2.00", "error", "1.00"]
    assert a22["LMA packets per round trip"][3] == "elma1 4.0"
    handoffs = dict((r[0], r[1:]) for r in sections[2][1])
    assert handoffs["downlink lost per handoff, median / p95"] == ["3 / 4", "1 / 2", "0 / 1", "error", "4 / 5", "2 / 3"]
    assert handoffs["LMA load elma1: packets per stream packet"][4] == "1.000"
    text = compare.text_table(result)
    assert "epmip+predictive" in text and "Handoff A22" in text


def test_outputs_markdown_json_and_readable_pngs(result, tmp_path):
    files = compare.write_outputs(result, tmp_path)
    names = {f.name for f in files}
    assert {"compare.md", "compare.json", "compare_loss.png", "compare_routes.png", "compare_timeline_a22.png"} <= names
    assert "compare_timeline_a21.png" not in names  # nothing to plot
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 10_000
    md = (tmp_path / "compare.md").read_text()
    assert "| **Handoff A22" in md and "Test CPU" in md and "2026-01-01" in md
    assert "![Loss per handoff](compare_loss.png)" in md and "MODEL" in md
    assert "timeline" not in (tmp_path / "compare.json").read_text()
    report = compare.text_report(result, files)
    assert "ERRORS" in report and "compare.md" in report


def test_cli_wires_bench_compare(monkeypatch):
    seen = {}

    def fake_run(moves, rate, json_out, out_dir=None, config=None, interval=2.0, only=()):
        seen.update(moves=moves, rate=rate, json_out=json_out, out_dir=out_dir, config=config, interval=interval,
                    only=only)  # fmt: skip
        return 0

    monkeypatch.setattr(compare, "run", fake_run)
    assert cli.main(["bench", "compare", "--moves", "3", "--rate", "200", "--out", "/tmp/x", "--json"]) == 0
    assert seen == {
        "moves": 3, "rate": 200.0, "json_out": True, "out_dir": "/tmp/x", "config": None, "interval": 2.0, "only": [],
    }  # fmt: skip
    assert cli.main(["bench", "compare"]) == 0
    assert seen["moves"] == 10 and seen["rate"] == 500.0 and seen["out_dir"] is None
    assert cli.main(["bench", "compare", "--only", "epmip,lma_daf"]) == 0
    assert seen["only"] == ["epmip", "lma_daf"]


def test_the_lma_daf_column_runs_the_section_7_domain_and_moves_between_mags_of_different_elmas():
    from benchmarks import handoff
    from controller.config import load_domain

    path = compare.domain_for(str(compare.ROOT / "examples" / "domain.yaml"), compare.ALT, "off")
    domain = load_domain(path)
    assert (domain.deployment, domain.mode, domain.handoff_buffer) == ("lma_daf", "epmip", "off")
    assert handoff.pick_emags(domain, "mn1") == ("mag1", "mag2")  # nearest eLMAs: elma1 and elma2
    assert "elma_drf" not in compare.lma_names(load_domain(str(compare.ROOT / "examples" / "domain.yaml")))
    assert compare.lma_names(domain) == ["elma1", "elma2", "elma3"]


def test_cli_passes_only_and_refuses_an_unknown_column(monkeypatch, capsys):
    seen = {}

    def fake_run(moves, rate, json_out, out_dir=None, config=None, interval=2.0, only=()):
        seen["only"] = only
        return 0

    monkeypatch.setattr(compare, "run", fake_run)
    assert cli.main(["bench", "compare", "--only", "lma_daf"]) == 0
    assert seen["only"] == ["lma_daf"]
    monkeypatch.undo()
    assert compare.run(1, 100.0, only=["nope"]) == 1
    assert "--only nope" in capsys.readouterr().err
