"""The domain file: the reference domain loads, and ``epmip check-config`` reports every kind of
mistake in one line that names the field, then exits 2."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from apps import cli
from controller.config import ConfigError, access_port_mac, load_domain, parse_domain

# ---------------------------------------------------------------- the reference domain


def test_reference_domain_loads(domain):
    assert domain.name == "reference"
    assert domain.mode == "epmip"
    assert len(domain.switches) == 11
    assert {s.role for s in domain.switches.values()} == {
        "emag",
        "mag",
        "elma",
        "lma",
        "ar_drf",
        "core",
    }
    assert set(domain.mobile_nodes) == {"mn1", "mn2", "mn3", "cn2"}
    assert set(domain.fixed_nodes) == {"cn1"}
    assert domain.router_link_local == ipaddress.IPv6Address("fe80::1")
    assert domain.timers.binding_lifetime == 60
    assert domain.timers.min_delay_before_bce_delete == 10
    assert domain.by_dpid[11].name == "elma1"
    assert domain.switches["elma3"].prefixes == (
        ipaddress.IPv6Network("2001:db8:c::/48"),
        ipaddress.IPv6Network("2001:db8:d::/48"),
    )
    assert domain.mobile_nodes["cn2"].hnp == ipaddress.IPv6Network("2001:db8:1:5::/64")


def test_reference_ports_follow_link_order(domain):
    # links are numbered 1, 2, ... on each switch in the order the links list names them
    assert domain.trunk_ports("emag1") == {1: "c1"}
    assert domain.trunk_ports("c1") == {
        1: "emag1",
        2: "emag2",
        3: "mag5",
        4: "elma1",
        5: "lma",
        6: "c2",
    }
    assert domain.trunk_ports("c2") == {1: "c1", 2: "emag3", 3: "emag4", 4: "elma3", 5: "ar1"}


def test_reference_prefix_owner_and_hosts(domain):
    assert domain.prefix_owner(ipaddress.IPv6Address("2001:db8:a:1::5")).name == "elma1"
    assert domain.prefix_owner(ipaddress.IPv6Address("2001:db8:d::1")).name == "elma3"
    assert domain.prefix_owner(ipaddress.IPv6Address("2001:db8:1:5::1")).name == "lma"
    assert domain.prefix_owner(ipaddress.IPv6Address("2001:db8:f::10")) is None
    assert access_port_mac("02:00:00:00:01:01") == "06:00:00:00:01:01"
    assert domain.host_for_port_mac("06:00:00:00:01:01").id == "mn1"
    assert domain.host_for_port_mac("06:00:00:00:02:01").name == "cn1"
    assert domain.host_for_port_mac("02:00:00:00:01:01") is None  # the host's own MAC is not a port


def test_check_config_ok_for_example(domain_path, capsys):
    assert cli.main(["check-config", domain_path]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith(f"{domain_path}: ok: domain 'reference', mode epmip, 11 switches")
    assert "1 ar_drf, 2 core, 2 elma, 4 emag, 1 lma, 1 mag" in line
    assert "10 links, 4 mobile nodes, 1 fixed nodes" in line


# ---------------------------------------------------------------- invalid files


def _switch(doc: dict, name: str) -> dict:
    return next(s for s in doc["switches"] if s["name"] == name)


def _mn(doc: dict, mn_id: str) -> dict:
    return next(m for m in doc["mobile_nodes"] if m["id"] == mn_id)


def _host_bits(doc):
    _switch(doc, "elma1")["prefixes"] = ["2001:db8:a::1/48"]


def _not_a_prefix(doc):
    _switch(doc, "elma3")["prefixes"] = ["2001:db8:c::/48", "zzz"]


def _unknown_role(doc):
    _switch(doc, "emag2")["role"] = "gateway"


def _duplicate_dpid(doc):
    _switch(doc, "emag2")["dpid"] = 1


def _unknown_top_level_key(doc):
    doc["switchs"] = []


def _bad_mac(doc):
    _mn(doc, "mn3")["mac"] = "02:00:00:00:01"


def _multicast_mac(doc):
    _mn(doc, "mn3")["mac"] = "03:00:00:00:01:03"


def _link_to_unknown_switch(doc):
    doc["links"].append(["c2", "emag9"])


def _hnp_outside_lma_prefixes(doc):
    _mn(doc, "cn2")["hnp"] = "2001:db8:9:5::/64"


def _overlapping_prefixes(doc):
    _switch(doc, "elma3")["prefixes"].append("2001:db8:a:8000::/49")


def _disconnected_switch(doc):
    doc["links"].remove(["ar1", "c2"])


def _wrong_type_dpid(doc):
    _switch(doc, "emag1")["dpid"] = "one"


def _bad_timer(doc):
    doc["timers"]["refresh_fraction"] = 1.5


def _unknown_switch_field(doc):
    _switch(doc, "emag1")["colour"] = "blue"


def _mag_default_lma_not_an_lma(doc):
    _switch(doc, "emag1")["lma"] = "c1"


def _mn_attached_to_core(doc):
    _mn(doc, "mn1")["attach"] = "c1"


def _hnp_not_64(doc):
    _mn(doc, "cn2")["hnp"] = "2001:db8:1:50::/60"


# (change, the field the error must name, a word of the expectation)
INVALID = [
    (_host_bits, "switches[5] (elma1).prefixes[0]", "no host bits"),
    (_not_a_prefix, "switches[6] (elma3).prefixes[1]", "IPv6 prefix"),
    (_unknown_role, "switches[1] (emag2).role", "one of"),
    (_duplicate_dpid, "switches[1] (emag2).dpid", "emag1"),
    (_unknown_top_level_key, "switchs", "one of the fields"),
    (_bad_mac, "mobile_nodes[2] (mn3).mac", "MAC address"),
    (_multicast_mac, "mobile_nodes[2] (mn3).mac", "unicast"),
    (_link_to_unknown_switch, "links[10]", "a switch name"),
    (_hnp_outside_lma_prefixes, "mobile_nodes[3] (cn2).hnp", "inside the prefixes"),
    (_overlapping_prefixes, "prefixes of elma3", "not overlapping 2001:db8:a::/48 of elma1"),
    (_disconnected_switch, "links", "connect every switch"),
    (_wrong_type_dpid, "switches[0] (emag1).dpid", "int"),
    (_bad_timer, "timers.refresh_fraction", "between 0 and 1"),
    (_unknown_switch_field, "switches[0] (emag1).colour", "one of name"),
    (_mag_default_lma_not_an_lma, "switches (emag1).lma", "role elma, lma or elma_drf"),
    (_mn_attached_to_core, "mobile_nodes[0] (mn1).attach", "role emag or mag"),
    (_hnp_not_64, "mobile_nodes[3] (cn2).hnp", "a /64 prefix"),
]


def _check(path, capsys) -> tuple[int, str, str]:
    rc = cli.main(["check-config", str(path)])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err: str, path) -> str:
    assert err.endswith("\n")
    body = err.rstrip("\n")
    assert "\n" not in body, f"error is not one line: {err!r}"
    assert body.startswith(f"{path}: error: ")
    assert "Traceback" not in body
    return body


@pytest.mark.parametrize("change, field, expected", INVALID, ids=[c[0].__name__.strip("_") for c in INVALID])
def test_check_config_rejects(change, field, expected, doc, tmp_path, capsys):
    change(doc)
    path = tmp_path / "domain.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    rc, out, err = _check(path, capsys)
    assert rc == 2
    assert out == ""
    line = _one_line_error(err, path)
    assert f": error: {field}: got " in line, line
    assert expected in line, line
    # the same problem through the API: ConfigError carries the field and the expectation
    with pytest.raises(ConfigError) as info:
        load_domain(str(path))
    assert info.value.path == field
    assert expected in info.value.expected


@pytest.mark.parametrize("bad", ["2001:db8:a::1/48", "zzz"])
def test_bad_prefix_value_is_quoted(bad, doc, tmp_path, capsys):
    _switch(doc, "elma1")["prefixes"] = [bad]
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    rc, _, err = _check(path, capsys)
    assert rc == 2
    assert f"got {bad!r}" in _one_line_error(err, path)


def test_check_config_malformed_yaml(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("domain: x\nswitches: [\n  - {name: a, dpid: 1\nlinks: ]\n", encoding="utf-8")
    rc, out, err = _check(path, capsys)
    assert rc == 2 and out == ""
    line = _one_line_error(err, path)
    assert "expected valid YAML" in line
    assert ": error: line " in line  # names where the YAML broke


def test_check_config_yaml_not_a_mapping(tmp_path, capsys):
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    rc, _, err = _check(path, capsys)
    assert rc == 2
    assert ": error: document: got " in _one_line_error(err, path)


def test_check_config_missing_file(tmp_path, capsys):
    path = tmp_path / "nope.yaml"
    rc, out, err = _check(path, capsys)
    assert rc == 2 and out == ""
    line = _one_line_error(err, path)
    assert ": error: file: got " in line
    assert "a readable file" in line


def test_check_config_missing_required_field(doc, tmp_path, capsys):
    del _switch(doc, "c2")["address"]
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    rc, _, err = _check(path, capsys)
    assert rc == 2
    assert "switches[10] (c2).address: got None, expected a value (field is required)" in _one_line_error(err, path)


def test_multiline_value_stays_on_one_line(doc, tmp_path, capsys):
    _switch(doc, "emag1")["role"] = "em\nag"
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    rc, _, err = _check(path, capsys)
    assert rc == 2
    _one_line_error(err, path)


def test_parse_domain_minimal():
    text = """
switches:
  - {name: m, dpid: 1, role: emag, address: "2001:db8:ffff::1"}
  - {name: l, dpid: 2, role: elma, address: "2001:db8:ffff::2", prefixes: ["2001:db8:a::/48"]}
links: [[m, l]]
mobile_nodes:
  - {id: n, mac: "02:00:00:00:00:10", attach: m}
"""
    d = parse_domain(text)
    assert d.name == "epmip" and d.mode == "epmip"
    assert d.timers.refresh_fraction == 0.5
    assert d.links[0].a_port == 1 and d.links[0].b_port == 1
    assert d.mobile_nodes["n"].lma is None


def test_config_error_message_format():
    exc = ConfigError("switches[0].dpid", 0, "an integer from 1 to 1048575")
    assert str(exc) == "switches[0].dpid: got 0, expected an integer from 1 to 1048575"
    assert (exc.path, exc.value, exc.expected) == (
        "switches[0].dpid",
        0,
        "an integer from 1 to 1048575",
    )
