"""``epmip bench compare``: ePMIP against RFC 6705 localized routing (``lr``) and plain PMIPv6
(``pmip``) on the same topology, in one side-by-side table and a few PNG plots.

Every part runs a fresh controller and Mininet network of the domain (default
``examples/domain.yaml``) with the domain's ``mode`` (and ``handoff_buffer``) overridden:

1. Routes, per mode, for A21 (mn1 -> mn3, both on elma1) and A22 (mn1 -> mn2, elma1 and elma3):
   a few pings establish the route (DRF query, LRI/LRA), then exactly ``PINGS`` pings are sent.
   The table-0 counters of every switch (each packet entering a switch counts once there) before
   and after give the switches crossed and the switch visits per round trip; the shortest path is
   ``Topology.path`` between the two MAGs; their ratio is the route stretch.  RTTs come from the
   ping output.  The kernels here have no netem, so links have no delay; a latency with
   ``MODEL_LINK_MS`` per link along the measured path is shown as a *model*.
2. Handoffs: ``benchmarks.handoff`` (its ``_run``, reused) with mn1 moving between emag1 and emag2
   under a two-way UDP stream, for A22 (peer mn2) and A21 (peer mn3), in every mode with
   ``handoff_buffer: off`` and for epmip also ``reactive`` and ``predictive``.
3. Load on the LMAs during those runs: packets entering each (e)LMA (table-0 counters) per stream
   packet sent.

Writes ``compare.md``, ``compare.json`` and ``compare_*.png`` to ``--out`` (default
``docs/results``).  Needs root (Open vSwitch, Mininet), like ``epmip bench handoff``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from benchmarks import analysis, handoff
from controller.config import Domain, load_domain
from controller.topology import Topology

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "results"
# "lma_daf" is the draft's §7 deployment (mode epmip on examples/domain-alt.yaml: legacy MAGs, DAF in
# the LMAs, independent LMFs): a column of its own, run on its own reference domain
ALT = "lma_daf"
ALT_DOMAIN = ROOT / "examples" / "domain-alt.yaml"
CONFIGS: tuple[tuple[str, str], ...] = (
    ("epmip", "off"), ("epmip", "reactive"), ("epmip", "predictive"), ("lr", "off"), ("pmip", "off"), (ALT, "off"),
)  # fmt: skip
ROUTE_MODES = ("epmip", "lr", "pmip", ALT)
PAIRS: tuple[tuple[str, str, str], ...] = (("A21", "mn1", "mn3"), ("A22", "mn1", "mn2"))
HANDOFF_PAIRS = ("A22", "A21")  # the order of the handoff runs and of the table's sections
PINGS = 50
PING_INTERVAL = 0.02  # seconds
WARMUP_PINGS = 5
ESTABLISH_S = 1.0  # after the warm-up pings: DRF decision / LRI-LRA
MODEL_LINK_MS = 1.0  # the latency model: one-way delay of every link (access links included)
SIZE = 64  # UDP payload bytes of the handoff stream
TIMELINE_BEFORE_S = 0.1
TIMELINE_AFTER_S = 0.3
MODE_COLOURS = {"epmip": "tab:blue", "lr": "tab:orange", "pmip": "tab:green", ALT: "tab:purple"}

Say = Callable[..., None]


class CompareError(RuntimeError):
    pass


def config_label(mode: str, buffer: str) -> str:
    return mode if buffer == "off" else f"{mode}+{buffer}"


def lma_names(domain: Domain) -> list[str]:
    return [s.name for s in domain.switches.values() if s.role in ("elma", "lma", "elma_drf")]


def domain_for(base: str, mode: str, buffer: str) -> str:
    """A temporary domain file for one run: ``base`` in ``mode``, or for the §7 column the §7
    reference domain (mode epmip)."""
    if mode == ALT:
        return handoff._override(str(ALT_DOMAIN), mode="epmip", handoff_buffer=buffer)
    return handoff._override(base, mode=mode, handoff_buffer=buffer)


# --------------------------------------------------------------------------- pure figures


def parse_ping(text: str) -> tuple[list[float], int, int]:
    """(RTTs in ms of the answered pings, transmitted, received) from iputils ping output."""
    rtts = [float(m.group(1)) for m in re.finditer(r"time[=<]([\d.]+) ms", text)]
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    if not m:
        raise CompareError(f"ping printed no summary: {text.strip()[-200:]}")
    return rtts, int(m.group(1)), int(m.group(2))


def hop_figures(before: Mapping[str, int], after: Mapping[str, int], k: int) -> dict:
    """What K round trips did to per-switch table-0 counters: ``crossed`` (switches that grew by at
    least K, in either direction), ``visits`` (sum of round(growth / K) over them: a switch crossed
    twice per direction counts 2 per direction) and ``growth`` per switch."""
    if k < 1:
        raise ValueError("need at least one answered ping")
    growth = {name: after[name] - before.get(name, 0) for name in after}
    crossed = sorted(name for name, g in growth.items() if g >= k)
    return {"crossed": crossed, "visits": sum(round(growth[n] / k) for n in crossed), "growth": growth}


def route_figures(
    before: Mapping[str, int], after: Mapping[str, int], ping_text: str, shortest: Sequence[str],
    lmas: Sequence[str], model_path: Sequence[str] | None = None,
) -> dict:  # fmt: skip
    """The route figures of one pair in one mode from the counters around the pings and their output."""
    rtts, sent, received = parse_ping(ping_text)
    if received < 1:
        raise CompareError(f"none of {sent} pings was answered")
    hops = hop_figures(before, after, received)
    shortest_rt = 2 * len(shortest)
    return {
        "pings_sent": sent, "pings_received": received,
        "switches_crossed": len(hops["crossed"]), "crossed": hops["crossed"],
        "visits_round_trip": hops["visits"], "shortest_path": list(shortest), "shortest_round_trip": shortest_rt,
        "stretch": hops["visits"] / shortest_rt,
        "rtt_ms": rtts, "rtt_median_ms": analysis.median(rtts), "rtt_p95_ms": analysis.p95(rtts),
        "model_rtt_ms": (hops["visits"] + 2) * MODEL_LINK_MS,
        "lma_packets_per_round_trip": {n: hops["growth"].get(n, 0) / received for n in lmas},
        "growth": hops["growth"],
        "controller_model_path": list(model_path) if model_path else None,
    }  # fmt: skip


def pick_timeline_move(moves: Sequence[Mapping]) -> int:
    """Index of a typical move: the (lower) median by packets lost both ways."""
    if not moves:
        raise ValueError("no moves")
    order = sorted(range(len(moves)), key=lambda i: (moves[i]["downlink_lost"] + moves[i]["uplink_lost"], i))
    return order[(len(order) - 1) // 2]


def timeline_excerpt(result: Mapping, index: int, before: float = TIMELINE_BEFORE_S,
                     after: float = TIMELINE_AFTER_S) -> dict:  # fmt: skip
    """Received and lost packets of both directions around move ``index`` of a handoff result with
    ``records`` (``handoff._run(..., keep_records=True)``): (ms since the move began, sequence
    number minus the last one sent before it); lost packets at their send time."""
    row = result["moves"][index]
    t0 = row["t_move"]
    mobile, peer = result["mobile_node"], result["correspondent"]
    records = result["records"]
    out = {
        "move": row["move"], "from": row["from"], "to": row["to"],
        "attached_ms": row.get("move_ms"), "bound_ms": row.get("registration_ms"),
        "downlink_lost": row["downlink_lost"], "uplink_lost": row["uplink_lost"],
    }  # fmt: skip
    for name, sender, receiver in (("downlink", peer, mobile), ("uplink", mobile, peer)):
        got = records["received"][receiver]
        send_time = {s: t for s, t, _ in records["sent"][sender]} or {s: t for s, t, _ in got}
        seq0 = max((s for s, t in send_time.items() if t <= t0), default=0)
        seen = {s for s, _, _ in got}
        out[name] = {
            "received": sorted((1000 * (r - t0), s - seq0) for s, _, r in got if -before <= r - t0 <= after),
            "lost": sorted((1000 * (t - t0), s - seq0) for s, t in send_time.items()
                           if s not in seen and -before <= t - t0 <= after),
        }  # fmt: skip
    return out


def handoff_summary(result: Mapping, lmas: Sequence[str]) -> dict:
    """The figures of one handoff run that the comparison shows (and a timeline excerpt if the
    run kept its records)."""
    keep = ("move", "from", "to", "move_ms", "registration_ms", "downlink_lost", "uplink_lost",
            "uplink_l2_gap_lost", "downlink_interruption_ms", "uplink_interruption_ms", "signalling_total",
            "signalling")  # fmt: skip
    moves = [{k: r.get(k) for k in keep} for r in result["moves"]]
    overall = {d: {k: result["overall"][d][k] for k in ("sent", "lost", "loss_ratio")} for d in ("downlink", "uplink")}
    stream = overall["downlink"]["sent"] + overall["uplink"]["sent"]
    counted = result.get("switch_packets") or {}
    out = {
        "mode": result.get("mode"), "handoff_buffer": result.get("handoff_buffer"),
        "mobile_node": result["mobile_node"], "correspondent": result["correspondent"], "emags": result["emags"],
        "moves": moves, "summary": result["summary"], "overall": overall, "stream_packets": stream,
        "lma_packets": {n: counted[n] for n in lmas if n in counted},
        "lma_load": {n: counted[n] / stream for n in lmas if n in counted and stream},
        "controller_errors": result["controller"]["errors"], "controller_log": result["controller"]["log"],
    }  # fmt: skip
    if "records" in result and result["moves"]:
        out["timeline"] = timeline_excerpt(result, pick_timeline_move(result["moves"]))
    return out


# --------------------------------------------------------------------------- the table


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"


def _lma_load_cell(lma: str) -> Callable[[Mapping], str]:
    """A handoff-table cell: the packets ``lma`` forwarded per stream packet in one run."""
    return lambda h: f"{h['lma_load'][lma]:.3f}" if lma in h["lma_load"] else "n/a"


def _med_p95(summary: Mapping, key: str, digits: int = 1) -> str:
    s = summary.get(key) or {}
    return f"{_num(s.get('median'), digits)} / {_num(s.get('p95'), digits)}"


def _pair(label: str) -> tuple[str, str]:
    return next((src, dst) for name, src, dst in PAIRS if name == label)


def table_sections(result: Mapping) -> tuple[list[str], list[tuple[str, list[list[str]]]]]:
    """The side-by-side table: a header (metric, one column per configuration) and sections of
    rows.  Route cells exist for the plain modes only (the handoff buffer does not change routes:
    '·')."""
    labels = [config_label(m, b) for m, b in CONFIGS]
    header = ["", *labels]
    sections: list[tuple[str, list[list[str]]]] = []
    routes = result.get("routes") or {}
    for pair, src, dst in PAIRS:
        any_route = next((routes[m][pair] for m in ROUTE_MODES if pair in routes.get(m, {})), None)
        one_way = "n/a" if any_route is None else str(len(any_route["shortest_path"]))
        both_ways = "n/a" if any_route is None else str(any_route["shortest_round_trip"])
        spec: list[tuple[str, Callable[[Mapping], str]]] = [  # (row label, cell of one run's figures)
            (f"switches crossed, round trip (shortest {one_way})", lambda r: str(r["switches_crossed"])),
            (f"switch visits per round trip (shortest {both_ways})", lambda r: str(r["visits_round_trip"])),
            ("route stretch (visits / shortest)", lambda r: f"{r['stretch']:.2f}"),
            ("RTT ms, median / p95 (measured)",
             lambda r: f"{_num(r['rtt_median_ms'], 3)} / {_num(r['rtt_p95_ms'], 3)}"),
            (f"RTT ms, MODEL at {MODEL_LINK_MS:g} ms per link", lambda r: _num(r["model_rtt_ms"])),
            ("LMA packets per round trip",
             lambda r: ", ".join(f"{n} {v:.1f}" for n, v in r["lma_packets_per_round_trip"].items() if v >= 0.05)
             or "0"),
        ]  # fmt: skip
        rows = []
        for name, cell in spec:
            row = [name]
            for mode, buffer in CONFIGS:
                fig = routes.get(mode, {}).get(pair) if buffer == "off" else None
                if buffer != "off":
                    row.append("·")
                elif fig is None:
                    row.append("error" if "error" in routes.get(mode, {}) else "n/a")
                else:
                    row.append(cell(fig))
            rows.append(row)
        pings = result.get("pings", PINGS)
        title = f"Route {pair}: {src} -> {dst}, {pings} pings every {1000 * result.get('ping_interval_s', 0):g} ms"
        sections.append((title, rows))
    handoffs = result.get("handoffs") or {}
    lmas = result.get("lmas") or []
    for pair in HANDOFF_PAIRS:
        runs = handoffs.get(pair) or {}
        if not runs:
            continue
        src, dst = _pair(pair)
        spec = [
            ("downlink lost per handoff, median / p95", lambda h: _med_p95(h["summary"], "downlink_lost")),
            ("uplink lost per handoff, median / p95", lambda h: _med_p95(h["summary"], "uplink_lost")),
            ("  of which in the L2 gap, median / p95", lambda h: _med_p95(h["summary"], "uplink_l2_gap_lost")),
            ("downlink interruption ms, median / p95",
             lambda h: _med_p95(h["summary"], "downlink_interruption_ms", 0)),
            ("uplink interruption ms, median / p95", lambda h: _med_p95(h["summary"], "uplink_interruption_ms", 0)),
            ("re-registration ms, median / p95", lambda h: _med_p95(h["summary"], "registration_ms", 0)),
            ("signalling messages per handoff, median / p95", lambda h: _med_p95(h["summary"], "signalling_total")),
            ("whole run: lost down / up",
             lambda h: f"{h['overall']['downlink']['lost']} / {h['overall']['uplink']['lost']}"),
        ]  # fmt: skip
        loaded = [n for n in lmas if any(r.get("lma_load", {}).get(n, 0) >= 0.0005 for r in runs.values())]
        spec += [(f"LMA load {n}: packets per stream packet", _lma_load_cell(n)) for n in loaded]
        rows = []
        for name, cell in spec:
            row = [name]
            for label in labels:
                h = runs.get(label)
                row.append("n/a" if h is None else "error" if "error" in h else cell(h))
            rows.append(row)
        title = (f"Handoff {pair}: {src} emag1 <-> emag2 ({ALT}: mag1 <-> mag2), {result.get('moves')} moves, "
                 f"UDP {SIZE} B at {result.get('rate_pps', 0):g} packets/s each way with {dst}")  # fmt: skip
        sections.append((title, rows))
    return header, sections


def text_table(result: Mapping) -> str:
    """The table as fixed-width text; section titles on lines of their own (not widening column 1)."""
    header, sections = table_sections(result)
    rows: list[list[str] | None] = []
    titles: dict[int, str] = {}  # row index -> section title
    for title, body in sections:
        if rows:
            rows.append(None)
        titles[len(rows)] = title
        rows.append([""] * len(header))
        rows += body
    lines = analysis.text_table(header, rows, align="l" + "r" * (len(header) - 1), indent="  ").splitlines()
    for i, title in titles.items():
        lines[i + 2] = f"  {title}"  # after the header and its rule
    return "\n".join(lines)


def markdown_table(result: Mapping) -> str:
    header, sections = table_sections(result)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    for title, body in sections:
        out.append("| **" + title + "** |" + " |" * (len(header) - 1))
        for row in body:
            cells = [row[0].replace("  of which", "&nbsp;&nbsp;of which")] + row[1:]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def notes(result: Mapping) -> list[str]:
    """What the table's figures mean (printed under it and in compare.md)."""
    rate = result.get("rate_pps") or 0
    interval = f"{1000 / rate:g} ms = one packet interval at {rate:g} packets/s" if rate else "one packet interval"
    return [
        "Route: switches crossed = switches whose table-0 counters (every packet entering a switch counts once) "
        "grew by at least K, the pings answered, echo requests and replies together (round trip); visits per round "
        "trip = the sum of round(growth / K) over them (c1 crossed on the way to and from an LMA counts twice); "
        "shortest = 2 x the switches on the shortest path between the two MAGs; stretch = visits / shortest.",
        "RTT (measured): ping between the Mininet hosts.  Links have no delay on this machine (no netem), so it is "
        "the cost of the userspace-datapath hops.  RTT MODEL: what the RTT would be with "
        f"{result.get('model_link_ms', MODEL_LINK_MS):g} ms one-way delay on every link (access links included) "
        "along the measured path, (visits + 2) x the delay: computed, not measured.",
        "LMA packets per round trip: growth of the (e)LMAs' table-0 counters during the pings / K.",
        "Handoff (benchmarks/handoff.py): lost = packets sent in the move's window (midpoint to midpoint between "
        "moves) never received; down = correspondent -> mn1, up = mn1 -> correspondent; L2 gap = uplink packets "
        "sent while the host's link was being moved (they never reach a switch); interruption = longest time "
        f"without an arrival in the window ({interval}, when nothing is lost); re-registration = move start until "
        "GET /epmip/v1/bindings/mn1 shows the new Proxy-CoA (polled every "
        f"{1000 * handoff.BINDING_POLL:g} ms); signalling = messages the controller's dispatcher sent from the move "
        "until it went quiet.  p95 by nearest rank (the maximum for fewer than 20 moves).",
        "A21: mn3 is attached to emag2, so every other move puts mn1 on mn3's MAG (emag1 -> emag2) and the next "
        "separates them again.",
        "LMA load: packets entering each (e)LMA (table-0 counters) from before the stream started until after it "
        "stopped, divided by the stream packets sent both ways (1.000 = every packet crosses that LMA once).",
        "·: routes are measured once per mode; the handoff buffer does not change them.",
        f"{ALT}: the draft's §7 deployment on examples/domain-alt.yaml (legacy MAGs, DAF in the LMAs, independent "
        "LMFs, border gateway and anycast routers with DRF; docs/deployments.md).  A22 there is mn1 (eLMA1) -> mn2 "
        "(eLMA3), A21 mn1 (eLMA1) -> mn3 (eLMA2): no two MNs share an eLMA.  A handoff moves mn1 between mag1 and "
        "mag2, whose nearest eLMAs differ: every move changes the serving eLMA (elma1 <-> elma2).  Its LMA rows "
        "name that domain's eLMAs: elma1 is mn1's first anchor in both domains.",
    ]  # fmt: skip


def text_report(result: Mapping, files: Sequence[Path] = ()) -> str:
    m = result.get("machine") or {}
    out = [
        "",
        f"epmip bench compare ({result.get('date')}): modes epmip, lr (RFC 6705), pmip (RFC 5213) on domain "
        f"{result.get('domain')}; {m.get('cpu')}, {m.get('cores')} cores, kernel {m.get('kernel')}, {m.get('ovs')}",
        "",
        text_table(result),
        "",
    ]  # fmt: skip
    out += [textwrap.fill(n, width=116, initial_indent="  ", subsequent_indent="    ") for n in notes(result)]
    if result.get("errors"):
        out.append(f"  ERRORS: {'; '.join(result['errors'])}")
    if files:
        out.append("  written: " + ", ".join(str(f) for f in files))
    return "\n".join(out)


def markdown(result: Mapping, images: Mapping[str, str]) -> str:
    """compare.md: the table, when and where it ran, and the plots (``images``: caption -> file name)."""
    m = result.get("machine") or {}
    out = [
        "# epmip vs RFC 6705 localized routing vs PMIPv6",
        "",
        f"Generated by `epmip bench compare --moves {result.get('moves')} --rate {result.get('rate_pps', 0):g}` "
        f"on {result.get('date')}.",
        "",
        f"* Machine: {m.get('cpu')}, {m.get('cores')} cores, kernel {m.get('kernel')}, {m.get('ovs')}, "
        "userspace datapath (no OVS kernel module, no netem).",
        f"* Domain: `{result.get('domain')}`, modes `epmip`, `lr` and `pmip`; handoff stream: UDP {SIZE}-byte "
        f"packets at {result.get('rate_pps', 0):g} packets/s each way, {result.get('moves')} moves "
        f"{result.get('interval_s', 0):g} s apart.",
        f"* Routes: {result.get('pings')} pings every {1000 * result.get('ping_interval_s', 0):g} ms per pair "
        "and mode.",
        "",
        markdown_table(result),
        "",
    ]  # fmt: skip
    out += [f"* {n}" for n in notes(result)]
    if result.get("errors"):
        out += ["", "**Errors:** " + "; ".join(result["errors"])]
    out.append("")
    for caption, name in images.items():
        out += [f"## {caption}", "", f"![{caption}]({name})", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _jitter(n: int, width: float = 0.3) -> list[float]:
    return [0.0] * n if n <= 1 else [-width / 2 + width * i / (n - 1) for i in range(n)]


def plot_loss(result: Mapping, path: Path) -> Path | None:
    """Packets lost per handoff per configuration: box plots with the moves as dots, downlink and
    uplink, one row per handoff pair."""
    pairs = [p for p in HANDOFF_PAIRS if (result.get("handoffs") or {}).get(p)]
    if not pairs:
        return None
    plt = _pyplot()
    labels = [config_label(m, b) for m, b in CONFIGS]
    fig, axes = plt.subplots(len(pairs), 2, figsize=(13, 4.2 * len(pairs)), squeeze=False, sharey=True)
    top = max((m[k] for runs in result["handoffs"].values() for h in runs.values() for m in h.get("moves", [])
               for k in ("downlink_lost", "uplink_lost")), default=1)  # fmt: skip
    for row, pair in enumerate(pairs):
        runs = result["handoffs"][pair]
        src, dst = _pair(pair)
        for col, (key, what) in enumerate((("downlink_lost", f"downlink {dst} -> {src}"),
                                           ("uplink_lost", f"uplink {src} -> {dst}"))):  # fmt: skip
            ax = axes[row][col]
            data = [[m[key] for m in (runs.get(label) or {}).get("moves", [])] for label in labels]
            ax.boxplot([d or [float("nan")] for d in data], positions=range(len(labels)), widths=0.55,
                       showfliers=False, medianprops={"color": "black"})  # fmt: skip
            for i, (d, (mode, _)) in enumerate(zip(data, CONFIGS, strict=True)):
                ax.scatter([i + j for j in _jitter(len(d))], d, s=14, alpha=0.7, color=MODE_COLOURS[mode], zorder=3)
                if not d:
                    ax.text(i, 0, "error" if "error" in (runs.get(labels[i]) or {}) else "n/a", ha="center")
            ax.set_xticks(range(len(labels)), labels, rotation=15)
            ax.set_ylabel("packets lost per handoff")
            ax.set_title(f"{pair}: {what}")
            ax.set_ylim(-0.3, 1.08 * top + 0.5)
            ax.tick_params(labelleft=True)
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Loss per handoff: dots = moves, boxes = quartiles ({result.get('moves')} moves, "
                 f"{result.get('rate_pps', 0):g} packets/s each way)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_routes(result: Mapping, path: Path) -> Path | None:
    """Measured RTT per mode for A21 and A22 (box plots) and switch visits per round trip against the
    shortest path (bars, stretch on top)."""
    routes = result.get("routes") or {}
    if not any(pair in routes.get(m, {}) for m in ROUTE_MODES for pair, _, _ in PAIRS):
        return None
    plt = _pyplot()
    fig, (ax_rtt, ax_hops) = plt.subplots(1, 2, figsize=(13, 4.6))
    width = len(ROUTE_MODES) + 1
    ticks, names = [], []
    for p, (pair, src, dst) in enumerate(PAIRS):
        shortest = None
        for m, mode in enumerate(ROUTE_MODES):
            x = p * width + m
            fig_ = routes.get(mode, {}).get(pair)
            if fig_ is None:
                ax_rtt.text(x, 0, "n/a", ha="center")
                continue
            colour = MODE_COLOURS[mode]
            box = ax_rtt.boxplot([fig_["rtt_ms"] or [float("nan")]], positions=[x], widths=0.6, showfliers=False,
                                 patch_artist=True, medianprops={"color": "black"})  # fmt: skip
            box["boxes"][0].set_facecolor(colour)
            box["boxes"][0].set_alpha(0.6)
            ax_hops.bar(x, fig_["visits_round_trip"], width=0.7, color=colour, alpha=0.8)
            ax_hops.text(x, fig_["visits_round_trip"] + 0.5, f"x{fig_['stretch']:.2f}", ha="center", fontsize=9)
            shortest = fig_["shortest_round_trip"]
        if shortest is not None:
            ax_hops.hlines(shortest, p * width - 0.45, p * width + len(ROUTE_MODES) - 0.55, colors="black",
                           linestyles="dashed", label="shortest path" if p == 0 else None)  # fmt: skip
        ticks.append(p * width + (len(ROUTE_MODES) - 1) / 2)
        names.append(f"{pair}: {src} -> {dst}")
    for ax in (ax_rtt, ax_hops):
        ax.set_xticks(ticks, names)
        ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=MODE_COLOURS[m], alpha=0.7) for m in ROUTE_MODES]
    ax_rtt.legend(handles, ROUTE_MODES, loc="lower right")
    ax_rtt.set_ylabel("RTT ms (measured, links without delay)")
    ax_rtt.set_ylim(bottom=0)
    ax_rtt.set_title(f"Ping RTT ({result.get('pings')} pings per pair and mode; whiskers 1.5 IQR)")
    ax_hops.legend([*handles, plt.Line2D([], [], color="black", linestyle="dashed")], [*ROUTE_MODES, "shortest"],
                   loc="upper left")  # fmt: skip
    ax_hops.set_ylim(0, 1.3 * max(ax_hops.get_ylim()[1], 1))
    ax_hops.set_ylabel("switch visits per round trip")
    ax_hops.set_title("Route length from flow counters (stretch on top)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_timeline(result: Mapping, pair: str, path: Path) -> Path | None:
    """Sequence numbers around one handoff per configuration (a row each; downlink and uplink side by
    side): received packets at their arrival time, lost ones at their send time; lines at the move,
    the re-attachment and the new binding."""
    runs = (result.get("handoffs") or {}).get(pair) or {}
    candidates = [(config_label(m, b), runs.get(config_label(m, b))) for m, b in CONFIGS]
    panels = [(label, h) for label, h in candidates if h is not None and "timeline" in h]
    if not panels:
        return None
    plt = _pyplot()
    src, dst = _pair(pair)
    fig, axes = plt.subplots(len(panels), 2, figsize=(13, 2.6 * len(panels) + 1.2), squeeze=False, sharex=True)
    for row, (label, h) in enumerate(panels):
        t = h["timeline"]
        for col, (direction, what) in enumerate((("downlink", f"{dst} -> {src}"), ("uplink", f"{src} -> {dst}"))):
            ax = axes[row][col]
            got, lost = t[direction]["received"], t[direction]["lost"]
            ax.scatter([x for x, _ in got], [y for _, y in got], s=5, color=MODE_COLOURS[h.get("mode") or "epmip"],
                       label="received (at arrival)")  # fmt: skip
            if lost:
                ax.scatter([x for x, _ in lost], [y for _, y in lost], s=24, color="tab:red", marker="x",
                           label="lost (at send time)")  # fmt: skip
            ax.axvline(0, color="black", linewidth=1.2, label="move begins (link cut)")
            if t.get("attached_ms") is not None:
                ax.axvline(t["attached_ms"], color="grey", linestyle="--", label="link re-attached")
            if t.get("bound_ms") is not None:
                ax.axvline(t["bound_ms"], color="tab:purple", linestyle=":", label="new binding seen (REST)")
            ax.set_title(f"{label}, {direction} {what}: move {t['move']} {t['from']} -> {t['to']}, "
                         f"{t[f'{direction}_lost']} lost", fontsize=10)  # fmt: skip
            ax.set_ylabel("seq - seq at move")
            ax.grid(alpha=0.3)
    for col in range(2):
        axes[-1][col].set_xlabel("ms since the move began")
        axes[-1][col].set_xlim(-1000 * TIMELINE_BEFORE_S, 1000 * TIMELINE_AFTER_S)
    legend: dict[str, object] = {}  # label -> handle, over all panels (not every panel has losses)
    for ax in axes.flat:
        handles, names = ax.get_legend_handles_labels()
        for handle, name in zip(handles, names, strict=True):
            legend.setdefault(name, handle)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=5, markerscale=2)
    fig.suptitle(f"{pair}: {src} <-> {dst}, {result.get('rate_pps', 0):g} packets/s each way, around one typical "
                 "handoff (median loss) per configuration")  # fmt: skip
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(result: Mapping, out_dir: Path) -> list[Path]:
    """compare_*.png, compare.json (without the timelines) and compare.md in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    plots = [
        ("Loss per handoff", plot_loss, "compare_loss.png"),
        ("Routes: RTT and length", plot_routes, "compare_routes.png"),
        *[(f"Timeline around a handoff ({pair})", lambda r, p, pair=pair: plot_timeline(r, pair, p),
           f"compare_timeline_{pair.lower()}.png") for pair in HANDOFF_PAIRS],
    ]  # fmt: skip
    files: list[Path] = []
    for caption, plot, name in plots:
        if plot(result, out_dir / name) is not None:
            images[caption] = name
            files.append(out_dir / name)
    data = out_dir / "compare.json"
    data.write_text(json.dumps(analysis.json_ready(without_timelines(result)), indent=1, allow_nan=False) + "\n")
    md = out_dir / "compare.md"
    md.write_text(markdown(result, images))
    return [md, data, *files]


def without_timelines(result: Mapping) -> dict:
    out = dict(result)
    out["handoffs"] = {
        pair: {label: {k: v for k, v in h.items() if k != "timeline"} for label, h in runs.items()}
        for pair, runs in (result.get("handoffs") or {}).items()
    }
    return out


# --------------------------------------------------------------------------- the runs


def machine_info() -> dict:
    cpu = analysis.cpu_model()
    try:
        ovs = subprocess.run(["ovs-vswitchd", "--version"], capture_output=True, text=True, timeout=5).stdout
        ovs = ovs.splitlines()[0].strip() if ovs.strip() else "Open vSwitch (version unknown)"
    except (OSError, subprocess.SubprocessError):
        ovs = "Open vSwitch (version unknown)"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "ovs": ovs,
            "python": platform.python_version()}  # fmt: skip


def _route_session(base: str, mode: str, pings: int, logs: Path, say: Say) -> dict:
    from mininet_topos.harness import Controller, Network, settled_table_packets

    domain_file = domain_for(base, mode, "off")
    try:
        domain = load_domain(domain_file)
        topo = Topology(domain)
        bridges = list(domain.switches)
        ctl = Controller(domain_file, logs / f"route-{mode}")
        ctl.start()
        net = None
        out: dict = {}
        try:
            net = Network(domain_file, ctl)
            net.start()
            hosts = sorted({h for _, a, b in PAIRS for h in (a, b)})
            addrs = net.wait_addresses(hosts, timeout=handoff.ADDRESS_TIMEOUT)
            for pair, src, dst in PAIRS:
                host = net.host(src)
                host.cmd(f"ping -6 -c {WARMUP_PINGS} -i 0.1 -W 1 {addrs[dst]}")
                time.sleep(ESTABLISH_S)
                before = settled_table_packets(bridges)
                text = host.cmd(f"ping -6 -c {pings} -i {PING_INTERVAL} -W 1 {addrs[dst]}")
                after = settled_table_packets(bridges)
                _, model = ctl.get(f"/epmip/v1/paths?src={src}&dst={addrs[dst]}")
                shortest = topo.path(net.attachment(src), net.attachment(dst))
                fig = route_figures(before, after, text, shortest, lma_names(domain), model.get("switches"))
                out[pair] = {"src": src, "dst": dst, **fig}
                say(f"  route {mode} {pair} {src} -> {dst}: {fig['visits_round_trip']} switch visits per round "
                    f"trip (shortest {fig['shortest_round_trip']}), RTT median {_num(fig['rtt_median_ms'], 3)} ms, "
                    f"{fig['pings_received']}/{fig['pings_sent']} answered")  # fmt: skip
        finally:
            if net is not None:
                net.stop()
            ctl.stop()
    finally:
        shutil.rmtree(Path(domain_file).parent, ignore_errors=True)
    return out


def _handoff_session(base: str, mode: str, buffer: str, peer: str, moves: int, rate: float, interval: float,
                     logs: Path, say: Say) -> dict:  # fmt: skip
    domain_file = domain_for(base, mode, buffer)
    try:
        lmas = lma_names(load_domain(domain_file))
        result = handoff._run(domain_file, moves, rate, interval, SIZE, "mn1", peer,
                              str(logs / f"handoff-{peer}-{config_label(mode, buffer)}"), say,
                              keep_records=True, count_switches=lmas)  # fmt: skip
    finally:
        shutil.rmtree(Path(domain_file).parent, ignore_errors=True)
    return handoff_summary(result, lmas)


def _indenting(say: Say) -> Say:
    """A ``say`` for handoff._run's progress lines: indented, continuation pieces (end='') kept."""
    at_start = [True]

    def inner(text: str, end: str = "\n") -> None:
        say(("    " if at_start[0] else "") + text, end=end)
        at_start[0] = end.endswith("\n")

    return inner


def _log_failure(logs: Path, what: str, say: Say) -> None:
    """Say that a part failed and keep its traceback in the run's log directory."""
    exc = sys.exc_info()[1]
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "errors.log", "a") as fh:
        fh.write(f"--- {what}\n{traceback.format_exc()}\n")
    say(f"  {what}: error: {exc} (traceback in {logs / 'errors.log'})")


def collect(moves: int, rate: float, interval: float, config: str, say: Say, only: Sequence[str] = ()) -> dict:
    """Run every part (``only``: the columns of these modes, e.g. ``lma_daf``); the result dict
    (``errors`` lists the parts that failed)."""
    from mininet_topos.harness import HarnessError, ensure_ovs

    if os.geteuid() != 0:
        raise CompareError("needs root (Open vSwitch and Mininet)")
    ensure_ovs()
    domain = load_domain(config)
    logs = ROOT / "var" / "logs" / datetime.now().strftime("bench-compare-%Y%m%d-%H%M%S")
    result: dict = {
        "benchmark": "compare", "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(), "domain": os.path.relpath(config, ROOT) if config.startswith(str(ROOT)) else config,
        "moves": moves, "rate_pps": rate, "interval_s": interval, "size_bytes": SIZE,
        "pings": PINGS, "ping_interval_s": PING_INTERVAL, "model_link_ms": MODEL_LINK_MS,
        "lmas": list(dict.fromkeys(lma_names(domain) + lma_names(load_domain(str(ALT_DOMAIN))))),
        "routes": {}, "handoffs": {}, "errors": [], "logs": str(logs),
    }  # fmt: skip
    failures = (CompareError, handoff.BenchError, HarnessError, subprocess.SubprocessError, OSError, ValueError)
    route_modes = [m for m in ROUTE_MODES if not only or m in only]
    for i, mode in enumerate(route_modes, 1):
        say(f"[route {i}/{len(route_modes)}] mode {mode}: ping A21 and A22, flow counters ...")
        try:
            result["routes"][mode] = _route_session(config, mode, PINGS, logs, say)
        except failures as exc:
            _log_failure(logs, f"route {mode}", say)
            result["routes"][mode] = {"error": str(exc)}
            result["errors"].append(f"route {mode}: {exc}")
    runs = [(pair, mode, buffer) for pair in HANDOFF_PAIRS for mode, buffer in CONFIGS if not only or mode in only]
    for i, (pair, mode, buffer) in enumerate(runs, 1):
        label = config_label(mode, buffer)
        peer = _pair(pair)[1]
        say(f"[handoff {i}/{len(runs)}] {pair} (mn1 <-> {peer}) {label}: {moves} moves at {rate:g} packets/s ...")
        try:
            h = _handoff_session(config, mode, buffer, peer, moves, rate, interval, logs, _indenting(say))
        except failures as exc:
            _log_failure(logs, f"handoff {pair} {label}", say)
            h = {"error": str(exc)}
            result["errors"].append(f"handoff {pair} {label}: {exc}")
        else:
            s = h["summary"]
            say(f"  lost per handoff down {_med_p95(s, 'downlink_lost')}, up {_med_p95(s, 'uplink_lost')} "
                f"(median / p95); LMA load {h['lma_load']}")  # fmt: skip
        result["handoffs"].setdefault(pair, {})[label] = h
    return result


def run(moves: int = 10, rate: float = 500.0, json_out: bool = False, out_dir: str | None = None,
        config: str | None = None, interval: float = 2.0, only: Sequence[str] = ()) -> int:  # fmt: skip
    """Run the comparison, write the outputs, print the table (or one JSON object).  Exit status."""
    from mininet_topos.harness import HarnessError

    progress = sys.stderr if json_out else sys.stdout

    def say(text: str, end: str = "\n") -> None:
        print(text, end=end, file=progress, flush=True)

    started = time.monotonic()

    def work() -> tuple[dict, list[Path]]:
        handoff._check_args(moves, rate, interval, SIZE)
        unknown = sorted(set(only) - set(ROUTE_MODES))
        if unknown:
            raise CompareError(f"--only {','.join(unknown)}: expected some of {', '.join(ROUTE_MODES)}")
        result = collect(moves, rate, interval, str(Path(config or handoff.DEFAULT_DOMAIN).resolve()), say, only)
        return result, write_outputs(result, Path(out_dir) if out_dir else DEFAULT_OUT)

    done, status = handoff.run_guarded(
        "compare", "compare", json_out, (CompareError, handoff.BenchError, HarnessError), work
    )
    if status is not None:
        return status
    result, files = done
    say(f"done in {time.monotonic() - started:.0f} s")
    if json_out:
        handoff.print_json(without_timelines(result))
    else:
        print(text_report(result, files), flush=True)
    return 1 if result["errors"] else 0


def run_controllers(counts: str, moves: int = 10, rate: float = 500.0, json_out: bool = False,
                    out_dir: str | None = None, config: str | None = None, interval: float = 2.0) -> int:  # fmt: skip
    """``--controllers 1,3``: the handoff comparison of one controller and a split domain
    (``benchmarks/controllers.py``).  Exit status."""
    from benchmarks import controllers
    from mininet_topos.harness import HarnessError

    progress = sys.stderr if json_out else sys.stdout

    def say(text: str, end: str = "\n") -> None:
        print(text, end=end, file=progress, flush=True)

    def work() -> tuple[dict, list[Path]]:
        handoff._check_args(moves, rate, interval, SIZE)
        result = controllers.run_counts(controllers.parse_counts(counts), moves, rate, interval,
                                        str(Path(config or handoff.DEFAULT_DOMAIN).resolve()), say)  # fmt: skip
        return result, controllers.write(result, Path(out_dir) if out_dir else DEFAULT_OUT)

    errors = (controllers.ControllersError, handoff.BenchError, HarnessError)
    done, status = handoff.run_guarded("compare", "compare-controllers", json_out, errors, work)
    if status is not None:
        return status
    result, files = done
    if json_out:
        handoff.print_json(result)
    else:
        print(controllers.table(result))
        say("wrote " + ", ".join(str(f) for f in files))
    return 0
