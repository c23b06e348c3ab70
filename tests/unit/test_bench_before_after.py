"""``--before FILE`` of bench control-plane and bench load: an earlier run's --json output beside
this run's figures, and a clear error naming what is wrong with the file."""

from __future__ import annotations

import json

import pytest

from benchmarks import before_after as ba
from benchmarks import control_plane, load


def test_cells_and_gains() -> None:
    assert ba.cell(1350.0, 5189.0) == "1,350 -> 5,189"
    assert ba.cell(None, 6.2) == "- -> 6.20"
    assert ba.gain(1000, 2000, higher_is_better=True) == "x2.00"
    assert ba.gain(126.0, 6.3, higher_is_better=False) == "x20.00"  # a latency that fell is better
    assert ba.gain(0, 5, True) == ba.gain(None, 5, True) == "-"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read it"),
        ("{not json", "not JSON"),
        ("[1, 2]", "a JSON list, not the object"),
        ('{"sizes": []}', "no route, reference: not the output of `epmip bench load --json`"),
    ],
)
def test_a_bad_before_file_is_named(tmp_path, content: str | None, message: str) -> None:
    path = tmp_path / "before.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ba.BeforeError, match=message) as err:
        ba.load(str(path), "load", ("route", "reference"))
    assert str(path) in str(err.value)


def _load_result(route: float, ss: float, p99: float, git: str) -> dict:
    phase = {"per_s": route, "p99_ms": p99, "cpu_us_per_event": 1e6 / route}
    return {
        "mns": 10000, "route": phase, "route_half_rate": {"per_s": route / 2, "p99_ms": p99 / 10},
        "reference": {"packet_in": {"per_s": ss, "p99_ms": 20.0, "cpu_us_per_event": 1e6 / ss}},
        "environment": {"git": git},
    }  # fmt: skip


def test_load_before_after_table() -> None:
    text = load.before_after(_load_result(1350, 3442, 118, "0c170dc"), _load_result(9819, 3892, 20.3, "2ed8de4"))
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert "git 0c170dc -> 2ed8de4" in text.splitlines()[0]
    assert "1,350 -> 9,819" in lines["route set-up: per s"] and lines["route set-up: per s"].endswith("x7.27")
    assert "118 -> 20.3" in lines["route set-up: p99 ms"] and lines["route set-up: p99 ms"].endswith("x5.81")
    ratio = lines["route set-ups / simple_switch_13 packet-ins"]
    assert "0.39 -> 2.52" in ratio and ratio.endswith("x6.43")
    assert "handoff" not in text  # neither run has it: no row


def test_control_plane_before_after_by_size() -> None:
    def result(reg: float, rss: float, git: str, sizes=(10000, 100000)) -> dict:
        return {
            "sizes": [{"n": n, "registration": {"port_added": {"per_s": reg}},
                       "controller_rss_bytes_per_registered_mn": rss} for n in sizes],
            "ryu_simple_switch_13": {"per_s": 9000.0}, "environment": {"git": git},
        }  # fmt: skip

    text = control_plane.before_after(result(4767, 2715, "a", sizes=(10000,)), result(10135, 1388, "b"))
    assert "N=10,000: before -> after (git a -> b)" in text and "N=100,000" not in text  # only sizes both have
    rows = {line.split("  ")[0]: line for line in text.splitlines()}
    assert rows["registrations/s: port_added, full path"].endswith("x2.13")
    assert "2,715 -> 1,388" in rows["controller RSS per registered MN, bytes"]
    assert rows["controller RSS per registered MN, bytes"].endswith("x1.96")  # fewer bytes is better
    higher = {label: better for label, _, better in control_plane.COMPARED}
    assert higher["route set-ups/s: receive path, packet-in bytes -> flow-mod bytes"]  # a rate, not bytes
    assert not higher["timer tick (every 0.2 s in the app), ms"]
    assert sum(not b for b in higher.values()) == 2  # the tick and the memory figure


def test_the_cli_takes_before(tmp_path, capsys) -> None:
    from apps import cli

    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"no": "sizes"}))
    assert cli.main(["bench", "control-plane", "--sizes", "1000", "--before", str(bad)]) == 1
    assert "no sizes: not the output of `epmip bench control-plane --json`" in capsys.readouterr().err
