"""``epmip bench discovery``: the three ways a DRF finds the LMF (§4.4.1 configuration, §4.4.2
Hop-by-Hop, §4.4.3 relay between eLMAs), side by side on the reference topology.

For each method a fresh controller and network; mn1 sends one ping to each correspondent (an MN
on another eLMA, a fixed CN behind the access router, a CN on a legacy LMA); reported per case:
the DRF's decision (direct tunnel to where, or fallback), the time from the first packet to that
decision as seen over REST (polled every 5 ms), the controller's query latency (PBQR sent -> PBQA
in), and the signalling messages it took.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.analysis import text_table
from mininet_topos.harness import ROOT, Controller, Network, ensure_ovs

EXAMPLE = ROOT / "examples" / "domain.yaml"
METHODS = ("config", "hbh", "relay")
CASES = (("mn2", "MN on another eLMA (A22)"), ("cn1", "fixed CN (§5.2)"), ("cn2", "CN on a legacy LMA (§5.1)"))


def _decision(ctl: Controller, prefix: str) -> tuple[str, str | None] | None:
    _, body = ctl.get("/epmip/v1/switches/emag1/drf")
    for t in body["tunnels"]:
        if t["mn_id"] == "mn1" and t["correspondent"] == prefix:
            return t["kind"], t["to"]
    return None


def _one_method(method: str, config: Path, say) -> list[dict]:
    doc = yaml.safe_load(config.read_text())
    doc["lmf_discovery"] = method
    rows = []
    with tempfile.TemporaryDirectory(prefix="epmip-bench-") as tmp:
        domain_file = Path(tmp) / "domain.yaml"
        domain_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        ctl = Controller(str(domain_file), ROOT / "var" / "logs" / f"bench-discovery-{method}")
        ctl.start()
        net = None
        try:
            net = Network(str(domain_file), ctl)
            net.start()
            addrs = net.wait_addresses(["mn1", "mn2", "cn2"], timeout=30)
            addrs["cn1"] = str(net.domain.fixed_nodes["cn1"].address)
            for target, label in CASES:
                say(f"{method}: mn1 -> {target} ...")
                prefix = str(ipaddress.IPv6Network(f"{addrs[target]}/64", strict=False))
                _, s0 = ctl.get("/epmip/v1/stats")
                t0 = time.monotonic()
                net.host("mn1").cmd(f"ping -6 -c 1 -W 1 {addrs[target]} >/dev/null &")
                decision = None
                while decision is None and time.monotonic() - t0 < 10:
                    decision = _decision(ctl, prefix)
                    time.sleep(0.005)
                elapsed = time.monotonic() - t0
                _, s1 = ctl.get("/epmip/v1/stats")
                msgs = {k: v - s0["messages"].get(k, 0) for k, v in s1["messages"].items()}
                lq0 = s0["latency"].get("location_query", {}).get("count", 0)
                lq = s1["latency"].get("location_query", {})
                rows.append({
                    "method": method, "case": label, "target": target,
                    "decision": f"{decision[0]} {decision[1] or ''}".strip() if decision else "none",
                    "first_packet_to_decision_ms": round(1000 * elapsed, 1),
                    "query_latency_ms": round(lq["last_ms"], 2) if lq.get("count", 0) > lq0 else None,
                    "messages": {k: v for k, v in msgs.items() if v},
                })  # fmt: skip
                time.sleep(0.5)
        finally:
            if net is not None:
                net.stop()
            ctl.stop()
    return rows


def run(json_out: bool = False, config: str | None = None) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr if json_out else sys.stdout, flush=True)

    ensure_ovs()
    rows = []
    for method in METHODS:
        rows += _one_method(method, Path(config) if config else EXAMPLE, say)
    if json_out:
        print(json.dumps({"rows": rows}))
        return 0
    print()
    print(text_table(
        ["method", "correspondent", "decision", "first packet -> decision ms", "query ms", "messages"],
        [[r["method"], r["case"], r["decision"], r["first_packet_to_decision_ms"],
          r["query_latency_ms"] if r["query_latency_ms"] is not None else "-",
          ", ".join(f"{k} {v}" for k, v in sorted(r["messages"].items())) or "none"] for r in rows],
    ))  # fmt: skip
    print("\n  first packet -> decision: from the ping until GET /epmip/v1/switches/emag1/drf shows the")
    print("  DRF's entry (polled every 5 ms, so it includes REST round trips); query ms: the controller's")
    print("  own PBQR-sent to PBQA-received time (Hop-by-Hop: through the real data plane).")
    return 0
