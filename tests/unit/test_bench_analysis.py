"""benchmarks/analysis.py on synthetic records, and benchmarks/udpstream.py over loopback (::1)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import analysis
from benchmarks.analysis import analyze_stream, move_windows, p95, percentile
from benchmarks.udpstream import RECORD, load_records

UDPSTREAM = Path(__file__).resolve().parents[2] / "benchmarks" / "udpstream.py"
RATE = 100.0  # packets/s of the synthetic streams: one packet every 10 ms
DELAY = 0.001  # one-way delay of the synthetic streams
T0 = 1000.0


def stream(count: int, drop=lambda seq, t: False, arrive=lambda seq, t: t + DELAY):
    """Records of a stream sent at RATE from T0, without the dropped packets."""
    out = []
    for seq in range(count):
        t = T0 + seq / RATE
        if not drop(seq, t):
            out.append((seq, t, arrive(seq, t)))
    return out


def send_log(count: int) -> dict[int, float]:
    return {seq: T0 + seq / RATE for seq in range(count)}


# --------------------------------------------------------------------------- windows and loss


def test_windows_run_midpoint_to_midpoint():
    assert move_windows([10, 20, 40], start=5, end=50) == [(5, 15), (15, 30), (30, 50)]
    assert move_windows([10]) == [(-math.inf, math.inf)]
    assert move_windows([]) == []
    with pytest.raises(ValueError):
        move_windows([20, 10])


def test_no_loss_means_zero_lost_and_a_packet_interval_of_interruption():
    recs = stream(600)  # 6 s
    moves = [T0 + 1.5, T0 + 3.0, T0 + 4.5]
    fig = analyze_stream(recs, 600, moves, send_times=send_log(600), start=T0, end=T0 + 6)
    assert (fig.sent, fig.received, fig.lost, fig.duplicates, fig.reordered) == (600, 600, 0, 0, 0)
    assert [w.lost for w in fig.windows] == [0, 0, 0]
    assert [w.sent for w in fig.windows] == [225, 150, 225]
    for w in fig.windows:
        assert w.interruption_s == pytest.approx(1 / RATE)
    assert fig.loss_ratio == 0


def test_loss_around_one_move_is_counted_in_that_moves_window_only():
    moves = [T0 + 1.5, T0 + 3.0, T0 + 4.5]
    # 50 ms outage right after the second move: packets sent in [3.0, 3.05) lost
    recs = stream(600, drop=lambda seq, t: T0 + 3.0 <= t < T0 + 3.05)
    fig = analyze_stream(recs, 600, moves, send_times=send_log(600), start=T0, end=T0 + 6)
    assert [w.lost for w in fig.windows] == [0, 5, 0]
    assert fig.lost == 5 and fig.windows[1].loss_ratio == pytest.approx(5 / 150)
    # last arrival before: seq 299 (2.99 s), first after: seq 305 (3.05 s)
    assert fig.windows[1].interruption_s == pytest.approx(0.06)
    assert fig.windows[0].interruption_s == pytest.approx(0.01)
    assert fig.windows[2].interruption_s == pytest.approx(0.01)


def test_lost_packets_are_placed_in_time_without_a_sender_log():
    moves = [T0 + 1.0, T0 + 2.0]
    recs = stream(300, drop=lambda seq, t: 195 <= seq < 215)  # sent 1.95 .. 2.14 s
    fig = analyze_stream(recs, 300, moves, start=T0, end=T0 + 3)
    assert [w.lost for w in fig.windows] == [0, 20]
    # lost at the tail: placed after the last arrival with the given rate
    recs = stream(300, drop=lambda seq, t: seq >= 290)
    fig = analyze_stream(recs, 300, moves, rate=RATE, start=T0, end=T0 + 3)
    assert [w.lost for w in fig.windows] == [0, 10]
    # the stream died: the outage runs to the last send time (seq 299 at 2.99 s) from seq 289's arrival
    assert fig.windows[1].interruption_s == pytest.approx(2.99 - (2.89 + DELAY))


def test_reordering_and_duplicates_are_counted_not_lost():
    def arrive(seq, t):
        return t + DELAY + (0.015 if seq == 100 else 0)  # seq 100 overtaken by 101

    recs = stream(300, arrive=arrive)
    recs.append((50, T0 + 0.5, T0 + 0.5 + 2 * DELAY))  # a duplicate
    random.Random(1).shuffle(recs)  # file order does not matter, arrival time does
    fig = analyze_stream(recs, 300, [T0 + 1.5], send_times=send_log(300), start=T0, end=T0 + 3)
    assert (fig.received, fig.lost, fig.duplicates, fig.reordered) == (300, 0, 1, 1)
    assert fig.windows[0].lost == 0
    assert fig.windows[0].interruption_s == pytest.approx(0.02)  # seq 99 at 0.99 s, then seq 101


def test_a_delay_spike_without_loss_is_an_interruption():
    # what is sent in [1.5 s, 1.7 s) is held and released at 1.7 s (a queue during the move)
    def arrive(seq, t):
        return T0 + 1.7 + DELAY if T0 + 1.5 <= t < T0 + 1.7 else t + DELAY

    fig = analyze_stream(stream(300, arrive=arrive), 300, [T0 + 1.5], send_times=send_log(300))
    assert (fig.lost, fig.reordered) == (0, 0)
    assert fig.windows[0].interruption_s == pytest.approx(1.7 - 1.49)


def test_a_window_with_no_arrival_at_all_is_interrupted_for_its_whole_length():
    moves = [T0 + 1.0, T0 + 2.0, T0 + 3.0]  # windows [0,1.5) [1.5,2.5) [2.5,4)
    recs = stream(400, drop=lambda seq, t: T0 + 1.4 <= t < T0 + 2.6)
    fig = analyze_stream(recs, 400, moves, send_times=send_log(400), start=T0, end=T0 + 4)
    assert fig.windows[1].interruption_s == pytest.approx(1.0)
    assert fig.windows[1].lost == fig.windows[1].sent == 100
    assert fig.windows[1].loss_ratio == 1
    assert fig.windows[0].interruption_s == pytest.approx(1.5 - (1.39 + DELAY))
    assert fig.windows[2].interruption_s == pytest.approx(2.6 + DELAY - 2.5)


def test_out_of_range_sequence_numbers_are_ignored_and_nothing_sent_is_handled():
    recs = stream(10) + [(99, T0, T0 + 0.5)]
    fig = analyze_stream(recs, 10, [T0 + 0.05], send_times=send_log(10))
    assert (fig.sent, fig.received, fig.lost) == (10, 10, 0)
    fig = analyze_stream([], 0, [T0])
    assert fig.sent == 0 and fig.loss_ratio is None and fig.windows[0].interruption_s is None


def test_gap_search_matches_a_brute_force_one():
    rng = random.Random(7)
    for _ in range(200):
        points = sorted(rng.uniform(0, 10) for _ in range(rng.randint(2, 30)))
        gaps = [b - a for a, b in zip(points, points[1:], strict=False)]
        lo = rng.uniform(-2, 11)
        hi = lo + rng.uniform(0.01, 6)
        pairs = zip(points, points[1:], strict=False)
        overlaps = [min(b, hi) - max(a, lo) for a, b in pairs if b > lo and a < hi]
        got = analysis._gap_in(points, gaps, lo, hi)
        if not overlaps:
            assert got is None, (points, lo, hi)
        else:
            assert got == pytest.approx(max(overlaps)), (points, lo, hi)


def test_complete_send_times_interpolates_and_extrapolates():
    times = analysis.complete_send_times(6, {1: 10.0, 3: 10.2}, rate=10)
    assert times == pytest.approx([9.9, 10.0, 10.1, 10.2, 10.3, 10.4])
    assert analysis.complete_send_times(3, {0: 1.0, 2: 2.0}) == pytest.approx([1.0, 1.5, 2.0])
    with pytest.raises(ValueError):
        analysis.complete_send_times(3, {1: 1.0})  # a single point and no rate
    with pytest.raises(ValueError):
        analysis.complete_send_times(3, {})


# --------------------------------------------------------------------------- statistics helpers


def test_percentile_is_nearest_rank():
    vals = [15, 20, 35, 40, 50]
    assert [percentile(vals, p) for p in (0, 5, 30, 40, 50, 100)] == [15, 15, 20, 20, 35, 50]
    assert p95(vals) == 50  # fewer than 20 values: the maximum
    assert p95(range(1, 21)) == 19 and p95(range(1, 101)) == 95
    assert p95([3.0]) == 3.0
    assert p95([]) is None and p95([None, None]) is None
    assert p95([None, 2, 1]) == 2
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_median_skips_missing_values():
    assert analysis.median([3, None, 1, 2]) == 2
    assert analysis.median([4, 1]) == 2.5
    assert analysis.median([]) is None
    assert analysis.median([float("nan")]) is None


def test_summarize_gives_n_median_and_p95_per_key():
    rows = [{"a": 1, "b": None}, {"a": 3, "b": None}, {"a": 2}]
    assert analysis.summarize(rows, ["a", "b"]) == {
        "a": {"n": 3, "median": 2, "p95": 3},
        "b": {"n": 0, "median": None, "p95": None},
    }


# --------------------------------------------------------------------------- controller statistics


def test_message_deltas_by_type():
    before = {"messages": {"PBU": 4, "PBA": 4}}
    after = {"messages": {"PBU": 5, "PBA": 5, "PBCI": 1}}
    assert analysis.message_deltas(before, after) == {"PBA": 1, "PBCI": 1, "PBU": 1}
    assert analysis.message_deltas({}, {}) == {}


def test_latency_delta_is_exact_only_when_separable():
    def lat(count, median, mx, **extra):
        return {"latency": {"handoff_reroute": {"count": count, "median_ms": median, "max_ms": mx, **extra}}}

    absent = {"latency": {}}
    assert analysis.latency_delta(absent, absent, "handoff_reroute") == {"count": 0, "ms": None}
    assert analysis.latency_delta({}, lat(1, 12.0, 12.0), "handoff_reroute") == {"count": 1, "ms": 12.0}
    assert analysis.latency_delta(lat(1, 12.0, 12.0), lat(2, 15.0, 18.0), "handoff_reroute") == {
        "count": 1, "ms": 18.0,
    }  # fmt: skip
    # a new sample below the maximum cannot be told from the aggregate ...
    assert analysis.latency_delta(lat(2, 15.0, 18.0), lat(3, 14.0, 18.0), "handoff_reroute") == {
        "count": 1, "ms": None,
    }  # fmt: skip
    # ... unless the controller reports its last sample
    got = analysis.latency_delta(lat(2, 15.0, 18.0), lat(3, 14.0, 18.0, last_ms=14.0), "handoff_reroute")
    assert got == {"count": 1, "ms": 14.0}
    assert analysis.latency_delta(lat(3, 14.0, 18.0), lat(3, 14.0, 18.0), "handoff_reroute")["count"] == 0


# --------------------------------------------------------------------------- output


def test_text_table_is_fixed_width_with_rules():
    rows = [[1, 10, "x"], [22, 3, "yy"], None, ["median", 6.5, ""]]
    text = analysis.text_table(["move", "lost", "note"], rows, align="lrl")
    lines = text.splitlines()
    assert lines[0] == "move    lost  note"
    assert lines[1] == "------  ----  ----"
    assert lines[2] == "1         10  x"
    assert lines[3] == "22         3  yy"
    assert lines[4] == lines[1]
    assert lines[5] == "median   6.5"
    with pytest.raises(ValueError):
        analysis.text_table(["a", "b"], [[1]])


def test_fmt_and_json_ready():
    assert analysis.fmt(None) == "n/a" and analysis.fmt(12.345, 1) == "12.3"
    assert analysis.fmt(0.5, 0, 1000) == "500"
    fig = analyze_stream(stream(10), 10, [T0 + 0.05])  # first window open: -inf
    doc = analysis.json_ready({"fig": fig, "t": (1, float("nan")), "inf": math.inf})
    text = json.dumps(doc, allow_nan=False)
    back = json.loads(text)
    assert back["t"] == [1, None] and back["inf"] is None
    assert back["fig"]["moves"][0]["window_start"] is None and back["fig"]["sent"] == 10


# --------------------------------------------------------------------------- udpstream over loopback


def _python() -> str:
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def _free_udp6_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def _udp6_bound(port: int) -> bool:
    try:
        table = Path("/proc/net/udp6").read_text()
    except OSError:
        return True  # cannot tell: the sender's first packets might be lost, the test says so
    return any(line.split()[1].endswith(f":{port:04X}") for line in table.splitlines()[1:] if line.strip())


@pytest.fixture
def loopback6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")


def test_udpstream_send_and_recv_over_loopback(tmp_path, loopback6):
    port = _free_udp6_port()
    out, log = tmp_path / "recv.bin", tmp_path / "sent.bin"
    recv = subprocess.Popen([_python(), str(UDPSTREAM), "recv", "--port", str(port), "--out", str(out),
                             "--duration", "10"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 2
        while not _udp6_bound(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        count, rate = 100, 500
        sender = subprocess.run(
            [_python(), str(UDPSTREAM), "send", "--dst", "::1", "--port", str(port), "--rate", str(rate),
             "--count", str(count), "--size", "100", "--log", str(log)],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        assert sender.returncode == 0, sender.stderr
        summary = json.loads(sender.stdout.strip().splitlines()[-1])
        assert summary["sent"] == count and summary["send_errors"] == 0 and summary["size"] == 100
        time.sleep(0.2)
    finally:
        recv.send_signal(signal.SIGTERM)
        rout, _ = recv.communicate(timeout=5)
    assert recv.returncode == 0
    assert json.loads(rout.strip().splitlines()[-1])["received"] == count
    records = load_records(str(out))
    assert sorted(r[0] for r in records) == list(range(count))
    assert all(0 <= r[2] - r[1] < 1.0 for r in records)  # one clock: recv after send
    sent = load_records(str(log))
    assert [r[0] for r in sent] == list(range(count))
    # paced on absolute deadlines: 99 intervals of 2 ms
    assert 0.9 * (count - 1) / rate <= sent[-1][1] - sent[0][1] < (count - 1) / rate + 0.1
    fig = analyze_stream(records, summary["sent"], [sent[50][1]], send_times={s: t for s, t, _ in sent})
    assert fig.lost == 0 and fig.windows[0].lost == 0


def test_udpstream_recv_stops_by_itself_and_load_records_ignores_a_torn_record(tmp_path, loopback6):
    out = tmp_path / "recv.bin"
    t = time.monotonic()
    cmd = [_python(), str(UDPSTREAM), "recv", "--port", str(_free_udp6_port()), "--out", str(out)]
    done = subprocess.run([*cmd, "--duration", "0.3"], capture_output=True, text=True, timeout=5)
    assert done.returncode == 0 and time.monotonic() - t < 3
    assert json.loads(done.stdout)["received"] == 0
    out.write_bytes(RECORD.pack(0, 1.0, 1.5) + RECORD.pack(1, 2.0, 2.5)[:10])
    assert load_records(str(out)) == [(0, 1.0, 1.5)]
