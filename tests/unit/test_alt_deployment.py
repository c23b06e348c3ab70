"""The draft's §7 deployment (``examples/domain-alt.yaml``) on ``FakeNet``: legacy MAGs register
with eLMA(DRF)s (§7.2), which report locations to independent LMFs (consistent hashing, relaying,
§7.4), tunnel straight to each other (§7.2), keep sessions across a handoff to another, nearer eLMA
(§7.2 / §4.3), and reach CNs outside through the border gateway and fixed CNs inside through the
nearest anycast router with DRF (§7.3).  Packets are walked through the tables as they stand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fakeof import FakeNet, Trace, is_delivered, switches_crossed
from signals import Signals

from controller.config import parse_domain
from controller.effects import Effects
from controller.messages import LUR, Status, pair_key
from controller.ring import HashRing
from controller.view import prefix_of

ALT = Path(__file__).resolve().parents[2] / "examples" / "domain-alt.yaml"
HOSTS = ("mn1", "mn2", "mn3", "cno", "cna", "cnb")
ANCHORS_AND_ROUTERS = {"elma1", "elma2", "elma3", "r1", "r2", "bg"}


def make(**top) -> tuple[FakeNet, Signals]:
    doc = yaml.safe_load(ALT.read_text())
    doc.update(top)
    net = FakeNet(parse_domain(yaml.safe_dump(doc), source="<alt>"))
    net.walk_packet_outs = True  # a router's held packets are sent on through its tables
    sig = Signals(net)
    for host in HOSTS:
        net.attach(host)
    return net, sig


def path(net: FakeNet, src: str, dst: str, hops: list[str] | None = None) -> Trace:
    trace = net.send(src, net.address(dst))
    if hops is not None:
        assert switches_crossed(trace) == hops, trace.describe()
        assert is_delivered(trace, *net.port_of(dst)), trace.describe()
    return trace


def tunnels(net: FakeNet, switch: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(t["mn_id"], t["correspondent"]): (t["kind"], t["to"]) for t in net.ctl.drf(switch)["tunnels"]}


def responsible(net: FakeNet, mn: str) -> str:
    return HashRing(["lmf1", "lmf2"]).owner_of_prefix(net.hnp(mn))


def lmf_locations(net: FakeNet, lmf: str) -> dict[str, str]:
    return {e["mn_id"]: e["coa"] for e in net.ctl.nodes[lmf].to_json()["locations"]}


# ------------------------------------------------------------------ §7.2 registration + location update


def test_legacy_mag_registers_with_the_nearest_elma_which_updates_the_responsible_lmf():
    net, sig = make()
    binding = net.ctl.binding("mn1")
    assert binding["lma"] == "elma1" and binding["proxy_coa"] == "2001:db8:ffff::1"
    assert [net.ctl.binding(m)["lma"] for m in ("mn2", "mn3")] == ["elma3", "elma2"]
    # the MNs' HNPs come from their profile eLMA's pool; no eLMA announces a prefix
    assert str(net.hnp("mn1")).startswith("2001:db8:a1:")
    owner = responsible(net, "mn1")
    assert lmf_locations(net, owner)["mn1"] == "2001:db8:ffff::11"
    other = ({"lmf1", "lmf2"} - {owner}).pop()
    assert "mn1" not in lmf_locations(net, other)
    # the message pair went to elma1's preferred LMF (lmf1), relayed when lmf2 is responsible
    net.detach("mn1")
    sig.take()
    net.attach("mn1", "mag1")
    expected = [("PBU", "mag1", "elma1"), ("LUR", "elma1", "lmf1"), ("PBA", "elma1", "mag1")]
    if owner == "lmf2":
        expected += [("LUR", "lmf1", "lmf2"), ("LUA", "lmf2", "lmf1")]
    expected += [("LUA", "lmf1", "elma1")]
    assert sig.take() == expected
    stats = net.ctl.stats()
    assert stats["messages"]["LUR"] >= 2 and stats["messages"]["LUR"] == stats["messages"]["LUA"]


def test_location_updates_are_authenticated_like_the_other_messages():
    net, _ = make()
    secret = b"example-only-epmip-signalling-key"
    forged = LUR(src="elma2", dst="lmf1", seq=9, mn_id="mn1", hnps=[str(net.hnp("mn1"))],
                 coa="2001:db8:ffff::12", lifetime=60.0, timestamp=1.0)  # fmt: skip
    before = net.ctl.stats()["signalling_errors"].get("unauthenticated", 0)
    net.apply(net.ctl.receive_signalling("lmf1", forged.encode(pair_key(b"wrong-key-wrong-key", "elma2", "lmf1")), 1.0))
    assert net.ctl.stats()["signalling_errors"]["unauthenticated"] == before + 1
    assert lmf_locations(net, responsible(net, "mn1"))["mn1"] == "2001:db8:ffff::11"  # unchanged
    net.apply(net.ctl.receive_signalling("lmf1", forged.encode(pair_key(secret, "elma2", "lmf1")), 1.0))
    assert lmf_locations(net, responsible(net, "mn1"))["mn1"] == "2001:db8:ffff::12"  # the real key works


def test_the_lmf_refuses_an_older_update_and_a_withdrawal_from_an_elma_the_mn_left():
    net, sig = make()
    owner = responsible(net, "mn1")
    lmf = net.ctl.nodes[owner].lmf
    hnp = str(net.hnp("mn1"))
    newer = LUR(src="elma2", dst=owner, seq=1, mn_id="mn1", hnps=[hnp], coa="2001:db8:ffff::12", lifetime=60.0,
                timestamp=50.0)  # fmt: skip
    lmf.on_lur(newer, 1.0)
    older = LUR(src="elma3", dst=owner, seq=2, mn_id="mn1", hnps=[hnp], coa="2001:db8:ffff::13", lifetime=60.0,
                timestamp=10.0)  # fmt: skip
    (answer,) = lmf.on_lur(older, 1.0).messages
    assert answer.status == Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
    withdraw = LUR(src="elma1", dst=owner, seq=3, mn_id="mn1", hnps=[hnp], coa="2001:db8:ffff::11", lifetime=0.0,
                   timestamp=60.0)  # fmt: skip
    lmf.on_lur(withdraw, 1.0)
    assert lmf_locations(net, owner)["mn1"] == "2001:db8:ffff::12"


# ------------------------------------------------------------------ §7.2 optimized routing


def test_elma1_tunnels_straight_to_elma3_both_ways():
    net, sig = make()
    first = path(net, "mn1", "mn2")  # the first packet: via the nearest anycast router, held there
    assert is_delivered(net.packet_out_traces[-1], *net.port_of("mn2"))
    assert ("PBQR", "elma1", "lmf1") in sig.take()
    assert first.punts  # elma1 punted the headers: its DRF asked the LMF
    assert tunnels(net, "elma1")[("mn1", str(net.hnp("mn2")))] == ("direct", "elma3")
    up = path(net, "mn1", "mn2", ["mag1", "c1", "elma1", "c1", "c2", "c3", "elma3", "c3", "mag3"])
    assert not up.punts
    path(net, "mn2", "mn1")
    down = path(net, "mn2", "mn1", ["mag3", "c3", "elma3", "c3", "c2", "c1", "elma1", "c1", "mag1"])
    assert not down.punts and sig.take().count(("PBQR", "elma3", "lmf2")) == 1
    # no third anchor, no router: only the two eLMAs of the MNs
    assert ANCHORS_AND_ROUTERS & set(switches_crossed(up)) == {"elma1", "elma3"}


def test_elma_cache_hit_needs_no_query():
    net, sig = make()
    path(net, "mn1", "mn2")
    sig.take()
    fx = Effects()
    net.ctl.nodes["elma1"].drf.drop_direct(net.hnp("mn2"), fx)  # as if the entry had gone
    net.apply(fx.intents)
    path(net, "mn1", "mn2")  # punted again: the location is still cached
    assert not [m for m in sig.take() if m[0] == "PBQR" and m[1] == "elma1"]
    assert net.ctl.counters["drf_cache_hit"] >= 1


# ------------------------------------------------------------------ §7.2 handoff to the best eLMA


def test_handoff_to_a_nearer_elma_keeps_the_hnp_and_redirects_the_correspondents():
    net, sig = make()
    path(net, "mn1", "mn2")
    path(net, "mn2", "mn1")
    hnp = net.hnp("mn1")
    sig.take()
    net.move("mn1", "mag2")
    msgs = sig.take()
    assert net.ctl.binding("mn1")["lma"] == "elma2"  # mag2's nearest eLMA(DRF), not elma1
    assert net.hnp("mn1") == hnp
    assert msgs.index(("PBU", "mag2", "elma2")) < msgs.index(("LUR", "elma2", "lmf1"))
    assert ("PBCI", "elma2", "elma1") in msgs and ("PBCI", "elma1", "elma3") in msgs  # eLMA2's DMF -> eLMA1
    assert tunnels(net, "elma3")[("mn2", str(hnp))] == ("direct", "elma2")
    assert tunnels(net, "elma2")[("mn1", str(net.hnp("mn2")))] == ("direct", "elma3")
    assert [r["to"] for r in net.ctl.drf("elma1")["redirects"]] == ["elma2"]
    path(net, "mn2", "mn1", ["mag3", "c3", "elma3", "c3", "c2", "elma2", "c2", "mag2"])
    path(net, "mn1", "mn2", ["mag2", "c2", "elma2", "c2", "c3", "elma3", "c3", "mag3"])
    assert lmf_locations(net, responsible(net, "mn1"))["mn1"] == "2001:db8:ffff::12"
    # elma1's de-registered binding goes after MinDelayBeforeBCEDelete; its withdrawal changes nothing
    net.advance(11)
    net.advance(1)
    assert lmf_locations(net, responsible(net, "mn1"))["mn1"] == "2001:db8:ffff::12"
    assert net.ctl.drf("elma1")["redirects"] == []


def test_elma_selection_configured_keeps_the_mags_own_elma():
    doc = yaml.safe_load(ALT.read_text())
    for sw in doc["switches"]:
        if sw["name"] == "mag2":
            sw["lma"] = "elma1"
    net, sig = make(elma_selection="configured", switches=doc["switches"])
    net.move("mn1", "mag2")
    assert net.ctl.binding("mn1")["lma"] == "elma1"
    assert not [m for m in sig.take() if m[0] == "PBCI"]


# ------------------------------------------------------------------ §7.3 outside and fixed CNs


def test_cn_outside_the_area_is_reached_through_the_border_gateway():
    net, sig = make()
    path(net, "mn1", "cno")
    assert tunnels(net, "elma1")[("mn1", "2001:db8:e::/64")] == ("direct", "bg")
    path(net, "mn1", "cno", ["mag1", "c1", "elma1", "c1", "c2", "bg"])
    path(net, "cno", "mn1")
    path(net, "cno", "mn1", ["bg", "c2", "c1", "elma1", "c1", "mag1"])
    assert tunnels(net, "bg")[("cno", str(net.hnp("mn1")))] == ("direct", "elma1")


@pytest.mark.parametrize(("cn", "router"), [("cna", "r1"), ("cnb", "r2")])
def test_fixed_cn_inside_reaches_the_mn_through_the_nearest_anycast_router(cn, router):
    net, sig = make()
    first = path(net, cn, "mn1")
    assert router in switches_crossed(first)  # held at the router and sent on once located
    assert is_delivered(net.packet_out_traces[-1], *net.port_of("mn1"))
    again = path(net, cn, "mn1")
    assert is_delivered(again, *net.port_of("mn1"))
    crossed = switches_crossed(again)
    assert router in crossed and ({"r1", "r2", "bg"} - {router}).isdisjoint(crossed)
    assert tunnels(net, router)[("(transit)", str(net.hnp("mn1")))] == ("direct", "elma1")
    # the MN's side: no location for a fixed network inside the area, plain routing toward it
    path(net, "mn1", cn)
    assert tunnels(net, "elma1")[("mn1", str(prefix_of(net.node(cn).address)))] == ("fallback", None)


def test_the_anycast_router_follows_the_mn_across_a_handoff():
    net, sig = make()
    path(net, "cna", "mn1")
    path(net, "cna", "mn1")
    sig.take()
    net.move("mn1", "mag2")
    assert ("PBCI", "elma1", "r1") in sig.take()  # r1 held mn1's location: told of the move
    path(net, "cna", "mn1", ["fa", "c1", "r1", "c1", "c2", "elma2", "c2", "mag2"])


# ------------------------------------------------------------------ §7.4 consistent hashing


def test_adding_an_lmf_moves_only_its_share():
    hnps = [f"2001:db8:a1:{i:x}::/64" for i in range(4000)]
    three = HashRing(["lmf1", "lmf2", "lmf3"])
    four = HashRing(["lmf1", "lmf2", "lmf3", "lmf4"])
    before = {h: three.owner(h) for h in hnps}
    after = {h: four.owner(h) for h in hnps}
    moved = [h for h in hnps if before[h] != after[h]]
    assert all(after[h] == "lmf4" for h in moved)  # nothing moves between the old LMFs
    assert moved and sorted(moved) == sorted(h for h in hnps if after[h] == "lmf4")
    share = len(moved) / len(hnps)
    assert 0.15 < share < 0.35, share  # about 1/4; hash % n would move about 3/4
    modulo_moved = sum(1 for i, _ in enumerate(hnps) if i % 3 != i % 4) / len(hnps)
    assert modulo_moved > 0.7


def test_every_lmf_relays_to_the_same_responsible_one():
    net, _ = make()
    for lmf in ("lmf1", "lmf2"):
        ring = net.ctl.nodes[lmf].lmf.ring
        assert ring.owner_of_prefix(net.hnp("mn1")) == responsible(net, "mn1")


def test_a_router_holds_a_bounded_number_of_packets_for_a_bounded_time():
    from controller.border import HOLD_PACKETS, HOLD_TIME, TRANSIT_KEY

    net, _ = make()
    held = net.ctl.nodes["r1"].held
    dst = net.hnp("mn2").network_address + 7  # any address in an MN's HNP
    for i in range(HOLD_PACKETS + 3):
        held.hold(TRANSIT_KEY, dst, 1, bytes([i]) * 60, now=1.0)
    assert len(held.held[net.hnp("mn2")]) == HOLD_PACKETS
    assert net.ctl.counters["area_held_dropped_overflow"] == 3
    held.expire(1.0 + HOLD_TIME - 0.01)
    assert len(held.held[net.hnp("mn2")]) == HOLD_PACKETS  # not yet
    held.expire(1.0 + HOLD_TIME)
    assert net.hnp("mn2") not in held.held
    assert net.ctl.counters["area_held_dropped_timeout"] == HOLD_PACKETS


def test_an_lmf_passes_back_only_the_answer_to_what_it_relayed():
    net, _ = make()
    owner = responsible(net, "mn2")
    other = ({"lmf1", "lmf2"} - {owner}).pop()
    lmf = net.ctl.nodes[other].lmf
    from controller.messages import PBQA, PBQR

    fx = lmf.on_pbqr(
        PBQR(src="elma2", dst=other, seq=40, address=net.address("mn2"), requester="2001:db8:ffff::12"), 1.0
    )
    (relayed,) = fx.messages
    assert (relayed.TYPE, relayed.dst) == ("PBQR", owner)
    wrong = PBQA(src=owner, dst=other, seq=relayed.seq, address="2001:db8:a1:1::1", coa="2001:db8:ffff::11")
    assert lmf.handle(wrong, 1.0).messages == []  # an answer about another address
    assert net.ctl.counters["rejected_unmatched_relay_answer"] == 1
    right = PBQA(src=owner, dst=other, seq=relayed.seq, address=net.address("mn2"), coa="2001:db8:ffff::13")
    (back,) = lmf.handle(right, 1.0).messages
    assert (back.dst, back.seq, back.coa) == ("elma2", 40, "2001:db8:ffff::13")


# ------------------------------------------------------------------ the state store


def test_an_elma_drf_keeps_its_drf_and_dmf_state_in_the_store():
    """An eLMA(DRF)'s direct tunnels are stored like an eMAG's (its snapshot has its DRF records),
    and a node restored from them has the same tunnels."""
    net, _ = make()
    path(net, "mn1", "mn2")
    path(net, "mn2", "mn1")
    snap = net.ctl.nodes["elma1"].snapshot(0.0)
    kinds = {kind for kind, _, value in snap if value is not None}
    assert {"drf.loc", "drf.ep"} <= kinds, kinds
    before = tunnels(net, "elma1")
    assert before
    doc = yaml.safe_load(ALT.read_text())
    again = FakeNet(parse_domain(yaml.safe_dump(doc), source="<alt>"), connect=False)
    node = again.ctl.nodes["elma1"]
    for kind, ident, value in snap:
        if value is not None and kind in ("drf.loc", "drf.ep", "dmf"):
            assert node.restore(kind, ident.split(" ", 1)[1], value, 0.0)
    assert tunnels(again, "elma1") == before


def test_a_border_gateway_keeps_its_drf_state_in_the_store_and_no_marks_pile_up(monkeypatch):
    """The BG's DRF/DMF records are stored like an access router's; without a store, what the
    events marked changed is dropped every ``MARKS_KEPT`` events (it used to stay, growing with
    every location) - here after each one."""
    from controller import core

    monkeypatch.setattr(core, "MARKS_KEPT", 1)
    net, _ = make()
    path(net, "cno", "mn1")
    path(net, "cno", "mn1")
    bg = net.ctl.nodes["bg"]
    assert not bg.drf.changed_locations and not bg.drf.changed_endpoints and not bg.dmf.changed
    kinds = {kind for kind, _, value in bg.snapshot(0.0) if value is not None}
    assert {"drf.loc", "drf.ep"} <= kinds, kinds
