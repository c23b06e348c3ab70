"""``epmip bench control-plane`` in --quick mode with a tiny domain: the wiring, the JSON shape and
that every phase did its work.  Functional only: no figure is compared with a time."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from apps import cli
from benchmarks import control_plane
from controller.config import access_port_mac


def _positive(d: dict, *path: str) -> float:
    for key in path:
        d = d[key]
    assert isinstance(d, int | float) and d > 0, (path, d)
    return d


@pytest.fixture(scope="module")
def result() -> dict:
    """One run for the module (it starts three child processes; a few seconds)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["bench", "control-plane", "--quick", "--sizes", "50", "--budget", "0.2", "--json"])
    assert status == 0
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n"), "exactly one JSON object on stdout"
    return json.loads(text)


def test_json_has_every_figure(result):
    assert result["benchmark"] == "control-plane"
    env = result["environment"]
    assert env["cpu_model"] and env["python"] and env["ryu"]
    assert result["parameters"]["sizes"] == [50] and result["parameters"]["quick"] is True
    (size,) = result["sizes"]
    assert size["n"] == 50 and size["full"] is True
    reg = size["registration"]
    _positive(reg, "port_added", "per_s")
    _positive(reg, "no_port_lookup", "per_s")
    assert reg["bindings"] == 50
    assert reg["messages_per_registration"]["PBU"] == 1 and reg["messages_per_registration"]["PBA"] == 1
    assert reg["intents_per_registration"] >= 4  # LMA binding flow, MAG flows, RA
    for key in ("core", "ryu_app", "cache_hit"):
        _positive(size["route_setup"], key, "per_s")
    assert size["route_setup"]["ryu_app"]["flow_mods"] >= size["route_setup"]["ryu_app"]["count"]
    for key in ("port_added", "no_port_lookup"):
        _positive(size["handoff"], key, "per_s")
        msgs = size["handoff"][key]["messages_per_handoff"]
        assert msgs["PBU"] == 2 and msgs["PBA"] == 2 and msgs["PBCI"] >= 1 and msgs["PBCA"] >= 1
    _positive(size, "tick", "ms_per_tick")
    (mem,) = result["memory"]
    _positive(mem, "rss", "fill", "per_s")
    _positive(mem, "tracemalloc", "bytes_per_binding")
    assert mem["rss"]["bytes_per_binding"] is not None
    ryu = result["ryu_simple_switch_13"]
    _positive(ryu, "per_s")
    assert ryu["flow_mods"] == ryu["count"] and ryu["packet_outs"] == ryu["count"]
    assert any("30,000" in n for n in result["notes"])


def test_text_report_names_every_figure(result):
    text = control_plane.report(result)
    for label, _ in control_plane.ROWS:
        assert label in text
    assert "simple_switch_13" in text and "N=50" in text and result["environment"]["cpu_model"] in text


def test_sizes_above_max_full_are_sampled_and_say_so():
    samples = dict(control_plane.QUICK_SAMPLES, registration=10)
    out = control_plane.run_size(100, budget=0.1, max_full=50, samples=samples)
    assert out["full"] is False
    assert out["registration"]["bindings"] <= 20
    assert out["registration"]["port_added"]["count"] >= 1
    assert "skipped" in out["route_setup"] and "skipped" in out["handoff"]


def test_generated_domain_is_a_valid_domain_file():
    direct = control_plane.build_domain(30)
    parsed = control_plane.build_domain(30, via_yaml=True)
    assert direct.mobile_nodes == parsed.mobile_nodes
    macs = [mn.mac for mn in direct.mobile_nodes.values()]
    assert len(set(macs)) == 30 and all(int(m[:2], 16) == 0x02 for m in macs)
    assert {mn.attach for mn in direct.mobile_nodes.values()} == {"emag1", "emag2", "emag3", "emag4"}
    assert all(direct.host_for_port_mac(access_port_mac(m)) is not None for m in macs)


def test_bad_sizes_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "control-plane", "--sizes", "10,x"])
    assert exc.value.code == 2
    assert "comma-separated" in capsys.readouterr().err
