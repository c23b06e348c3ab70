"""Placement of a domain over several controller instances (``controllers:`` in the domain file):
``epmip check-config`` validates it (every switch served exactly once, names and signalling
addresses unique)."""

from __future__ import annotations

import pytest
import yaml

from apps import cli
from controller.config import SIGNALLING_PORT, ConfigError, load_domain

# the reference domain split per eLMA region and the legacy part (the policy store goes with the first)
SPLIT = [
    {"name": "r1", "address": "::1", "port": 47101, "switches": ["emag1", "emag2", "elma1", "c1"]},
    {"name": "r3", "address": "::1", "port": 47103, "switches": ["emag3", "emag4", "elma3", "ar1", "c2"]},
    {"name": "legacy", "address": "::1", "port": 47109, "switches": ["mag5", "lma"]},
]


def _write(doc, tmp_path, controllers):
    doc["controllers"] = controllers
    path = tmp_path / "domain.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_a_placement_loads_and_check_config_lists_it(doc, tmp_path, capsys):
    path = _write(doc, tmp_path, SPLIT)
    domain = load_domain(str(path))
    assert [c.name for c in domain.controllers] == ["r1", "r3", "legacy"]
    assert domain.controllers[1].switches == ("emag3", "emag4", "elma3", "ar1", "c2")
    assert cli.main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "controller r3 at [::1]:47103 serves emag3, emag4, elma3, ar1, c2" in out


def test_without_a_placement_one_instance_serves_everything(domain):
    assert domain.controllers == ()


def test_the_port_defaults_to_rfc_5844s(doc, tmp_path):
    one = [{"name": "all", "address": "::1", "switches": [s["name"] for s in doc["switches"]]}]
    assert load_domain(str(_write(doc, tmp_path, one))).controllers[0].port == SIGNALLING_PORT == 5436


def _split(**changes):
    """SPLIT with ``i<N>=(field, value)`` changed in instance N."""
    out = [dict(c, switches=list(c["switches"])) for c in SPLIT]
    for index, (key, value) in changes.items():
        out[int(index[1:])][key] = value
    return out


INVALID = [
    ("served twice", _split(i1=("switches", ["emag3", "emag4", "elma3", "ar1", "c2", "c1"])),
     "controllers[1].switches[5]", "no other instance serves (r1 does)"),
    ("not served", _split(i2=("switches", ["mag5"])), "controllers", "every switch served by one instance"),
    ("unknown switch", _split(i2=("switches", ["mag5", "lma", "nope"])), "controllers[2].switches[2]",
     "a switch of this domain"),
    ("same address and port", _split(i2=("port", 47101)), "controllers[2].address", "r1 does not use"),
    ("same name", _split(i2=("name", "r1")), "controllers[2].name", "no other controller instance has"),
    ("bad address", _split(i0=("address", "localhost")), "controllers[0].address", "an IPv6 address"),
    ("bad port", _split(i0=("port", 70000)), "controllers[0].port", "a UDP port"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "controllers", "field", "expected"), INVALID, ids=[i[0] for i in INVALID])
def test_check_config_rejects_a_bad_placement(what, controllers, field, expected, doc, tmp_path, capsys):
    path = _write(doc, tmp_path, controllers)
    assert cli.main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f": error: {field}: got " in err and expected in err, err
    with pytest.raises(ConfigError) as info:
        load_domain(str(path))
    assert info.value.path == field
