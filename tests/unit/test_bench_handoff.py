"""benchmarks/handoff.py without Mininet: the orchestration against a fake controller and network
whose hosts run udpstream.py over loopback (::1), the report, and the ``epmip bench`` wiring."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from apps import cli
from benchmarks import handoff
from controller.config import load_domain
from mininet_topos import harness

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "domain.yaml"
REG_DELAY = 0.03  # the fake controller shows the new binding this long after a move


def _free_udp6_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def _udp6_bound(port: int) -> bool:
    table = Path("/proc/net/udp6").read_text()
    return any(line.split()[1].endswith(f":{port:04X}") for line in table.splitlines()[1:] if line.strip())


class FakeController:
    """Bindings follow the fake network's moves after REG_DELAY; each move costs a PBU and a PBA and
    one handoff_reroute sample (growing, so the benchmark can tell each sample)."""

    def __init__(self, domain_file, log_dir, *a, **kw) -> None:
        self.domain = load_domain(domain_file)
        self.log_path = Path(log_dir) / "controller.log"
        self.where = {mn.id: mn.attach for mn in self.domain.mobile_nodes.values()}
        self.moved_at: dict[str, float] = {}
        self.moves = 0
        self.stopped = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True

    def tail(self, lines: int = 30) -> str:
        return ""

    def get(self, path: str):
        if path == "/epmip/v1/stats":
            lat = {"registration": {"count": 3, "median_ms": 5.0, "max_ms": 6.0}}
            if self.moves:
                lat["handoff_reroute"] = {"count": self.moves, "median_ms": 10.0, "max_ms": 10.0 * self.moves}
            messages = {"PBU": 3 + self.moves, "PBA": 3 + self.moves}
            return 200, {"messages": messages, "events": {}, "latency": lat}
        mn = path.rsplit("/", 1)[-1]
        return 200, {"mn_id": mn, "proxy_coa": str(self.domain.switches[self.where[mn]].address)}

    def moved(self, mn: str, switch: str) -> None:
        time.sleep(REG_DELAY)  # the fake "re-registers" before move() returns; the benchmark still polls
        self.where[mn] = switch
        self.moves += 1


class FakeHost:
    def __init__(self, name: str, ports: dict[str, int]) -> None:
        self.name, self.ports = name, ports

    def popen(self, args, **kw):
        """Run udpstream.py here (root namespace, loopback); each host gets its own port."""
        args = list(args)
        i = args.index("--port") + 1
        other = next(h for h in self.ports if h != self.name)
        args[i] = str(self.ports[self.name] if args[2] == "recv" else self.ports[other])
        return subprocess.Popen(args, **kw)


class FakeNetwork:
    def __init__(self, domain_file, controller: FakeController) -> None:
        self.domain = load_domain(domain_file)
        self.ctl = controller
        self.ports = {"mn1": _free_udp6_port(), "mn2": _free_udp6_port()}
        self.hosts = {h: FakeHost(h, self.ports) for h in self.ports}
        self.moves: list[tuple[str, str]] = []
        self.stopped = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True

    def host(self, name: str) -> FakeHost:
        return self.hosts[name]

    def wait_addresses(self, names, timeout: float = 20.0):
        return {n: "::1" for n in names}

    def move(self, name: str, switch: str) -> int:
        self.moves.append((name, switch))
        self.ctl.moved(name, switch)
        return 9


@pytest.fixture
def fake_world(monkeypatch):
    made = {}

    def controller(*a, **kw):
        made["ctl"] = FakeController(*a, **kw)
        return made["ctl"]

    def network(*a, **kw):
        made["net"] = FakeNetwork(*a, **kw)
        return made["net"]

    monkeypatch.setattr(harness, "Controller", controller)
    monkeypatch.setattr(harness, "Network", network)
    monkeypatch.setattr(harness, "ensure_ovs", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(handoff, "_listening", lambda host, port: _udp6_bound(host.ports[host.name]))
    monkeypatch.setattr(handoff, "SETTLE_QUIET", 0.1)
    monkeypatch.setattr(handoff, "DRAIN", 0.2)
    if not os.access(handoff.HOST_PYTHON, os.X_OK):
        pytest.skip(f"{handoff.HOST_PYTHON} is missing")
    return made


def test_pick_emags_on_the_reference_domain():
    domain = load_domain(str(EXAMPLE))
    assert handoff.pick_emags(domain, "mn1") == ("emag1", "emag2")
    assert handoff.pick_emags(domain, "mn2") == ("emag4", "emag3")
    with pytest.raises(handoff.BenchError):
        handoff.pick_emags(domain, "nobody")


def test_run_against_a_fake_network_over_loopback(fake_world, capfd, tmp_path):
    status = handoff.run(moves=2, rate=200, json_out=True, config=str(EXAMPLE), duration_per_move=0.2,
                         log_dir=str(tmp_path))  # fmt: skip
    out, err = capfd.readouterr()
    assert status == 0, err
    result = json.loads(out)  # stdout is one JSON object, progress went to stderr
    assert "move 1/2: emag1 -> emag2 ..." in err and "move 2/2: emag2 -> emag1 ..." in err
    net, ctl = fake_world["net"], fake_world["ctl"]
    assert net.moves == [("mn1", "emag2"), ("mn1", "emag1")]
    assert net.stopped and ctl.stopped
    moves = result["moves"]
    assert [(m["from"], m["to"]) for m in moves] == [("emag1", "emag2"), ("emag2", "emag1")]
    for m in moves:
        assert m["downlink_lost"] == 0 and m["uplink_lost"] == 0
        assert m["downlink"]["sent"] > 0 and m["uplink"]["sent"] > 0
        assert 0 < m["downlink_interruption_ms"] < 200 and 0 < m["uplink_interruption_ms"] < 200
        assert m["registration_ms"] is not None and m["registration_ms"] < 1000
        assert m["signalling"] == {"PBA": 1, "PBU": 1} and m["signalling_total"] == 2
    assert [m["reroute_ms"] for m in moves] == [10.0, 20.0]
    assert result["summary"]["reroute_ms"] == {"n": 2, "median": 15.0, "p95": 20.0}
    overall = result["overall"]
    for d in ("downlink", "uplink"):
        assert overall[d]["lost"] == 0 and overall[d]["sent"] == overall[d]["received"] > 0
    assert result["rate_pps"] == 200 and result["emags"] == ["emag1", "emag2"]
    # the text report of the same result
    text = handoff.report(result)
    assert "200 packets/s each way" in text
    lines = text.splitlines()
    assert any(line.strip().startswith("median") for line in lines)
    assert any(line.strip().startswith("p95") for line in lines)
    assert "PBA 1, PBU 1" in text and "handoff_reroute over the run: 2 samples" in text


def test_report_says_n_a_without_controller_figures():
    row = {
        "move": 1, "from": "emag1", "to": "emag2", "registration_ms": None, "reroute_ms": None,
        "downlink_lost": 3, "downlink_interruption_ms": 41.0,
        "uplink_lost": 0, "uplink_interruption_ms": 10.0,
        "signalling": {}, "signalling_total": 0,
    }  # fmt: skip
    zero = {"sent": 10, "received": 10, "lost": 0, "loss_ratio": 0.0, "duplicates": 0, "reordered": 0}
    result = {
        "mobile_node": "mn1", "correspondent": "mn2", "emags": ["emag1", "emag2"], "rate_pps": 100.0,
        "size_bytes": 64, "interval_s": 2.0, "moves": [row],
        "summary": handoff.analysis.summarize([row], handoff.SUMMARY_KEYS),
        "overall": {"downlink": zero, "uplink": zero},
        "controller": {"latency": {}, "errors": {}, "log": "x.log"},
    }  # fmt: skip
    text = handoff.report(result)
    row_line = next(line for line in text.splitlines() if line.strip().startswith("1 "))
    assert row_line.split()[4:6] == ["n/a", "n/a"] and "41" in row_line
    assert "handoff_reroute: n/a" in text


def test_cli_wires_bench_handoff_and_rejects_bad_arguments(capsys):
    assert cli.main(["bench", "handoff", "--moves", "0"]) == 1
    assert "need at least one move" in capsys.readouterr().err
    assert cli.main(["bench", "handoff", "--rate", "-5", "--json"]) == 1
    out = capsys.readouterr().out
    assert json.loads(out)["error"].startswith("--rate -5")
    with pytest.raises(SystemExit):
        cli.main(["bench"])  # a benchmark must be named


def test_binding_wait_compares_addresses_not_strings():
    class Ctl:
        def get(self, path):
            return 200, {"proxy_coa": "2001:db8:ffff:0::2"}

    assert handoff._wait_binding(Ctl(), "mn1", ipaddress.IPv6Address("2001:db8:ffff::2")) is not None
