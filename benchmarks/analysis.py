"""Figures of the handoff benchmark from udpstream records: pure functions, no I/O.

Records are ``(seq, send_time, recv_time)`` tuples as ``benchmarks/udpstream.py`` writes them.

Clock: every time here is ``time.time()`` seconds (CLOCK_REALTIME).  Mininet hosts are network
namespaces of one machine and share its clock, so a sender's send times, a receiver's arrival times
(in another namespace) and the move times the orchestrator takes are all on one time line.  (A step
of the system clock during a run - NTP - would skew that run's figures.)

Per move k (move times m_1 < m_2 < ...), the *window* of the move runs from the midpoint between the
previous move and this one to the midpoint between this move and the next one; the first window
starts at ``start`` (when the stream was known to flow) and the last ends at ``end`` (when the
senders were stopped), or are open if these are not given.  In the window:

* lost: sequence numbers never received whose send time falls in the window;
* interruption: the longest time without an arrival, i.e. the longest gap between consecutive
  arrivals (by arrival time, so reordering does not matter), clipped to the window.  With no loss it
  is about one packet interval (1/rate); it is measured to a packet interval's precision.  The first
  and the last send time of the stream also count as "arrivals" (one-way delay is negligible on one
  machine), so a stream that dies and never comes back still shows the outage up to its end.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Record = tuple[int, float, float]  # seq, send_time, recv_time


# --------------------------------------------------------------------------- statistics helpers


def _present(values: Iterable[float | None]) -> list[float]:
    return sorted(v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None (None if there are none)."""
    vals = _present(values)
    return statistics.median(vals) if vals else None


def percentile(values: Iterable[float | None], p: float) -> float | None:
    """The p-th percentile by nearest rank: the smallest value with at least p % of the values at or
    below it (always one of the values, no interpolation).  With few values the high percentiles are
    the maximum (p95 of fewer than 20 values is the largest).  None values are left out; None if
    nothing is left."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not in 0..100")
    vals = _present(values)
    if not vals:
        return None
    rank = math.ceil(round(p * len(vals) / 100, 9))
    return vals[max(rank, 1) - 1]


def p95(values: Iterable[float | None]) -> float | None:
    return percentile(values, 95)


# --------------------------------------------------------------------------- stream analysis


@dataclass
class WindowFigures:
    """One move's window of one direction of the stream."""

    start: float
    end: float
    sent: int = 0
    lost: int = 0
    interruption_s: float | None = None

    @property
    def received(self) -> int:
        return self.sent - self.lost

    @property
    def loss_ratio(self) -> float | None:
        return self.lost / self.sent if self.sent else None

    def as_dict(self) -> dict:
        return {
            "window_start": _finite(self.start), "window_end": _finite(self.end),
            "sent": self.sent, "received": self.received, "lost": self.lost, "loss_ratio": self.loss_ratio,
            "interruption_ms": None if self.interruption_s is None else self.interruption_s * 1000,
        }  # fmt: skip


@dataclass
class StreamFigures:
    """One direction of the stream: overall figures and one WindowFigures per move."""

    sent: int
    received: int  # distinct sequence numbers
    lost: int
    duplicates: int
    reordered: int  # arrivals with a lower sequence number than one that arrived before
    windows: list[WindowFigures] = field(default_factory=list)

    @property
    def loss_ratio(self) -> float | None:
        return self.lost / self.sent if self.sent else None

    def as_dict(self) -> dict:
        return {
            "sent": self.sent, "received": self.received, "lost": self.lost, "loss_ratio": self.loss_ratio,
            "duplicates": self.duplicates, "reordered": self.reordered,
            "moves": [w.as_dict() for w in self.windows],
        }  # fmt: skip


def move_windows(
    move_times: Sequence[float], start: float | None = None, end: float | None = None
) -> list[tuple[float, float]]:
    """[lo, hi) per move: midpoint to midpoint, the first from ``start``, the last to ``end``."""
    moves = list(move_times)
    if any(b < a for a, b in zip(moves, moves[1:], strict=False)):
        raise ValueError("move times must be in increasing order")
    lo_all = -math.inf if start is None else start
    hi_all = math.inf if end is None else end
    out = []
    for k, m in enumerate(moves):
        lo = lo_all if k == 0 else (moves[k - 1] + m) / 2
        hi = hi_all if k == len(moves) - 1 else (m + moves[k + 1]) / 2
        out.append((lo, hi))
    return out


def complete_send_times(count: int, known: Mapping[int, float], rate: float | None = None) -> list[float]:
    """A send time for every sequence number 0..count-1: the known ones (from the sender's log or the
    received packets), the others interpolated linearly between their known neighbours and
    extrapolated at the ends with ``rate`` (or the rate the known times show)."""
    if count <= 0:
        return []
    pts = sorted((s, t) for s, t in known.items() if 0 <= s < count)
    if not pts:
        raise ValueError("no send time known for any sequence number")
    if len(pts) == count:
        return [t for _, t in pts]
    if rate is None:
        (s0, t0), (s1, t1) = pts[0], pts[-1]
        if s1 == s0 or t1 <= t0:
            raise ValueError("need the packet rate to place lost packets in time")
        rate = (s1 - s0) / (t1 - t0)
    times = [0.0] * count
    seqs = [s for s, _ in pts]
    for s in range(count):
        i = bisect.bisect_left(seqs, s)
        if i < len(pts) and pts[i][0] == s:
            times[s] = pts[i][1]
        elif i == 0:
            times[s] = pts[0][1] - (pts[0][0] - s) / rate
        elif i == len(pts):
            times[s] = pts[-1][1] + (s - pts[-1][0]) / rate
        else:
            (sa, ta), (sb, tb) = pts[i - 1], pts[i]
            times[s] = ta + (tb - ta) * (s - sa) / (sb - sa)
    return times


def _gap_in(points: Sequence[float], gaps: Sequence[float], lo: float, hi: float) -> float | None:
    """The longest interval between consecutive points, clipped to [lo, hi)."""
    n = len(points)
    if n < 2 or hi <= lo:
        return None
    first = max(bisect.bisect_right(points, lo) - 1, 0)  # last pair that starts at or before lo
    last = min(bisect.bisect_left(points, hi), n - 1) - 1  # last pair that starts before hi
    if last < first:
        return None

    def clipped(i: int) -> float:
        return min(points[i + 1], hi) - max(points[i], lo)

    best = max(clipped(first), clipped(last))
    if last - first > 1:
        best = max(best, max(gaps[first + 1 : last]))
    return max(best, 0.0)


def analyze_stream(
    records: Iterable[Record],
    sent_count: int,
    move_times: Sequence[float],
    send_times: Mapping[int, float] | Sequence[float] | None = None,
    rate: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> StreamFigures:
    """Loss and interruption of one direction around each move.

    ``records``: what the receiver recorded; ``sent_count``: packets the sender sent (sequence
    numbers 0..sent_count-1); ``send_times``: the sender's log (seq -> send time, or a list indexed
    by seq), if there is one; otherwise lost packets are placed in time between their received
    neighbours (``rate`` is needed only if nothing or a single packet arrived).  Arrivals with a
    sequence number outside 0..sent_count-1 are ignored."""
    recs = sorted((r for r in records if 0 <= r[0] < sent_count), key=lambda r: r[2])
    known = {seq: sent for seq, sent, _ in recs}
    if send_times is not None:
        items = send_times.items() if isinstance(send_times, Mapping) else enumerate(send_times)
        known.update((s, t) for s, t in items if 0 <= s < sent_count)
    seen: set[int] = set()
    duplicates = reordered = 0
    highest = -1
    for seq, _, _ in recs:
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    figures = StreamFigures(sent_count, len(seen), sent_count - len(seen), duplicates, reordered)
    if sent_count == 0:
        figures.windows = [WindowFigures(lo, hi) for lo, hi in move_windows(move_times, start, end)]
        return figures
    times = complete_send_times(sent_count, known, rate)
    sorted_times = sorted(times)
    lost_times = sorted(times[s] for s in range(sent_count) if s not in seen)
    points = sorted([r[2] for r in recs] + [min(times), max(times)])
    gaps = [b - a for a, b in zip(points, points[1:], strict=False)]
    for lo, hi in move_windows(move_times, start, end):
        w = WindowFigures(lo, hi)
        w.sent = bisect.bisect_left(sorted_times, hi) - bisect.bisect_left(sorted_times, lo)
        w.lost = bisect.bisect_left(lost_times, hi) - bisect.bisect_left(lost_times, lo)
        w.interruption_s = _gap_in(points, gaps, lo, hi)
        figures.windows.append(w)
    return figures


# --------------------------------------------------------------------------- controller statistics


def message_deltas(before: Mapping, after: Mapping) -> dict[str, int]:
    """Signalling messages sent between two GET /epmip/v1/stats answers, by type (non-zero only)."""
    b, a = before.get("messages", {}) or {}, after.get("messages", {}) or {}
    out = {k: a.get(k, 0) - b.get(k, 0) for k in sorted(set(a) | set(b))}
    return {k: v for k, v in out.items() if v}


def latency_delta(before: Mapping, after: Mapping, name: str) -> dict:
    """The samples a controller latency (``stats["latency"][name]``: count, median_ms, max_ms) gained
    between two stats answers: ``{"count": new samples, "ms": the longest new sample or None}``.

    The REST figures are aggregates, so the new samples' value is known exactly only when it can be
    told apart: the first samples ever (their maximum is ``max_ms``), a new maximum, or a single new
    sample with a ``last_ms`` field.  Otherwise ``ms`` is None."""
    b = (before.get("latency") or {}).get(name) or {}
    a = (after.get("latency") or {}).get(name)
    if not a:
        return {"count": 0, "ms": None}
    delta = a.get("count", 0) - b.get("count", 0)
    if delta <= 0:
        return {"count": 0, "ms": None}
    ms = None
    if delta == 1 and a.get("last_ms") is not None:
        ms = a["last_ms"]
    elif not b.get("count"):
        ms = a.get("max_ms")
    elif a.get("max_ms") is not None and b.get("max_ms") is not None and a["max_ms"] > b["max_ms"]:
        ms = a["max_ms"]
    return {"count": delta, "ms": ms}


# --------------------------------------------------------------------------- output


def fmt(value: float | None, digits: int = 0, scale: float = 1.0) -> str:
    """A number for a table ("n/a" for None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * scale:.{digits}f}"


def text_table(header: Sequence[str], rows: Sequence[Sequence | None], align: str | None = None,
               indent: str = "") -> str:  # fmt: skip
    """A fixed-width text table.  ``align``: one 'l' or 'r' per column (default: the first column
    left, the others right).  A row that is None draws a rule (e.g. before summary rows)."""
    ncol = len(header)
    align = align or "l" + "r" * (ncol - 1)
    if len(align) != ncol:
        raise ValueError("align needs one letter per column")
    cells = [None if r is None else ["" if c is None else str(c) for c in r] for r in rows]
    for r in cells:
        if r is not None and len(r) != ncol:
            raise ValueError(f"row {r} has {len(r)} cells, the header {ncol}")
    widths = [max([len(h)] + [len(r[i]) for r in cells if r is not None]) for i, h in enumerate(header)]

    def line(r: Sequence[str]) -> str:
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align, strict=True)]
        return (indent + "  ".join(parts)).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    out = [line(list(header)), rule]
    out += [rule if r is None else line(r) for r in cells]
    return "\n".join(out)


def summarize(rows: Sequence[Mapping], keys: Sequence[str]) -> dict[str, dict]:
    """median and p95 (nearest rank) of each key over the rows (None values left out)."""
    out = {}
    for key in keys:
        vals = [r.get(key) for r in rows]
        out[key] = {"n": len(_present(vals)), "median": median(vals), "p95": p95(vals)}
    return out


def json_ready(obj):
    """``obj`` with dataclasses as dicts, tuples/sets as lists and NaN/infinity as None, so that
    ``json.dumps(..., allow_nan=False)`` accepts it."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = obj.as_dict() if hasattr(obj, "as_dict") else dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo ("unknown CPU" where there is none)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
