"""End to end, §4.4.3: the DRF asks its own eLMA, which relays to the eLMA holding the binding."""

from __future__ import annotations

from integration.helpers import anchor_packets, hnp, settled, tunnels

DOMAIN = {"lmf_discovery": "relay"}
CN1 = "2001:db8:f::10"


def queries(live) -> list[tuple[str, str, str]]:
    _, msgs = live.rest("/epmip/v1/messages?limit=200")
    return [(m["type"], m["src"], m["dst"]) for m in msgs["messages"] if m["type"] in ("PBQR", "PBQA")]


def test_443_relay_through_the_local_elma_finds_mn2(live):
    assert live.net.ping6("mn1", live.addresses["mn2"], count=3, interval=0.1) == (3, 3)
    relay = [
        ("PBQR", "emag1", "elma1"), ("PBQR", "elma1", "elma3"), ("PBQA", "elma3", "elma1"), ("PBQA", "elma1", "emag1"),
    ]  # fmt: skip
    # emag4's query for mn1 (the first reply) is relayed the other way round (elma3 -> elma1); which
    # of the two punts the controller reads first is up to the sockets, so only emag1's are checked
    assert [q for q in queries(live) if q in relay][:4] == relay
    assert tunnels(live, "emag1")[("mn1", hnp(live, "mn2"))] == ("direct", "emag4")
    before = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))
    assert live.net.ping6("mn1", live.addresses["mn2"], count=10, interval=0.05) == (10, 10)
    assert (settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))) == before


def test_51_relay_answers_no_location_at_once_for_a_legacy_cn(live):
    n = len(queries(live))
    assert live.net.ping6("mn1", live.addresses["cn2"], count=5, interval=0.1) == (5, 5)
    assert queries(live)[n : n + 2] == [("PBQR", "emag1", "elma1"), ("PBQA", "elma1", "emag1")]
    assert tunnels(live, "emag1")[("mn1", hnp(live, "cn2"))] == ("fallback", None)
    before = settled(lambda: anchor_packets("elma1"))
    assert live.net.ping6("mn1", live.addresses["cn2"], count=10, interval=0.05) == (10, 10)
    assert settled(lambda: anchor_packets("elma1")) - before >= 10  # PMIP via eLMA1


def test_52_relay_reaches_the_fixed_networks_lmf(live):
    assert live.net.ping6("mn1", CN1, count=3, interval=0.1) == (3, 3)
    assert tunnels(live, "emag1")[("mn1", "2001:db8:f::/64")] == ("direct", "ar1")
