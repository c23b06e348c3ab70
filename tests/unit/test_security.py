"""§8: with a domain signalling key every message carries an HMAC; an unauthenticated or forged
PBCI/PBCA/PBQR/... is dropped, counted and changes nothing."""

from __future__ import annotations

import pytest
from fakeof import FakeNet

from controller import hbh
from controller.config import ConfigError
from controller.messages import PBCI, PBQR, AuthenticationError, decode

KEY = "an example shared secret"


@pytest.fixture
def secure(doc, build_domain):
    doc["security"] = {"key": KEY}
    domain = build_domain(doc)
    net = FakeNet(domain)
    for host in ("mn1", "mn2"):
        net.attach(host)
    return net


def test_round_trip_with_a_key_and_refusals_without_it():
    msg = PBCI(src="emag2", dst="emag1", seq=9, mn_id="mn1", hnps=["2001:db8:a:1::/64"], new_coa="2001:db8:ffff::2")
    data = msg.encode(KEY.encode())
    assert decode(data, KEY.encode()) == msg
    with pytest.raises(AuthenticationError, match="not authenticated"):
        decode(msg.encode(), KEY.encode())
    with pytest.raises(AuthenticationError, match="does not match"):
        decode(msg.encode(b"another key of enough length"), KEY.encode())
    forged = data.replace(b"2001:db8:ffff::2", b"2001:db8:ffff::3")
    with pytest.raises(AuthenticationError, match="does not match"):
        decode(forged, KEY.encode())


def test_registration_and_routing_work_with_authenticated_signalling(secure):
    assert secure.ctl.binding("mn1")["state"] == "active"
    secure.send("mn1", secure.address("mn2"))
    trace = secure.send("mn1", secure.address("mn2"))
    assert "elma1" not in [a[0] for a in trace.arrivals]  # the DRF query was authenticated and answered
    assert secure.ctl.bus.errors == {}


def test_an_unauthenticated_pbci_is_dropped_and_changes_nothing(secure):
    secure.send("mn2", secure.address("mn1"))
    drf_before = secure.ctl.drf("emag4")
    bindings = secure.ctl.bindings()
    flows_before = sorted(f.describe() for f in secure.switch("emag4").flows())
    forged = PBCI(src="emag1", dst="emag4", seq=77, mn_id="mn1", hnps=[str(secure.hnp("mn1"))],
                  new_coa="2001:db8:ffff::3")  # fmt: skip
    secure.apply(secure.ctl.receive_signalling("emag4", forged.encode(), secure.now))  # no key
    secure.apply(secure.ctl.receive_signalling("emag4", forged.encode(b"a guessed key, wrong"), secure.now))
    assert secure.ctl.bus.errors["unauthenticated"] == 2
    assert secure.ctl.drf("emag4") == drf_before and secure.ctl.bindings() == bindings
    assert sorted(f.describe() for f in secure.switch("emag4").flows()) == flows_before


def test_hop_by_hop_query_is_authenticated_too():
    q = PBQR(src="emag1", dst="", seq=1, address="2001:db8:c:2::10", requester="2001:db8:ffff::1")
    frame = hbh.build(q, "2001:db8:ffff::1", "02:00:00:00:00:01", "02:00:00:00:00:01", KEY.encode())
    assert hbh.parse(frame, KEY.encode()) == q
    with pytest.raises(AuthenticationError):
        hbh.parse(hbh.build(q, "2001:db8:ffff::1", "02:00:00:00:00:01", "02:00:00:00:00:01"), KEY.encode())


def test_a_short_key_is_a_config_error(doc, build_domain):
    doc["security"] = {"key": "short"}
    with pytest.raises(ConfigError, match="security.key"):
        build_domain(doc)
