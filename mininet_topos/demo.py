"""``epmip demo``: the reference domain, for real, in about half a minute.

Starts Open vSwitch, the controller (epmip-manager) and the Mininet topology of the domain file,
lets the mobile nodes register, runs traffic between them, prints the bindings and the path each
flow takes (with the packets the anchors' flows counted), moves a mobile node to another (e)MAG
under a running ping, reports what happened, and stops everything it started.
"""

from __future__ import annotations

import ipaddress
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from mininet_topos.harness import ROOT, Controller, Network, UdpStream, dump_flows, ensure_ovs, wait_for
from openflow_rules.pipeline import Fn, Table

DEFAULT = ROOT / "examples" / "domain.yaml"


class Steps:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.n = 0

    def __call__(self, text: str) -> None:
        self.n += 1
        print(f"\n[{time.monotonic() - self.t0:5.1f}s] {self.n}. {text}", flush=True)


def table(rows: Sequence[Sequence[object]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join("   " + x for x in out)


def anchor_packets(net: Network) -> dict[str, int]:
    """Packets counted so far by each (e)LMA's binding flows and tunnel-end flow."""
    counts = {}
    for name, sw in net.domain.switches.items():
        if sw.is_lma:
            flows = dump_flows(name)
            counts[name] = sum(
                f["n_packets"]
                for f in flows
                if (f["cookie"] >> 48) & 0xFF == Fn.BINDING
                or (f["table"] == Table.LABEL and "pop_mpls" in f["actions"])
            )
    return counts


def run_demo(config: str | None = None, log_dir: str | None = None) -> int:
    domain_file = str(config or DEFAULT)
    logs = Path(log_dir) if log_dir else ROOT / "var" / "logs" / datetime.now().strftime("demo-%Y%m%d-%H%M%S")
    step = Steps()
    step("Open vSwitch (userspace datapath)")
    ensure_ovs()
    print("   ovs-vswitchd is running")
    step(f"controller: epmip-manager --epmip-config {domain_file} (log: {logs}/controller.log)")
    ctl = Controller(domain_file, logs)
    ctl.start()
    print(f"   OpenFlow on 127.0.0.1:{ctl.of_port}, REST on http://127.0.0.1:{ctl.rest_port}/epmip/v1/")
    net = None
    try:
        net = Network(domain_file, ctl)
        d = net.domain
        step(f"Mininet: {len(d.switches)} switches, {len(d.mobile_nodes)} mobile and {len(d.fixed_nodes)} fixed hosts")
        net.start()
        mns = list(d.mobile_nodes)
        addrs = net.wait_addresses(mns, timeout=30)
        for fn in d.fixed_nodes.values():
            addrs[fn.name] = str(fn.address)
        step("registration (RFC 5213 / draft §4.1): PBU -> (e)LMA, PBA, RA with the HNP, SLAAC on the host")
        _, body = ctl.get("/epmip/v1/bindings")
        rows = []
        for b in sorted(body["bindings"], key=lambda b: b["mn_id"]):
            coa_sw = d.switch_by_address(ipaddress.IPv6Address(b["proxy_coa"]))
            coa = f"{coa_sw.name} ({b['proxy_coa']})" if coa_sw else b["proxy_coa"]
            rows.append([b["mn_id"], b["lma"], b["hnps"][0], addrs[b["mn_id"]], coa])
        print(table(rows, ["MN", "(e)LMA", "HNP", "address (SLAAC)", "Proxy-CoA"]))

        step("traffic: first packets (ping6 x5), then 10 more once the route is set up")
        pairs = [("mn1", "mn2", "A22: different eLMAs"), ("mn1", "mn3", "A21: same eLMA"),
                 ("mn1", "cn1", "fixed CN (§5.2)"), ("mn2", "cn2", "CN on a legacy LMA (§5.1)")]  # fmt: skip
        if d.deployment == "lma_daf":  # §7: eLMA(DRF)s, a border gateway, anycast routers
            pairs = [("mn1", "mn2", "§7.2: eLMA1 <-> eLMA3"), ("mn1", "mn3", "§7.2: eLMA1 <-> eLMA2"),
                     ("mn1", "cno", "§7.3: CN outside, via BG"), ("cna", "mn1", "§7.3: fixed CN, nearest router"),
                     ("cnb", "mn1", "§7.3: fixed CN, nearest router")]  # fmt: skip
        rows = []
        for src, dst, label in pairs:
            if src not in addrs or dst not in addrs:
                continue
            _, s0 = ctl.get("/epmip/v1/stats")
            sent, recv = net.ping6(src, addrs[dst], count=5, interval=0.1)
            _, s1 = ctl.get("/epmip/v1/stats")
            queries = s1["messages"].get("PBQR", 0) - s0["messages"].get("PBQR", 0)
            time.sleep(1.2)  # OVS refreshes flow counters about every 0.5 s
            before = anchor_packets(net)
            sent2, recv2 = net.ping6(src, addrs[dst], count=10, interval=0.05)
            time.sleep(1.2)
            after = anchor_packets(net)
            via = ", ".join(f"{k}:+{after[k] - before[k]}" for k in after if after[k] > before[k]) or "none"
            _, path = ctl.get(f"/epmip/v1/paths?src={src}&dst={addrs[dst]}")
            rows.append([f"{src}->{dst}", label, f"{recv}/{sent}, {recv2}/{sent2}", f"{queries} PBQR",
                         " > ".join(path.get("switches", [])), via])  # fmt: skip
        print(table(rows, ["flow", "case", "replies", "queries", "path now (uplink)", "anchor packets (next 10)"]))
        if d.deployment == "lma_daf":
            print("   (§7: the MAGs tunnel to their eLMA(DRF)s, which tunnel to each other; the anchor packets are")
            print("    those two eLMAs' - no third anchor; a fixed CN's traffic enters at its nearest anycast router)")
        else:
            print("   (a path that starts and ends at eMAGs with no (e)LMA in it is a DRF direct tunnel, §4.2)")

        what = (
            "(§7.2): mn1 moves to a MAG of another eLMA(DRF)"
            if d.deployment == "lma_daf"
            else "(§4.3): mn1 moves to another eMAG"
        )
        step(f"handoff {what} under a UDP stream mn1 <-> mn2, 200 packets/s each way")
        old = net.attachment("mn1")
        target = next(s for s in d.switches.values() if s.is_mag and s.name != old and s.lma == d.switches[old].lma)
        with tempfile.TemporaryDirectory(prefix="epmip-demo-") as tmp:
            stream = UdpStream(net, "mn1", "mn2", rate=200, seconds=3, tmp=Path(tmp))
            time.sleep(1.0)
            _, stats_before = ctl.get("/epmip/v1/stats")
            t_move = time.monotonic()
            port = net.move("mn1", target.name)
            wait_for(lambda: ctl.get("/epmip/v1/bindings/mn1")[1].get("proxy_coa") == str(target.address),
                     10, "mn1's binding to point at the new MAG")  # fmt: skip
            t_bound = time.monotonic()
            records = stream.finish()
        down_lost, down_gap = stream.figures(records["mn1"])
        up_lost, up_gap = stream.figures(records["mn2"])
        _, stats_after = ctl.get("/epmip/v1/stats")
        _, bce = ctl.get("/epmip/v1/bindings/mn1")
        msgs_before, msgs_after = stats_before["messages"], stats_after["messages"]
        delta = {k: msgs_after.get(k, 0) - msgs_before.get(k, 0) for k in msgs_after}
        print(f"   moved mn1: {old} -> {target.name} (port {port}); the host sent no RS")
        print(f"   binding now: CoA {bce['proxy_coa']} ({target.name}), previous CoA {bce['previous_coa']}, "
              f"HNP {bce['hnps'][0]} (unchanged), address {net.global_address('mn1')}")  # fmt: skip
        print(f"   re-registration {1000 * (t_bound - t_move):.0f} ms after the link was cut (seen over REST)")
        print(table([["downlink mn2 -> mn1", stream.count, down_lost, f"{down_gap:.0f}"],
                     ["uplink   mn1 -> mn2", stream.count, up_lost, f"{up_gap:.0f}"]],
                    ["direction", "sent", "lost", "longest gap ms"]))  # fmt: skip
        print("   (the gap is the time the host's link is away while Mininet moves it; PLATFORM.md)")
        print("   signalling: " + (", ".join(f"{k} x{v}" for k, v in delta.items() if v) or "none"))
        peer_drf = "emag4" if d.deployment != "lma_daf" else ctl.get("/epmip/v1/bindings/mn2")[1]["lma"]
        _, drf = ctl.get(f"/epmip/v1/switches/{peer_drf}/drf")
        to = [t["to"] for t in drf["tunnels"] if t["mn_id"] == "mn2" and t["correspondent"] == bce["hnps"][0]]
        print(f"   {peer_drf} (mn2's DRF) now tunnels mn2's traffic for mn1 straight to: {', '.join(to) or '-'}")
        _, path = ctl.get(f"/epmip/v1/paths?src=mn1&dst={addrs['mn2']}")
        print(f"   mn1 -> mn2 path now: {' > '.join(path.get('switches', []))}")

        step("controller statistics")
        _, stats = ctl.get("/epmip/v1/stats")
        print(table([[k, v] for k, v in stats["messages"].items()], ["message", "count"]))
        errors = {k: v for k, v in stats["events"].items() if "error" in k}
        print(f"   events: {stats['events']}")
        if errors:
            print(f"   ERRORS: {errors}")
    finally:
        step("stopping Mininet and the controller")
        if net is not None:
            net.stop()
        ctl.stop()
        left = [b for b in _bridges() if net is not None and b in net.domain.switches]
        running = ctl.proc is not None and ctl.proc.poll() is None
        print(f"   left behind: {len(left)} bridges, controller running: {running}")
    print(f"\nDone in {time.monotonic() - step.t0:.1f}s.  Controller log: {ctl.log_path}")
    return 0


def _bridges() -> list[str]:
    return subprocess.run(["ovs-vsctl", "list-br"], capture_output=True, text=True).stdout.split()
