"""The §7 deployment (``deployment: lma_daf``) in the domain file: the reference file loads, and
``epmip check-config`` names each mistake particular to it in one line."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from apps import cli
from controller.config import ConfigError, load_domain, parse_domain
from controller.topology import Topology
from controller.view import View

ALT = Path(__file__).resolve().parents[2] / "examples" / "domain-alt.yaml"


def alt_doc() -> dict:
    return yaml.safe_load(ALT.read_text())


def test_reference_alt_domain_loads():
    d = load_domain(str(ALT))
    assert d.deployment == "lma_daf"
    assert d.area_prefixes == (ipaddress.IPv6Network("2001:db8:a0::/44"),)
    roles = sorted({s.role for s in d.switches.values()})
    assert roles == ["bg_drf", "core", "elma_drf", "lmf", "mag", "router_drf"]
    assert d.switches["elma3"].lmf == "lmf2"
    assert d.elma_selection == "nearest"


def test_check_config_prints_the_deployment(capsys):
    assert cli.main(["check-config", str(ALT)]) == 0
    out = capsys.readouterr().out
    assert "deployment lma_daf (§7)" in out
    assert "3 elma_drf, 2 lmf, 3 mag, 2 router_drf" in out


def test_views_of_the_reference_alt_domain():
    d = load_domain(str(ALT))
    topo = Topology(d)
    views = {n: View(d, topo, n) for n in d.switches}
    # §7.2 nearest eLMA(DRF) from each MAG; §7.3 the nearest announcer of the area from each switch
    mn1 = d.mobile_nodes["mn1"]
    assert [views[m].registration_lma(mn1) for m in ("mag1", "mag2", "mag3")] == ["elma1", "elma2", "elma3"]
    assert views["fa"].area_router == "r1" and views["fb"].area_router == "r2" and views["c2"].area_router == "bg"
    # §7.4 the preferred LMF: configured, else the nearest
    assert views["elma1"].find_lmf(ipaddress.IPv6Address("2001:db8:a3:1::1")) == "lmf1"
    assert views["elma3"].preferred_lmf() == "lmf2"
    assert views["r1"].my_lmf == "lmf1" and views["r2"].my_lmf == "lmf2"
    # the MN's HNP comes from its profile eLMA's pool, whichever eLMA serves it
    assert views["elma2"].hnp_pool(mn1) == ipaddress.IPv6Network("2001:db8:a1::/48")
    assert views["elma2"].anchor_of(mn1) is None


def _role_of_other_deployment(doc):
    doc["switches"][0]["role"] = "emag"


def _no_area(doc):
    del doc["epmip_area"]


def _pool_outside_area(doc):
    doc["switches"][3]["prefixes"] = ["2001:db8:b1::/48"]


def _no_lmf(doc):
    doc["switches"] = [s for s in doc["switches"] if s["role"] != "lmf"]
    for s in doc["switches"]:
        s.pop("lmf", None)
    doc["links"] = [link for link in doc["links"] if not {"lmf1", "lmf2"} & set(link)]


def _no_bg(doc):
    doc["switches"] = [s for s in doc["switches"] if s["role"] != "bg_drf"]
    doc["links"] = [link for link in doc["links"] if "bg" not in link]
    doc["fixed_networks"] = doc["fixed_networks"][1:]
    doc["fixed_nodes"] = doc["fixed_nodes"][1:]


def _preferred_lmf_not_an_lmf(doc):
    doc["switches"][3]["lmf"] = "r1"


def _lmf_on_a_mag(doc):
    doc["switches"][0]["lmf"] = "lmf1"


def _mn_without_home(doc):
    del doc["mobile_nodes"][0]["lma"]


def _fixed_network_in_area(doc):
    doc["fixed_networks"][1]["prefix"] = "2001:db8:a9::/64"
    doc["fixed_nodes"][1]["address"] = "2001:db8:a9::10"


def _two_hnps(doc):
    doc["mobile_nodes"][0]["hnp_count"] = 2


def _mode_pmip(doc):
    doc["mode"] = "pmip"


def _bad_selection(doc):
    doc["elma_selection"] = "random"


def _area_in_main_deployment(doc):
    doc.clear()
    doc.update(yaml.safe_load((ALT.parent / "domain.yaml").read_text()))
    doc["epmip_area"] = ["2001:db8:a0::/44"]


def _bad_deployment(doc):
    doc["deployment"] = "alt"


CASES = [
    (_role_of_other_deployment, "switches (mag1).role", "emag belongs to deployment mag_daf"),
    (_no_area, "epmip_area", "the ePMIP area's prefix set"),
    (_pool_outside_area, "switches (elma1).prefixes", "inside the epmip_area"),
    (_no_lmf, "switches", "role lmf"),
    (_no_bg, "switches", "role bg_drf"),
    (_preferred_lmf_not_an_lmf, "switches (elma1).lmf", "role lmf"),
    (_lmf_on_a_mag, "switches (mag1).lmf", "only an elma_drf"),
    (_mn_without_home, "mobile_nodes (mn1).lma", "static hnp"),
    (_fixed_network_in_area, "fixed_networks", "outside the epmip_area"),
    (_two_hnps, "mobile_nodes (mn1).hnps", "one HNP per MN"),
    (_mode_pmip, "mode", "epmip"),
    (_bad_selection, "elma_selection", "nearest"),
    (_area_in_main_deployment, "epmip_area", "only deployment lma_daf"),
    (_bad_deployment, "deployment", "mag_daf"),
]


@pytest.mark.parametrize(("mutate", "path", "expected"), CASES, ids=lambda x: getattr(x, "__name__", None))
def test_check_config_rejects_alt_mistakes(mutate, path, expected, tmp_path, capsys):
    doc = alt_doc()
    mutate(doc)
    with pytest.raises(ConfigError) as err:
        parse_domain(yaml.safe_dump(doc))
    assert err.value.path == path, str(err.value)
    assert expected in str(err.value)
    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump(doc))
    assert cli.main(["check-config", str(f)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{f}: error: {path}: got ")


def test_demo_takes_the_domain_file(monkeypatch):
    from mininet_topos import demo

    seen = {}
    monkeypatch.setattr(demo, "run_demo", lambda config, log_dir: seen.update(config=config) or 0)
    assert cli.main(["demo", "--domain", str(ALT)]) == 0
    assert seen["config"] == str(ALT)


def test_the_mininet_topology_builds_from_the_alt_domain():
    pytest.importorskip("mininet")
    from mininet_topos.epmip_topo import EpmipTopo

    topo = EpmipTopo(load_domain(str(ALT)))
    assert {"elma1", "lmf2", "bg", "r1"} <= set(topo.switches())
    assert {"mn1", "cno", "cna", "cnb"} <= set(topo.hosts())
    assert len(topo.links()) == 15 + 6  # trunks + one access link per host
