"""benchmarks/soak.py and soak_checks.py without Mininet: the generated domain, the walk, the loss
attribution, the audit of flows left behind, the report and the ``epmip bench soak`` wiring."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from apps import cli
from benchmarks import soak
from benchmarks.soak_checks import (
    Owners,
    direction_figures,
    drf_entries,
    expected_visits,
    plan_walk,
    stale_flows,
)
from controller.config import load_domain
from controller.topology import Topology
from openflow_rules.pipeline import Fn, Prio, cookie

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "soak.yaml"


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    return load_domain(soak.write_domain(soak.soak_domain(12), tmp_path_factory.mktemp("soak") / "soak.yaml"))


def test_the_generated_domain_has_what_the_soak_needs(domain):
    roles = [s.role for s in domain.switches.values()]
    assert (roles.count("elma"), roles.count("emag"), roles.count("mag"), roles.count("lma")) == (3, 6, 1, 1)
    assert roles.count("ar_drf") == 1 and domain.fixed_nodes and domain.fixed_networks
    elma_prefixes = [s.prefixes for s in domain.switches.values() if s.role == "elma"]
    assert all(elma_prefixes) and len({p for ps in elma_prefixes for p in ps}) == 3
    assert all(s.lma for s in domain.switches.values() if s.is_mag)
    assert {s.lma for s in domain.switches.values() if s.role == "emag"} == {"elma1", "elma2", "elma3"}
    # the core contains a cycle: more core-core links than core switches minus one
    core = {s.name for s in domain.switches.values() if s.role == "core"}
    core_links = [lk for lk in domain.links if lk.a in core and lk.b in core]
    assert len(core_links) >= len(core)
    no_lma = [mn for mn in domain.mobile_nodes.values() if mn.lma is None]
    assert len(domain.mobile_nodes) == 12 and len(no_lma) == 6
    assert all(domain.switches[mn.attach].role == "emag" for mn in domain.mobile_nodes.values())


def test_more_mobile_nodes_and_the_bounds(tmp_path):
    d = load_domain(soak.write_domain(soak.soak_domain(40), tmp_path / "d.yaml"))
    assert len(d.mobile_nodes) == 40 and len({mn.mac for mn in d.mobile_nodes.values()}) == 40
    for bad in (11, soak.MAX_MNS + 1):
        with pytest.raises(soak.BenchError):
            soak.soak_domain(bad)


def test_examples_soak_yaml_is_the_generators_output():
    assert yaml.safe_load(EXAMPLE.read_text()) == soak.soak_domain(12)


@pytest.mark.parametrize("moves", [3, 5, 12, 40])
@pytest.mark.parametrize("seed", [1, 2, 7])
def test_the_walk_is_seeded_consistent_and_covers_areas_and_the_legacy_mag(domain, moves, seed):
    walk = plan_walk(domain, moves, seed)
    assert walk == plan_walk(domain, moves, seed)
    assert len(walk) == moves
    where = {mn.id: mn.attach for mn in domain.mobile_nodes.values()}
    for m in walk:
        assert m.source == where[m.mn] and m.target != m.source and domain.switches[m.target].is_mag
        where[m.mn] = m.target
    kinds = [m.kind(domain) for m in walk]
    assert "area" in kinds
    to_legacy = [m for m in walk if domain.switches[m.target].role == "mag"]
    from_legacy = [m for m in walk if domain.switches[m.source].role == "mag"]
    assert to_legacy and from_legacy


def test_streams_pair_the_mns_some_one_way_and_one_with_the_fixed_host(domain):
    streams = soak.plan_streams(domain)
    assert ("cn1", "mn1", False) in streams
    one_way = [s for s in streams if s[2]]
    assert one_way and len(one_way) < len(streams) / 2
    dirs = soak.directions(streams)
    assert len({(d.dst, d.port) for d in dirs}) == len(dirs)  # one receiver per direction
    assert {h for d in dirs for h in (d.src, d.dst)} >= set(domain.mobile_nodes)


def _records(seqs, t0=100.0, rate=100.0, delay=0.001):
    return [(s, t0 + s / rate, t0 + s / rate + delay) for s in seqs]


def test_losses_are_split_at_the_link_layer_gaps():
    sent = [(s, 100.0 + s / 100, 0.0) for s in range(100)]
    lost = {20, 21, 22, 60}  # 20-22 in the gap [100.195, 100.225], 60 outside
    got = _records([s for s in range(100) if s not in lost])
    f = direction_figures(got, sent, gaps=[(100.195, 100.225)], move_windows=[(100.19, 100.3)],
                          all_move_windows=[(100.19, 100.3)])  # fmt: skip
    assert (f.sent, f.lost, f.lost_in_gaps, f.lost_outside_gaps) == (100, 4, 3, 1)
    assert f.lost_in_sender_gaps == 0  # the receiver's move
    mine = direction_figures(got, sent, gaps=[(100.195, 100.225)], move_windows=[], sender_gaps=[(100.195, 100.225)])
    assert (mine.lost_in_gaps, mine.lost_in_sender_gaps) == (3, 3)
    assert f.outside_losses[0]["seq"] == 60
    assert f.longest_gap_outside_moves_ms == pytest.approx(20, abs=0.01)  # around 60
    assert f.longest_gap_at_moves_ms == pytest.approx(40, abs=0.01)  # 19 -> 23
    assert f.longest_gap_away_from_all_moves_ms == pytest.approx(20, abs=0.01)


def test_a_stream_that_dies_shows_its_outage_and_counts_the_torn_log_end():
    sent = [(s, 100.0 + s / 100, 0.0) for s in range(50)]
    f = direction_figures(_records(range(30)), sent, gaps=[], move_windows=[], sent_count=52)
    assert (f.sent, f.lost, f.lost_outside_gaps) == (52, 22, 22)
    assert f.longest_gap_outside_moves_ms == pytest.approx(199, abs=0.01)  # arrival of 29 -> send of 49


def test_duplicates_and_reordering_are_counted():
    recs = [(0, 100.0, 100.01), (1, 100.01, 100.02), (3, 100.03, 100.031), (2, 100.02, 100.035),
            (4, 100.04, 100.041), (4, 100.04, 100.2)]  # fmt: skip
    f = direction_figures(recs, [(s, 100.0 + s / 100, 0.0) for s in range(5)], [], [])
    assert (f.lost, f.duplicates, f.reordered) == (0, 1, 1)


def _flow(fn: Fn, obj: int, table: int, prio: int, actions: str, **match) -> dict:
    return {"cookie": cookie(fn, obj), "table": table, "priority": int(prio), "n_packets": 7,
            "match": match, "actions": actions}  # fmt: skip


def test_stale_flows_name_mns_elsewhere_wrong_tunnels_and_needless_fallbacks(domain):
    index = {mn: i for i, mn in enumerate(domain.mobile_nodes)}
    hnp = {mn: f"2001:db8:a:{i + 1:x}::/64" for mn, i in index.items()}
    where = {mn.id: mn.attach for mn in domain.mobile_nodes.values()} | {"cn1": "ar1", "mn5": "mag7"}
    owners = Owners(
        mn_by_index={i: mn for mn, i in index.items()}, fixed_by_index={0: "cn1"}, attachment=where,
        prefixes={ipaddress.IPv6Network(p): mn for mn, p in hnp.items()},
    )  # fmt: skip
    label = {s.name: s.label for s in domain.switches.values()}

    def to(sw):
        return f"push_mpls:0x8847,set_field:{label[sw]}->mpls_label,output:1"

    mn1, mn2, mn3, mn5 = (index[m] for m in ("mn1", "mn2", "mn3", "mn5"))
    dumps = {
        "emag1": [  # mn1 is here
            _flow(Fn.ACCESS, mn1, 0, Prio.ACCESS, "goto_table:2", in_port="2"),
            _flow(Fn.DRF, mn1 << 24 | 5, 2, Prio.DRF, to("emag2"), ipv6_src=hnp["mn1"], ipv6_dst=hnp["mn2"]),
            _flow(Fn.DRF, mn1 << 24 | 6, 2, Prio.DRF, to("emag2"), ipv6_src=hnp["mn1"], ipv6_dst=hnp["mn3"]),
            _flow(Fn.DRF, mn1 << 24 | 7, 2, Prio.DRF_FALLBACK, to("elma1"), ipv6_src=hnp["mn1"], ipv6_dst=hnp["mn5"]),
            _flow(Fn.DRF, mn1 << 24 | 8, 2, Prio.DRF_FALLBACK, to("elma1"), ipv6_src=hnp["mn1"], ipv6_dst=hnp["mn2"]),
            _flow(Fn.ACCESS, mn2, 3, Prio.DELIVER, "output:3", ipv6_dst=hnp["mn2"]),
        ],
        "emag2": [_flow(Fn.REDIRECT, mn3, 3, Prio.REDIRECT, to("emag3"), ipv6_dst=hnp["mn3"])],
        "elma1": [
            _flow(Fn.BINDING, mn1, 3, Prio.BINDING, to("emag1"), ipv6_dst=hnp["mn1"]),
            _flow(Fn.BINDING, mn5, 3, Prio.BINDING, to("emag5"), ipv6_dst=hnp["mn5"]),
            _flow(Fn.BINDING, mn2, 3, Prio.BINDING, "drop", ipv6_dst=hnp["mn2"]),
        ],
    }
    stale = stale_flows(domain, dumps, owners)
    why = {(x["switch"], x["fn"], x["match"].get("ipv6_dst")): x["why"] for x in stale}
    assert why == {
        ("emag1", "DRF", hnp["mn3"]): "tunnels toward emag2 for mn3, which is on emag3",
        ("emag1", "DRF", hnp["mn2"]): "falls back to the anchors for mn2, which is on emag2 (DRF-capable)",
        ("emag1", "ACCESS", hnp["mn2"]): "mn2 is not attached to emag1",
        ("emag2", "REDIRECT", hnp["mn3"]): "mn3 is not attached to emag2",
        ("elma1", "BINDING", hnp["mn5"]): "tunnels toward emag5 for mn5, which is on mag7",
    }
    entries = drf_entries(dumps["emag1"], ["2001:db8:a:1::5"], "2001:db8:a:2::9", {v: k for k, v in label.items()})
    assert sorted((e["kind"], e["to"]) for e in entries) == [("direct", "emag2"), ("fallback", "elma1")]


def test_expected_visits_follow_the_shortest_paths(domain):
    topo = Topology(domain)
    p1, p2 = topo.path("emag1", "emag4"), topo.path("emag4", "emag4")
    assert len(p1) == 5 and p2 == ["emag4"]
    assert expected_visits([(p1, 10), (p2, 10)]) == {**dict.fromkeys(p1, 10), "emag4": 20}


def _result(passed: bool = True) -> dict:
    walk = [{"move": 1, "mn": "mn1", "from": "emag1", "to": "mag7", "kind": "legacy", "hint_status": 202,
             "t_hint": 1.0, "t_move": 1.01, "t_port_gone": 1.03, "t_port_added": 1.07, "t_attached": 1.1,
             "t_bound": 1.12, "gap_ms": 60.0, "move_ms": 90.0,
             "registration_ms": 110.0}]  # fmt: skip
    d = {"direction": "mn1->mn2", "stream": 0, "src": "mn1", "dst": "mn2", "moves_of_ends": 1,
         "end_switches": ["mag7", "emag2"], "sent": 100, "received": 98, "lost": 2, "lost_in_gaps": 2,
         "lost_outside_gaps": 0 if passed else 1, "lost_in_sender_gaps": 1, "duplicates": 0, "reordered": 0,
         "longest_gap_outside_moves_ms": 5.0, "longest_gap_at_moves_ms": 90.0,
         "longest_gap_away_from_all_moves_ms": 5.0,
         "outside_losses": [] if passed else [{"seq": 5, "sent_at": 1.5, "nearest_gap_ms": 400.0}]}  # fmt: skip
    result = {
        "mns": 12, "seed": 1, "interval_s": 1.0, "rate_pps": 200.0, "handoff_buffer": "predictive", "t_ready": 0.5,
        "walk": walk, "directions": [d], "losses": {"sent": 100, "received": 98, "lost": 2, "lost_in_gaps": 2,
        "lost_outside_gaps": d["lost_outside_gaps"], "lost_in_sender_gaps": 1, "duplicates": 0, "reordered": 0},
        "settle": {"seconds": 1.6, "settled": True, "pending": []},
        "paths": {"skipped": [{"direction": "mn1->mn2", "why": "mn1 on mag7 (mag)"}], "directions": [],
                  "rounds": []},
        "hoa": [{"mn": "mn1", "before": {"addresses": ["a"]}, "after": {"addresses": ["a"]}, "unchanged": True}],
        "flows": {"per_switch": {"emag1": {"start": 30, "end": 31}}, "stale": []},
        "controller": {"events": {}, "messages_total": 10, "log": "x.log"},
    }  # fmt: skip
    result["verdict"] = soak.verdict(result)
    return result


def test_report_and_verdict():
    ok, bad = _result(), _result(passed=False)
    assert ok["verdict"]["passed"] and not bad["verdict"]["passed"]
    assert bad["verdict"]["lost_outside"] == {"mn1->mn2": 1}
    text = soak.report(bad)
    assert "LOST OUTSIDE A GAP: mn1->mn2 seq 5" in text and "FAIL no loss outside link-layer gaps" in text
    assert "not checked: mn1->mn2" in soak.report(ok)


def test_cli_wiring(monkeypatch, capsys):
    seen = {}

    def fake(moves, interval, rate, mns, seed, say, buffer, log_dir):
        seen.update(moves=moves, interval=interval, rate=rate, mns=mns, seed=seed, buffer=buffer)
        say("progress")
        return _result()

    monkeypatch.setattr(soak, "soak", fake)
    argv = ["bench", "soak", "--moves", "7", "--interval", "0.5", "--rate", "50", "--mns", "14", "--seed", "3"]
    assert cli.main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["verdict"]["passed"] and "progress" in err
    assert seen == {"moves": 7, "interval": 0.5, "rate": 50.0, "mns": 14, "seed": 3, "buffer": "predictive"}
    monkeypatch.setattr(soak, "soak", lambda *a, **k: _result(passed=False))
    assert cli.main(["bench", "soak"]) == 3
    assert cli.main(["bench", "soak", "--moves", "0"]) == 1
