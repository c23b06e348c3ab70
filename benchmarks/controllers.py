"""``epmip bench compare --controllers 1,3``: the same handoffs with the domain in one controller
process and split over several (``controllers:``, one instance per (e)LMA: ``split_by_anchor``).

mn1 moves back and forth between its eMAG and an eMAG of another eLMA's region (reference
domain: emag1 <-> emag3) under a two-way UDP stream with mn2 (A22), with ``benchmarks.handoff``'s
run.  Split over instances, that move crosses them: the PBU goes from emag3's instance to elma1's,
the PBCIs to emag1's and emag4's.  Per configuration: loss and interruption each way, the time
from the move to the correspondent's DRF re-pointed (``handoff_reroute``: the PBCI carries the
attach time), re-registration, and the signalling per handoff (messages, and bytes as counted on
the bus - msgpack records; between instances they travel as Mobility Headers, docs/signalling-wire.md).

Writes ``compare_controllers.md`` and ``compare_controllers.json`` to ``--out`` (default
``docs/results``).  Needs root (Open vSwitch, Mininet).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from benchmarks import analysis, handoff
from controller.config import Domain, load_domain

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64
PEER = "mn2"
MOBILE = "mn1"
ROWS = (
    ("downlink_lost", "downlink lost (packets)"),
    ("downlink_interruption_ms", "downlink interruption (ms)"),
    ("uplink_lost", "uplink lost (packets)"),
    ("uplink_interruption_ms", "uplink interruption (ms)"),
    ("registration_ms", "move -> binding at the new eMAG (ms)"),
    ("reroute_ms", "attach -> correspondent re-pointed (ms)"),
    ("signalling_total", "signalling messages per handoff"),
    ("signalling_bytes", "signalling bytes per handoff"),
)


class ControllersError(RuntimeError):
    pass


def parse_counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ControllersError(f"--controllers {text!r}: expected numbers such as 1,3") from None
    if not counts or any(n < 1 for n in counts):
        raise ControllersError(f"--controllers {text!r}: expected numbers >= 1 such as 1,3")
    return counts


def between_regions(domain: Domain, mobile: str) -> tuple[str, str]:
    """The mobile node's eMAG and the first eMAG whose default LMA is another one."""
    home = domain.switches[domain.mobile_nodes[mobile].attach]
    for sw in domain.switches.values():
        if sw.role == "emag" and sw.lma not in (None, home.lma):
            return home.name, sw.name
    raise ControllersError(f"no eMAG of another (e)LMA's region than {home.name}'s: nowhere to move {mobile}")


def run_counts(counts: list[int], moves: int, rate: float, interval: float, config: str, say) -> dict:
    from mininet_topos.harness import split_by_anchor

    domain = load_domain(config)
    regions = len([s for s in domain.switches.values() if s.is_lma])
    for n in counts:
        if n not in (1, regions):
            raise ControllersError(f"--controllers {n}: this domain splits into 1 or {regions} instances "
                                   f"(one per (e)LMA)")  # fmt: skip
    emags = between_regions(domain, MOBILE)
    logs = ROOT / "var" / "logs" / datetime.now().strftime("bench-controllers-%Y%m%d-%H%M%S")
    results = {}
    for n in counts:
        say(f"== {n} controller instance(s): {MOBILE} {emags[0]} <-> {emags[1]}, peer {PEER}")
        split = split_by_anchor(domain) if n > 1 else None
        domain_file = handoff._override(config, mode="epmip", handoff_buffer="off", controllers=split)
        try:
            result = handoff._run(domain_file, moves, rate, interval, SIZE, MOBILE, PEER,
                                  str(logs / f"controllers-{n}"), say, emags=emags)  # fmt: skip
        finally:
            shutil.rmtree(Path(domain_file).parent, ignore_errors=True)
        rows = result["moves"]
        summary = analysis.summarize(rows, [key for key, _ in ROWS])
        results[str(n)] = {"summary": summary, "moves": rows, "errors": result["controller"]["errors"],
                           "placement": split}  # fmt: skip
    return {
        "benchmark": "compare-controllers", "config": config, "mobile_node": MOBILE, "correspondent": PEER,
        "emags": list(emags), "moves": moves, "rate_pps": rate, "interval_s": interval, "size_bytes": SIZE,
        "results": results,
    }  # fmt: skip


def table(result: dict) -> str:
    counts = list(result["results"])
    head = "| per handoff (median / p95) | " + " | ".join(f"{n} instance(s)" for n in counts) + " |"
    lines = [head, "|---|" + "---|" * len(counts)]
    for key, label in ROWS:
        cells = []
        for n in counts:
            s = result["results"][n]["summary"][key]
            cells.append(f"{_num(s['median'])} / {_num(s['p95'])}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    errors = {n: r["errors"] for n, r in result["results"].items() if r["errors"]}
    text = "\n".join(lines)
    if errors:
        text += f"\n\nerrors reported by the controllers: {errors}"
    return text


def _num(x) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"


def write(result: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    md = out / "compare_controllers.md"
    js = out / "compare_controllers.json"
    md.write_text(
        f"# Controller instances: {' vs '.join(result['results'])}\n\n"
        f"{result['moves']} handoffs of {result['mobile_node']} between {' and '.join(result['emags'])} "
        f"(two eLMA regions) under UDP {result['size_bytes']} bytes at {result['rate_pps']:g} packets/s each way "
        f"with {result['correspondent']}, {result['interval_s']:g} s apart (`epmip bench compare --controllers`).\n\n"
        f"{table(result)}\n"
    )  # fmt: skip
    js.write_text(json.dumps(analysis.json_ready(result), indent=1, allow_nan=False) + "\n")
    return [md, js]
