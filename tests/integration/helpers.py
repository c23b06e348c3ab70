"""Helpers shared by the integration tests: flow counters, DRF state over REST."""

from __future__ import annotations

import time

from mininet_topos.harness import dump_flows
from openflow_rules.pipeline import Fn, Table


def assert_no_controller_errors(stats: dict, ctl, who: str = "controller") -> None:
    """After a test: no switch reported an OpenFlow error and no controller handler failed."""
    events = stats["events"]
    assert events.get("openflow_errors", 0) == 0, f"{who}: switches reported OpenFlow errors: {ctl.tail()}"
    assert events.get("handler_errors", 0) == 0, f"{who}: a handler failed: {ctl.tail()}"


def show_log_tail(ctl, lines: int, who: str = "controller") -> None:
    """The end of a controller's log, printed for a failed test."""
    print(f"\n--- {who} log tail ({ctl.log_path}) ---\n{ctl.tail(lines)}")


def anchor_packets(switch: str) -> int:
    """Packets an (e)LMA handled as an anchor: tunnel ends (pop) and binding flows."""
    return sum(
        f["n_packets"]
        for f in dump_flows(switch)
        if (f["table"] == Table.LABEL and "pop_mpls" in f["actions"]) or (f["cookie"] >> 48) & 0xFF == Fn.BINDING
    )


def fn_packets(switch: str, fn: Fn) -> int:
    return sum(f["n_packets"] for f in dump_flows(switch) if (f["cookie"] >> 48) & 0xFF == fn)


def settled(read, quiet: float = 1.2, timeout: float = 6.0) -> int:
    """Read a counter until it stops changing for ``quiet`` seconds (OVS updates stats lazily)."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return value
    return value


def tunnels(live, switch: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    _, body = live.rest(f"/epmip/v1/switches/{switch}/drf")
    return {(t["mn_id"], t["correspondent"]): (t["kind"], t["to"]) for t in body["tunnels"]}


def hnp(live, mn: str) -> str:
    return live.rest(f"/epmip/v1/bindings/{mn}")[1]["hnps"][0]


def iperf_server(host, port: int, timeout: float = 5.0) -> None:
    """A one-shot iperf3 server on ``host`` (a Mininet host) listening on ``port`` when this returns:
    an earlier one-shot server on the port has finished first (a second daemon could not bind, and
    the client would then meet a closed port), and the new one is waited for instead of a fixed sleep."""

    def listening() -> bool:
        return bool(host.cmd(f"ss -Hltn 'sport = :{port}'").strip())

    deadline = time.monotonic() + timeout
    while listening() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not listening(), f"an earlier iperf3 server still holds port {port} on {host.name}"
    host.cmd(f"iperf3 -s -1 -D -p {port} --logfile /dev/null")
    while not listening() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listening(), f"iperf3 server on {host.name} port {port} did not start"
