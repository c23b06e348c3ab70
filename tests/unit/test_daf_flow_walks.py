"""What the DRF/DMF tables do to packets, step by step (examples/domain.yaml on ``FakeNet``).

Before the location query a packet takes the PMIP path through both anchors; after it, the direct
eMAG-eMAG tunnel.  During a handoff each window is frozen by holding one signalling message in the
dispatcher, and a packet is walked through the tables as they stand in that window.
"""

from __future__ import annotations

from fakeof import FakeNet, Trace, ipv6_packet, is_delivered, switches_crossed
from signals import Hold

from openflow_rules.intents import ETH_TYPE_MPLS
from openflow_rules.pipeline import Fn, Table, cookie

VIA_ANCHORS = ["emag1", "c1", "elma1", "c1", "c2", "elma3", "c2", "emag4"]
DIRECT_1_4 = ["emag1", "c1", "c2", "emag4"]
DIRECT_2_4 = ["emag2", "c1", "c2", "emag4"]


def pbci(src: str):
    return lambda m: m.TYPE == "PBCI" and m.src == src


def label(net: FakeNet, switch: str) -> int:
    return net.domain.switches[switch].label


def anchored(net: FakeNet) -> int:
    """Packets the eLMAs handled: tunnel ends popped there plus their binding flows."""
    n = 0
    for name in ("elma1", "elma3"):
        sw = net.switch(name)
        n += sum(f.packets for f in sw.flows(Table.LABEL) if f.match.get("mpls_label") == label(net, name))
        n += sum(f.packets for f in sw.flows(cookie=cookie(Fn.BINDING), mask=0xFFFF << 48))
    return n


def drf_packets(net: FakeNet, switch: str) -> int:
    return sum(f.packets for f in net.switch(switch).flows(cookie=cookie(Fn.DRF), mask=0xFFFF << 48))


def walk(net: FakeNet, src: str, dst: str, path: list[str]) -> Trace:
    """``src`` sends to ``dst``: the packet crosses ``path`` and is delivered on ``dst``'s port."""
    trace = net.send(src, net.address(dst))
    assert switches_crossed(trace) == path, trace.describe()
    assert is_delivered(trace, *net.port_of(dst)), trace.describe()
    out = trace.outcome.packet
    assert out["mpls"] == [] and out["eth_dst"] == net.node(dst).mac
    assert (out["ipv6_src"], out["ipv6_dst"]) == (net.address(src), net.address(dst))
    return trace


def tunnelled(net: FakeNet, switch: str, dst: str, via: int) -> Trace:
    """A packet for ``dst`` arriving at ``switch`` on trunk port ``via`` in a tunnel to ``switch``
    (as from a correspondent whose DRF entry still points here)."""
    pkt = ipv6_packet(net.address("mn2"), net.address(dst), "0a:00:00:00:00:99", net.domain.router_mac,
                      eth_type=ETH_TYPE_MPLS, mpls=[label(net, switch)])  # fmt: skip
    return net.net.walk(switch, via, pkt)


def leaving(trace: Trace, switch: str) -> dict:
    return trace.arrivals[switches_crossed(trace).index(switch) + 1][2]


# ------------------------------------------------------------------ route optimization


def test_first_packet_via_both_elmas_then_the_direct_tunnel_both_ways(fake):
    first = walk(fake, "mn1", "mn2", VIA_ANCHORS)
    assert len(first.punts) == 1 and first.punts[0].switch == "emag1"
    assert anchored(fake) == 2  # the reverse tunnel popped at elma1, elma3's binding flow
    before = anchored(fake)
    second = walk(fake, "mn1", "mn2", DIRECT_1_4)
    assert second.punts == [] and anchored(fake) == before
    assert leaving(second, "emag1")["mpls"] == [label(fake, "emag4")]  # c1 and c2 only transit it
    assert leaving(second, "c2")["mpls"] == [label(fake, "emag4")]
    assert drf_packets(fake, "emag1") == 1
    reply = walk(fake, "mn2", "mn1", list(reversed(VIA_ANCHORS)))
    assert len(reply.punts) == 1 and reply.punts[0].switch == "emag4"
    before = anchored(fake)
    for _ in range(3):
        assert walk(fake, "mn2", "mn1", list(reversed(DIRECT_1_4))).punts == []
        assert walk(fake, "mn1", "mn2", DIRECT_1_4).punts == []
    assert anchored(fake) == before
    assert (drf_packets(fake, "emag1"), drf_packets(fake, "emag4")) == (4, 3)


def test_a21_stays_within_core_c1(fake):
    walk(fake, "mn1", "mn3", ["emag1", "c1", "elma1", "c1", "emag2"])
    trace = walk(fake, "mn1", "mn3", ["emag1", "c1", "emag2"])
    assert leaving(trace, "emag1")["mpls"] == [label(fake, "emag2")]
    walk(fake, "mn3", "mn1", ["emag2", "c1", "elma1", "c1", "emag1"])
    walk(fake, "mn3", "mn1", ["emag2", "c1", "emag1"])


def test_fallback_correspondents_keep_the_pmip_path(fake):
    path = ["emag1", "c1", "elma1", "c1", "lma", "c1", "mag5"]
    assert walk(fake, "mn1", "cn2", path).punts != []
    assert walk(fake, "mn1", "cn2", path).punts == []  # fallback entry: same path, no punt


# ------------------------------------------------------------------ handoff A22, window by window


def test_handoff_a22_every_window(fake):
    for a, b in (("mn1", "mn2"), ("mn2", "mn1")):
        fake.send(a, fake.address(b))
    # 1. mn1 left emag1, not attached anywhere: emag4's tunnel still ends at emag1, which has no
    #    delivery for mn1 and routes to the anchor, whose de-registered binding drops (no loop)
    fake.detach("mn1")
    trace = fake.send("mn2", fake.address("mn1"))
    assert switches_crossed(trace) == ["emag4", "c2", "c1", "emag1", "c1", "elma1"]
    assert trace.outcome.kind == "dropped" and trace.outcome.switch == "elma1"
    # 2. registered at emag2, the PBCI to emag1 not yet there: emag1 hands it to the anchor, which
    #    already points at emag2
    to_p = Hold(fake, "emag1", pbci("emag2"))
    fake.attach("mn1", "emag2")
    walk(fake, "mn2", "mn1", ["emag4", "c2", "c1", "emag1", "c1", "elma1", "c1", "emag2"])
    # 3. emag1 has the PBCI (redirect to emag2), emag4 not yet: emag1 forwards without the anchor
    to_cn = Hold(fake, "emag4", pbci("emag1"))
    to_p.release()
    assert [m.dst for m in to_cn.held] == ["emag4"]
    trace = walk(fake, "mn2", "mn1", ["emag4", "c2", "c1", "emag1", "c1", "emag2"])
    assert leaving(trace, "emag1")["mpls"] == [label(fake, "emag2")]
    (redirect,) = fake.switch("emag1").flows(cookie=cookie(Fn.REDIRECT, fake.ctl.mn_index["mn1"]))
    assert redirect.packets == 1
    trace = tunnelled(fake, "emag1", "mn1", via=1)  # a packet in flight in the old tunnel
    assert switches_crossed(trace) == ["emag1", "c1", "emag2"] and is_delivered(trace, *fake.port_of("mn1"))
    # mn1's own uplink is direct already: emag2 learnt mn2's location from emag1's PBCA
    walk(fake, "mn1", "mn2", DIRECT_2_4)
    # 4. emag4 has the PBCI: straight to emag2
    to_cn.release()
    before = anchored(fake)
    walk(fake, "mn2", "mn1", ["emag4", "c2", "c1", "emag2"])
    walk(fake, "mn1", "mn2", DIRECT_2_4)
    assert anchored(fake) == before and redirect.packets == 2


def test_handoff_make_before_break_never_sends_to_the_old_port(fake):
    for a, b in (("mn1", "mn2"), ("mn2", "mn1")):
        fake.send(a, fake.address(b))
    old = fake.where.pop("mn1")
    del fake.net.host_ports[old]
    fake.attach("mn1", "emag2")  # the new port is up before the old one went down
    walk(fake, "mn2", "mn1", ["emag4", "c2", "c1", "emag2"])
    walk(fake, "mn1", "mn2", DIRECT_2_4)
    fake.apply(fake.ctl.port_removed(fake.dpid(old[0]), old[1], fake.now))
    walk(fake, "mn2", "mn1", ["emag4", "c2", "c1", "emag2"])


# ------------------------------------------------------------------ handoff A21


def test_handoff_a21_to_emag3(fake):
    for a, b in (("mn1", "mn3"), ("mn3", "mn1")):
        fake.send(a, fake.address(b))
    to_cn = Hold(fake, "emag2", pbci("emag1"))
    fake.move("mn1", "emag3")
    walk(fake, "mn3", "mn1", ["emag2", "c1", "emag1", "c1", "c2", "emag3"])  # via emag1's redirect
    walk(fake, "mn1", "mn3", ["emag3", "c2", "c1", "emag2"])
    to_cn.release()
    walk(fake, "mn3", "mn1", ["emag2", "c1", "c2", "emag3"])
    assert fake.ctl.binding("mn1")["lma"] == "elma1"


def test_handoff_onto_the_correspondents_own_emag_delivers_locally(fake):
    for a, b in (("mn1", "mn3"), ("mn3", "mn1")):
        fake.send(a, fake.address(b))
    fake.move("mn1", "emag2")
    assert walk(fake, "mn1", "mn3", ["emag2"]).punts == []
    assert walk(fake, "mn3", "mn1", ["emag2"]).punts == []
    fake.move("mn1", "emag1")  # and back: emag2's entry for mn3 tunnels to emag1 again
    walk(fake, "mn3", "mn1", ["emag2", "c1", "emag1"])
    walk(fake, "mn1", "mn3", ["emag1", "c1", "emag2"])


# ------------------------------------------------------------------ location cache and flows agree


def test_n_emag_uses_and_keeps_the_pbca_location_over_an_older_query_answer(fake):
    """emag2 located mn2 at emag4 for mn3 (PBQA).  mn2 then moves to emag3 - mn2 never sent to
    mn3, but elma3 gave emag2 mn2's location, so the PBA names emag2 a holder and it is told
    (PBCI) -, and mn1 arrives at emag2 with emag1's PBCA saying mn2 is at emag3."""
    for a, b in (("mn1", "mn2"), ("mn2", "mn1"), ("mn3", "mn2")):
        fake.send(a, fake.address(b))
    fake.move("mn2", "emag3")
    fake.move("mn1", "emag2")
    views = {(t["mn_id"], t["correspondent"]): t["to"] for t in fake.ctl.drf("emag2")["tunnels"]}
    hnp2 = str(fake.hnp("mn2"))
    assert views == {("mn1", hnp2): "emag3", ("mn3", hnp2): "emag3"}
    (loc,) = [e for e in fake.ctl.drf("emag2")["location_cache"] if e["prefix"] == hnp2]
    assert (loc["switch"], loc["source"]) == ("emag3", "pbci")
    walk(fake, "mn1", "mn2", ["emag2", "c1", "c2", "emag3"])
    walk(fake, "mn3", "mn2", ["emag2", "c1", "c2", "emag3"])
    fake.connect("emag2")  # a reconnect re-installs the DRF entries from the location cache
    walk(fake, "mn1", "mn2", ["emag2", "c1", "c2", "emag3"])
    walk(fake, "mn3", "mn2", ["emag2", "c1", "c2", "emag3"])
