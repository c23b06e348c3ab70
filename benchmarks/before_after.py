"""A benchmark's figures side by side with an earlier run's: ``--before FILE``, where FILE is what
the same benchmark printed with ``--json`` (e.g. on an older commit, or the runs kept in
``docs/results/``).  Each cell reads ``before -> after``, and the last column says how much better
the after figure is (a rate: after / before; a latency, a CPU time or memory: before / after), so
">1" is always an improvement.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.analysis import text_table


class BeforeError(ValueError):
    """The --before file cannot be used (names what is wrong)."""


def load(path: str, benchmark: str, required: Sequence[str]) -> dict[str, Any]:
    """The earlier run in ``path``: a JSON object with the keys ``required`` (what ``benchmark``
    prints with --json)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise BeforeError(f"--before {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BeforeError(f"--before {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise BeforeError(
            f"--before {path}: a JSON {type(data).__name__}, not the object `epmip bench {benchmark} --json` prints"
        )
    missing = [k for k in required if k not in data]
    if missing:
        raise BeforeError(
            f"--before {path}: no {', '.join(missing)}: not the output of `epmip bench {benchmark} --json`"
        )
    return data


def get(d: Any, path: Sequence[str]) -> float | None:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d if isinstance(d, int | float) and not isinstance(d, bool) else None


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) < 10:
        return f"{v:.2f}"
    return f"{v:,.1f}" if abs(v) < 100 else f"{round(v):,}"


def cell(before: float | None, after: float | None) -> str:
    return f"{_num(before)} -> {_num(after)}"


def gain(before: float | None, after: float | None, higher_is_better: bool) -> str:
    if not before or not after or before <= 0 or after <= 0:
        return "-"
    return f"x{(after / before if higher_is_better else before / after):.2f}"


Row = tuple[str, Callable[[dict[str, Any]], float | None], bool]  # label, figure, higher is better


def table(title: str, before: dict[str, Any], after: dict[str, Any], rows: Sequence[Row], note: str = "") -> str:
    body = []
    for label, figure, higher in rows:
        b, a = figure(before), figure(after)
        if b is None and a is None:
            continue
        body.append([label, cell(b, a), gain(b, a, higher)])
    lines = [title + (f" ({note})" if note else ""), text_table(["figure", "before -> after", "better by"], body)]
    return "\n".join(lines)
