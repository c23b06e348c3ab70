"""Placement of a domain over several controller instances (``controllers:`` in the domain file):
``epmip check-config`` validates it (every switch served exactly once, names and signalling
addresses unique)."""

from __future__ import annotations

from collections import deque

import pytest
import yaml
from conftest import Harness

from apps import cli
from controller import wire
from controller.config import SIGNALLING_PORT, ConfigError, load_domain
from controller.core import EpmipController
from controller.messages import PBQR, pair_key, pair_keys
from controller.placement import Placement, PlacementError, WireLink, serve_placement

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


# ---------------------------------------------------------------- three instances in one test process

KEY = "placement-test-signalling-key"


class Instances:
    """Three controller cores, each serving its part of the reference domain, joined by WireLinks
    whose datagrams go through in-memory queues (``pump`` delivers them)."""

    def __init__(self, domain) -> None:
        self.domain = domain
        self.cores: dict[str, EpmipController] = {}
        self.links: dict[str, WireLink] = {}
        self.harness: dict[str, Harness] = {}
        self.inbox: dict[str, deque[bytes]] = {c.name: deque() for c in domain.controllers}
        self.down: set[str] = set()
        for inst in domain.controllers:
            core = EpmipController(domain)
            link = WireLink(Placement(domain, inst.name), self._sender, pair_keys(domain.signalling_key),
                            core.bus.errors)  # fmt: skip
            serve_placement(core.bus, link)
            self.cores[inst.name], self.links[inst.name] = core, link
            self.harness[inst.name] = Harness(core)
            for sw in inst.switches:
                self.harness[inst.name].connect(sw)

    def _sender(self, data: bytes, peer) -> bool:
        if peer.name in self.down:
            return True  # what the kernel reports for a port nobody listens on
        self.inbox[peer.name].append(data)
        return False

    def of(self, switch: str) -> str:
        return next(c.name for c in self.domain.controllers if switch in c.switches)

    def pump(self, now: float) -> int:
        n = 0
        while any(self.inbox.values()):
            for name, queue in self.inbox.items():
                while queue:
                    got = self.links[name].receive(queue.popleft())
                    if got is not None:
                        self.cores[name].receive_signalling(got[0], got[1], now)
                    n += 1
        return n

    def attach(self, mn: str, switch: str, now: float) -> None:
        self.harness[self.of(switch)].attach(mn, switch, now=now)
        self.pump(now)

    def detach(self, switch: str, now: float) -> None:
        self.harness[self.of(switch)].detach(switch, now=now)
        self.pump(now)


@pytest.fixture
def instances(doc, build_domain) -> Instances:
    doc["controllers"] = SPLIT
    doc["security"] = {"key": KEY}
    return Instances(build_domain(doc))


def test_registration_and_a_move_between_regions_across_instances(instances):
    ins = instances
    ins.attach("mn1", "emag1", now=1.0)  # emag1 and elma1 are both r1's: nothing on the wire
    assert ins.links["r1"].datagrams_sent == 0
    assert ins.cores["r1"].binding("mn1")["proxy_coa"] == "2001:db8:ffff::1"
    ins.attach("mn2", "emag4", now=1.1)
    assert ins.cores["r3"].binding("mn2")["proxy_coa"] == "2001:db8:ffff::4"
    # mn1 moves to emag3 (r3's) but stays anchored at elma1 (r1's): PBU/PBA and PBCI/PBCA cross
    ins.detach("emag1", now=2.0)
    ins.attach("mn1", "emag3", now=2.1)
    assert ins.cores["r1"].binding("mn1")["proxy_coa"] == "2001:db8:ffff::3"
    assert ins.cores["r3"].attachment_of("mn1") is not None and ins.cores["r1"].attachment_of("mn1") is None
    r3_sent = ins.harness["r3"].messages()
    assert {"PBU", "PBCI"} <= {m.TYPE for m in r3_sent if m.dst in ("elma1", "emag1")}
    assert ins.links["r3"].datagrams_sent >= 2 and ins.links["r1"].datagrams_sent >= 2
    assert all(not core.bus.errors for core in ins.cores.values())


def test_a_stopped_instance_is_logged_by_name_and_the_others_go_on(instances, caplog):
    ins = instances
    ins.down.add("r1")
    caplog.set_level("ERROR", logger="epmip.placement")
    ins.attach("mn1", "mag5", now=1.0)  # a legacy MAG; mn1's anchor elma1 is r1's, which is gone
    assert ins.cores["legacy"].bus.errors["peer_unreachable"] >= 1
    assert any("signalling peer r1 ([::1]:47101) is unreachable" in r.getMessage() for r in caplog.records)
    ins.attach("cn2", "mag5", now=1.2)  # the legacy part's own MN still registers with its own LMA
    assert ins.cores["legacy"].binding("cn2")["proxy_coa"] == "2001:db8:ffff::5"
    ins.down.discard("r1")
    caplog.set_level("WARNING", logger="epmip.placement")
    ins.harness["legacy"].ctl.tick(2.5)  # the PBU is sent again (RFC 5213 back-off) and answered
    ins.pump(2.5)
    assert ins.cores["r1"].binding("mn1")["proxy_coa"] == "2001:db8:ffff::5"
    assert any("signalling peer r1 ([::1]:47101) is reachable again" in r.getMessage() for r in caplog.records)


def test_datagrams_that_are_not_authentic_or_well_formed_are_dropped_and_counted(instances, caplog):
    ins = instances
    link, core = ins.links["r1"], ins.cores["r1"]
    good = wire.encode(PBQR(src="emag4", dst="elma1", seq=1, address="2001:db8:a:1::10",
                            requester="2001:db8:ffff::4"),
                       pair_key(KEY.encode(), "emag4", "elma1"), "2001:db8:ffff::4", "2001:db8:ffff::11")  # fmt: skip
    assert link.receive(good) is not None
    forged = wire.encode(PBQR(src="emag4", dst="elma1", seq=1, address="2001:db8:a:1::10",
                              requester="2001:db8:ffff::4"),
                         b"x" * 32, "2001:db8:ffff::4", "2001:db8:ffff::11")  # fmt: skip
    caplog.set_level("ERROR", logger="epmip.placement")
    assert link.receive(forged) is None and core.bus.errors["unauthenticated"] == 1
    assert link.receive(good[:-8]) is None and core.bus.errors["malformed"] == 1
    wrong_checksum = good[:4] + bytes([good[4] ^ 0xFF]) + good[5:]
    assert link.receive(wrong_checksum) is None and core.bus.errors["malformed"] == 2
    assert "unauthenticated signalling datagram" in caplog.text and "checksum does not match" in caplog.text
    assert core.stats()["signalling_errors"] == {"unauthenticated": 1, "malformed": 2}


def test_an_unknown_instance_is_refused(doc, build_domain):
    doc["controllers"] = SPLIT
    with pytest.raises(PlacementError, match="not one of the domain's controllers"):
        Placement(build_domain(doc), "r2")
    del doc["controllers"]
    with pytest.raises(PlacementError, match="no controllers: section"):
        Placement(build_domain(doc), "r1")


def test_pbu_retransmission_follows_the_rfc_5213_timers(doc, build_domain):
    """InitialBindackTimeoutFirstReg, doubled per resend, capped by MaxBindackTimeout: a PBU that is
    never answered is sent again after 0.5 s, then after min(1.0, 0.6) and min(2.0, 0.6), then the
    registration is given up."""
    doc["timers"].update(initial_bindack_timeout=0.5, max_bindack_timeout=0.6)
    ctl = EpmipController(build_domain(doc))
    h = Harness(ctl)
    ctl.bus.faults = lambda msg: [] if msg.TYPE == "PBU" else [0.0]  # the LMA never hears it
    sends: list[float] = []
    ctl.bus.tap = lambda msg, now: sends.append(now) if msg.TYPE == "PBU" else None
    h.connect_all()
    h.attach("mn1", now=0.0)
    for step in range(1, 400):
        ctl.tick(step / 100)
    assert sends == pytest.approx([0.0, 0.5, 1.1, 1.7], abs=0.035)
    assert ctl.attachment_of("mn1") is None  # given up after the last resend
