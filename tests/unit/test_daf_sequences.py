"""Exact DRF (§4.2) and DMF (§4.3) signalling on the reference domain (examples/domain.yaml).

Every test drives the real controller through ``FakeNet`` and reads the dispatcher's log: which
messages went, from whom to whom, in which order.  A22 is mn1 (emag1, elma1) with mn2 (emag4,
elma3); A21 is mn1 with mn3 (emag2), both on elma1.  Time only moves when a test sets it.
"""

from __future__ import annotations

import pytest
from fakeof import FakeNet, is_delivered, switches_crossed
from signals import Hold, Signals

from controller.dmf import DEPARTED_KEEP, PBCA_WAIT, REDIRECT_HOLD
from controller.messages import PBCI, PBQA, Status
from openflow_rules.intents import ToController
from openflow_rules.pipeline import FULL_MASK, Fn, Prio, Table, cookie

ADDR = {f"emag{i}": f"2001:db8:ffff::{i}" for i in range(1, 5)}
DEREG_EMAG1 = [("PBU", "emag1", "elma1"), ("PBA", "elma1", "emag1")]


def query(requester: str, lmf: str) -> list[tuple[str, str, str]]:
    return [("PBQR", requester, lmf), ("PBQA", lmf, requester)]


@pytest.fixture
def sig(fake) -> Signals:
    return Signals(fake)


def at(net: FakeNet, t: float) -> None:
    net.now = t
    net.apply(net.ctl.tick(t))


def talk(net: FakeNet, a: str, b: str) -> None:
    net.send(a, net.address(b))
    net.send(b, net.address(a))


def tunnels(net: FakeNet, switch: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(t["mn_id"], t["correspondent"]): (t["kind"], t["to"]) for t in net.ctl.drf(switch)["tunnels"]}


def hnp(net: FakeNet, mn: str) -> str:
    return str(net.hnp(mn))


def move(net: FakeNet, host: str, switch: str, order: str = "break-before-make") -> None:
    """Port removed then added, or (make-before-break) added on ``switch`` then removed."""
    if order == "break-before-make":
        net.move(host, switch)
        return
    old, port = net.where.pop(host)
    del net.net.host_ports[(old, port)]
    net.attach(host, switch)
    net.apply(net.ctl.port_removed(net.dpid(old), port, net.now))


def mn_flows(net: FakeNet, switch: str, mn: str) -> list:
    """Every flow on ``switch`` with one of ``mn``'s cookies (access, DRF, redirect)."""
    obj = net.ctl.mn_index[mn]
    sw = net.switch(switch)
    drf = sw.flows(cookie=cookie(Fn.DRF, obj << 24), mask=FULL_MASK & ~0xFFFFFF)
    return sw.flows(cookie=cookie(Fn.ACCESS, obj)) + drf + sw.flows(cookie=cookie(Fn.REDIRECT, obj))


def snapshot(net: FakeNet) -> tuple:
    flows = {name: sorted(f.describe() for f in sw.flows()) for name, sw in net.net.switches.items()}
    views = {name: net.ctl.drf(name) for name in ("emag1", "emag2", "emag3", "emag4")}
    return flows, net.ctl.bindings(), views, {m: net.ctl.attachment_of(m) for m in net.ctl.mn_index}


# ------------------------------------------------------------------ DRF: route set-up


def test_a22_one_query_per_direction_then_silence(fake, sig):
    fake.send("mn1", fake.address("mn2"))
    assert sig.take() == query("emag1", "elma3")
    pbqr, pbqa = sig.last
    assert pbqr.address == fake.address("mn2") and pbqr.requester == ADDR["emag1"]
    assert (pbqa.seq, pbqa.status, pbqa.coa) == (pbqr.seq, Status.ACCEPTED, ADDR["emag4"])
    assert pbqa.hnps == [hnp(fake, "mn2")]
    fake.send("mn2", fake.address("mn1"))
    assert sig.take() == query("emag4", "elma1")
    assert sig.last[1].coa == ADDR["emag1"]
    for _ in range(3):
        talk(fake, "mn1", "mn2")
    assert sig.take() == []
    assert tunnels(fake, "emag1") == {("mn1", hnp(fake, "mn2")): ("direct", "emag4")}
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("direct", "emag1")}
    assert fake.ctl.counters["lmf_query"] == 2 and fake.ctl.counters["drf_direct_installed"] == 2


def test_a21_query_goes_to_the_common_elma_and_the_tunnel_to_emag2(fake, sig):
    fake.send("mn1", fake.address("mn3"))
    assert sig.take() == query("emag1", "elma1")
    assert sig.last[1].coa == ADDR["emag2"]
    assert tunnels(fake, "emag1") == {("mn1", hnp(fake, "mn3")): ("direct", "emag2")}
    (flow,) = [f for f in fake.switch("emag1").flows(Table.UPLINK) if f.priority == Prio.DRF]
    assert flow.match["ipv6_dst"] == hnp(fake, "mn3")
    assert flow.actions[1].value == fake.domain.switches["emag2"].label
    fake.send("mn1", fake.address("mn3"))
    assert sig.take() == []


# ------------------------------------------------------------------ DRF: no location


def fallback_flows(net: FakeNet, prefix: str) -> list:
    return [
        f
        for f in net.switch("emag1").flows(Table.UPLINK)
        if f.priority == Prio.DRF_FALLBACK and f.match["ipv6_dst"] == prefix
    ]


@pytest.mark.parametrize("dst", ["cn2", "2001:db8:99::1"], ids=["legacy-lma-cn2", "no-prefix"])
def test_no_lmf_falls_back_without_any_message(fake, sig, dst):
    address = fake.address(dst) if dst == "cn2" else dst
    prefix = str(fake.hnp("cn2")) if dst == "cn2" else "2001:db8:99::/64"
    first = fake.send("mn1", address)
    assert len(first.punts) == 1 and sig.take() == []
    assert tunnels(fake, "emag1") == {("mn1", prefix): ("fallback", None)}
    assert len(fallback_flows(fake, prefix)) == 1
    assert fake.send("mn1", address).punts == []  # the fallback entry stops the punts
    assert switches_crossed(first)[:3] == ["emag1", "c1", "elma1"]  # PMIP routing stays
    assert fake.ctl.counters["drf_no_lmf"] == 1 and sig.take() == []


def test_no_binding_in_an_elma_prefix_is_answered_no_location(fake, sig):
    fake.send("mn1", "2001:db8:a:77::1")
    assert sig.take() == query("emag1", "elma1")
    assert (sig.last[1].status, sig.last[1].coa) == (Status.NO_LOCATION, "")
    assert tunnels(fake, "emag1") == {("mn1", "2001:db8:a:77::/64"): ("fallback", None)}
    assert len(fallback_flows(fake, "2001:db8:a:77::/64")) == 1
    assert fake.send("mn1", "2001:db8:a:77::2").punts == []
    assert sig.take() == [] and fake.ctl.counters["drf_no_location"] == 1


def test_unanswered_query_is_retried_then_falls_back_and_a_late_answer_is_ignored(fake, sig):
    timers = fake.domain.timers
    lost = Hold(fake, "elma3", lambda m: m.TYPE == "PBQR")
    at(fake, 5.0)
    fake.send("mn1", fake.address("mn2"))
    assert sig.take() == [("PBQR", "emag1", "elma3")]
    seq = sig.last[0].seq
    fake.send("mn1", fake.address("mn2"))  # punted again, waits for the same query
    at(fake, 5.0 + timers.query_timeout - 0.01)
    assert sig.take() == []
    for n in range(1, timers.query_retries + 1):
        at(fake, 5.0 + n * timers.query_timeout)
        assert sig.take() == [("PBQR", "emag1", "elma3")] and sig.last[0].seq == seq
        assert tunnels(fake, "emag1") == {}
    at(fake, 5.0 + (timers.query_retries + 1) * timers.query_timeout)
    assert sig.take() == []
    assert tunnels(fake, "emag1") == {("mn1", hnp(fake, "mn2")): ("fallback", None)}
    assert fake.ctl.drf("emag1")["pending_queries"] == []
    assert fake.ctl.counters["drf_query_retry"] == timers.query_retries
    assert fake.ctl.counters["drf_query_timeout"] == 1
    assert len(lost.held) == 1 + timers.query_retries
    lost.release()  # the eLMA answers at last: too late
    assert sig.take() == query("emag1", "elma3")[1:] * len(lost.held)
    assert tunnels(fake, "emag1") == {("mn1", hnp(fake, "mn2")): ("fallback", None)}
    assert fake.send("mn1", fake.address("mn2")).punts == []


# ------------------------------------------------------------------ DMF: handoff


def dmf(n: str, p: str, cns: list[str], lma: str = "elma1") -> list[tuple[str, str, str]]:
    out = [("PBU", n, lma), ("PBA", lma, n), ("PBCI", n, p), ("PBCA", p, n)]
    for cn in cns:
        out += [("PBCI", p, cn), ("PBCA", cn, p)]
    return out


@pytest.mark.parametrize("order", ["break-before-make", "make-before-break"])
def test_handoff_a22_sequence(fake, sig, order):
    talk(fake, "mn1", "mn2")
    sig.take()
    move(fake, "mn1", "emag2", order)
    log = sig.take()
    if order == "break-before-make":
        assert log[:2] == DEREG_EMAG1 and sig.last[0].lifetime == 0
        log, msgs = log[2:], sig.last[2:]
    else:
        msgs = sig.last  # emag1 learnt of the move from the PBCI: no de-registration
    assert log == dmf("emag2", "emag1", ["emag4"])
    pbu, pba, pbci, pbca, pbci4, pbca4 = msgs
    assert pbu.lifetime > 0 and pba.previous_coa == ADDR["emag1"] and pba.hnps == [hnp(fake, "mn1")]
    assert (pbci.mn_id, pbci.hnps, pbci.new_coa) == ("mn1", [hnp(fake, "mn1")], ADDR["emag2"])
    assert (pbca.seq, pbca.status) == (pbci.seq, Status.ACCEPTED)
    assert pbca.correspondents == [{"prefix": hnp(fake, "mn2"), "coa": ADDR["emag4"]}]
    assert (pbci4.mn_id, pbci4.hnps, pbci4.new_coa) == ("mn1", [hnp(fake, "mn1")], ADDR["emag2"])
    assert (pbca4.seq, pbca4.status, pbca4.correspondents) == (pbci4.seq, Status.ACCEPTED, [])
    assert tunnels(fake, "emag2") == {("mn1", hnp(fake, "mn2")): ("direct", "emag4")}
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("direct", "emag2")}
    assert tunnels(fake, "emag1") == {}
    assert [f.priority for f in mn_flows(fake, "emag1", "mn1")] == [Prio.REDIRECT]  # until the hold is over
    talk(fake, "mn1", "mn2")
    assert sig.take() == []


@pytest.mark.parametrize("order", ["break-before-make", "make-before-break"])
def test_handoff_a21_sequence(fake, sig, order):
    talk(fake, "mn1", "mn3")
    sig.take()
    move(fake, "mn1", "emag3", order)
    log = sig.take()
    assert log == (DEREG_EMAG1 if order == "break-before-make" else []) + dmf("emag3", "emag1", ["emag2"])
    pba, pbca = [m for m in sig.last if m.TYPE == "PBA"][-1], [m for m in sig.last if m.TYPE == "PBCA"][0]
    assert pba.previous_coa == ADDR["emag1"]
    assert pbca.correspondents == [{"prefix": hnp(fake, "mn3"), "coa": ADDR["emag2"]}]
    assert tunnels(fake, "emag3") == {("mn1", hnp(fake, "mn3")): ("direct", "emag2")}
    assert tunnels(fake, "emag2") == {("mn3", hnp(fake, "mn1")): ("direct", "emag3")}
    assert fake.ctl.binding("mn1")["lma"] == "elma1"  # emag3 serves elma3's MNs, mn1 keeps its eLMA


def check_simultaneous_result(fake) -> None:
    assert tunnels(fake, "emag2") == {("mn1", hnp(fake, "mn2")): ("direct", "emag3")}
    assert tunnels(fake, "emag3") == {("mn2", hnp(fake, "mn1")): ("direct", "emag2")}
    for a, b, path in (("mn1", "mn2", ["emag2", "c1", "c2", "emag3"]), ("mn2", "mn1", ["emag3", "c2", "c1", "emag2"])):
        trace = fake.send(a, fake.address(b))
        assert switches_crossed(trace) == path and is_delivered(trace, *fake.port_of(b)), trace.describe()


def test_simultaneous_moves_leave_no_stale_location(fake, sig):
    talk(fake, "mn1", "mn2")
    sig.take()
    fake.detach("mn1")
    fake.detach("mn2")
    fake.attach("mn1", "emag2")
    fake.attach("mn2", "emag3")
    assert sig.take() == (
        DEREG_EMAG1 + [("PBU", "emag4", "elma3"), ("PBA", "elma3", "emag4")]
        + dmf("emag2", "emag1", ["emag4"]) + dmf("emag3", "emag4", [], lma="elma3")
        # emag4 tells every holder of mn2's location: emag1 (it asked elma3, whose PBA lists it) and
        # emag2 (emag1's PBCI said mn1's new eMAG holds an entry toward mn2).  emag1, which still
        # remembers mn1's correspondents, relays to mn1's new eMAG as well (redundant here).
        + [("PBCI", "emag4", "emag1"), ("PBCI", "emag4", "emag2"), ("PBCI", "emag1", "emag2"),
           ("PBCA", "emag1", "emag4"), ("PBCA", "emag2", "emag4"), ("PBCA", "emag2", "emag1")]
    )  # fmt: skip
    # emag4 heard of mn1's move before mn2 re-attached: it had nowhere to relay to yet
    assert [m.dst for m in sig.last if m.TYPE == "PBCI" and m.src == "emag4"] == ["emag1", "emag2"]
    assert fake.ctl.counters["dmf_pbci_relayed"] == 1
    check_simultaneous_result(fake)


def test_simultaneous_moves_with_crossing_pbcis_are_relayed(fake, sig):
    talk(fake, "mn1", "mn2")
    sig.take()
    late = Hold(fake, "emag4", lambda m: m.TYPE == "PBCI" and m.src == "emag1")
    fake.detach("mn1")
    fake.detach("mn2")
    fake.attach("mn1", "emag2")
    fake.attach("mn2", "emag3")
    late.release()  # emag1's PBCI (mn1 at emag2) reaches emag4 after mn2 left it for emag3
    assert sig.take() == (
        DEREG_EMAG1 + [("PBU", "emag4", "elma3"), ("PBA", "elma3", "emag4")]
        + dmf("emag2", "emag1", [])[:4] + [("PBCI", "emag1", "emag4")]
        + dmf("emag3", "emag4", [], lma="elma3")
        + [("PBCI", "emag4", "emag1"), ("PBCI", "emag1", "emag2"), ("PBCA", "emag1", "emag4"),
           ("PBCA", "emag2", "emag1"), ("PBCI", "emag4", "emag3"), ("PBCA", "emag4", "emag1"),
           ("PBCA", "emag3", "emag4")]
    )  # fmt: skip
    relayed = [m for m in sig.last if m.TYPE == "PBCI" and (m.src, m.dst) in {("emag1", "emag2"), ("emag4", "emag3")}]
    assert [(m.mn_id, m.new_coa) for m in relayed] == [("mn2", ADDR["emag3"]), ("mn1", ADDR["emag2"])]
    assert fake.ctl.counters["dmf_pbci_relayed"] == 2
    check_simultaneous_result(fake)
    assert all(not r["awaiting_pbca"] for s in ("emag1", "emag4") for r in fake.ctl.drf(s)["redirects"])


# ------------------------------------------------------------------ DMF: redirect at p-eMAG


def test_redirect_lives_until_hold_after_the_last_pbca(fake, sig):
    talk(fake, "mn1", "mn2")
    slow = Hold(fake, "emag4", lambda m: m.TYPE == "PBCI")
    at(fake, 10.0)
    fake.move("mn1", "emag2")
    (redirect,) = fake.ctl.drf("emag1")["redirects"]
    assert redirect == {"mn_id": "mn1", "hnps": [hnp(fake, "mn1")], "to": "emag2",
                        "awaiting_pbca": ["emag4"], "remove_at": 10.0 + PBCA_WAIT}  # fmt: skip
    (flow,) = fake.switch("emag1").flows(cookie=cookie(Fn.REDIRECT, fake.ctl.mn_index["mn1"]))
    assert flow.table == Table.ROUTE and flow.match["ipv6_dst"] == hnp(fake, "mn1")
    assert flow.actions[1].value == fake.domain.switches["emag2"].label
    fake.now = 10.4
    slow.release()  # emag4's PBCA, the last one, at 10.4
    assert fake.ctl.drf("emag1")["redirects"][0]["remove_at"] == pytest.approx(10.4 + REDIRECT_HOLD)
    at(fake, 10.4 + REDIRECT_HOLD - 0.01)
    assert len(fake.ctl.drf("emag1")["redirects"]) == 1 and mn_flows(fake, "emag1", "mn1") == [flow]
    at(fake, 10.4 + REDIRECT_HOLD)
    assert fake.ctl.drf("emag1")["redirects"] == []
    assert mn_flows(fake, "emag1", "mn1") == []  # no access, DRF or redirect flow of mn1 is left
    assert fake.ctl.counters["dmf_redirect_removed"] == 1
    assert [d["mn_id"] for d in fake.ctl.drf("emag1")["departed"]] == ["mn1"]
    at(fake, 10.0 + DEPARTED_KEEP + 0.1)
    assert fake.ctl.drf("emag1")["departed"] == []


def test_redirect_is_removed_after_pbca_wait_when_a_correspondent_never_answers(fake, sig):
    talk(fake, "mn1", "mn2")
    Hold(fake, "emag4", lambda m: m.TYPE == "PBCI")  # never released
    at(fake, 10.0)
    fake.move("mn1", "emag2")
    at(fake, 10.0 + REDIRECT_HOLD)
    assert fake.ctl.drf("emag1")["redirects"][0]["awaiting_pbca"] == ["emag4"]
    at(fake, 10.0 + PBCA_WAIT)
    assert fake.ctl.drf("emag1")["redirects"] == [] and mn_flows(fake, "emag1", "mn1") == []


def test_ping_pong_within_the_redirect_hold(fake, sig):
    talk(fake, "mn1", "mn2")
    sig.take()
    at(fake, 10.0)
    fake.move("mn1", "emag2")
    assert sig.take()[2:] == dmf("emag2", "emag1", ["emag4"])
    fake.now = 10.3  # back before emag1's redirect is due to go
    fake.move("mn1", "emag1")
    assert sig.take() == [("PBU", "emag2", "elma1"), ("PBA", "elma1", "emag2")] + dmf("emag1", "emag2", ["emag4"])
    assert sig.last[3].previous_coa == ADDR["emag2"]
    assert fake.ctl.drf("emag1")["redirects"] == [] and fake.ctl.drf("emag1")["departed"] == []
    assert fake.switch("emag1").flows(cookie=cookie(Fn.REDIRECT, fake.ctl.mn_index["mn1"])) == []
    assert [r["to"] for r in fake.ctl.drf("emag2")["redirects"]] == ["emag1"]
    assert tunnels(fake, "emag1") == {("mn1", hnp(fake, "mn2")): ("direct", "emag4")}
    assert tunnels(fake, "emag4") == {("mn2", hnp(fake, "mn1")): ("direct", "emag1")}
    for t in (10.3, 10.3 + REDIRECT_HOLD, 10.3 + PBCA_WAIT):
        at(fake, t)
        trace = fake.send("mn2", fake.address("mn1"))
        assert switches_crossed(trace) == ["emag4", "c2", "c1", "emag1"], trace.describe()
        assert is_delivered(trace, *fake.port_of("mn1"))
    assert fake.ctl.drf("emag2")["redirects"] == [] and mn_flows(fake, "emag2", "mn1") == []
    assert fake.ctl.counters["dmf_redirect_removed"] == 2  # emag1's on return, emag2's after its hold


# ------------------------------------------------------------------ plain PMIP mode


def test_pmip_mode_never_queries_nor_informs(doc, build_domain):
    doc["mode"] = "pmip"
    net = FakeNet(build_domain(doc))
    for host in ("mn1", "mn2", "mn3", "cn2"):
        net.attach(host)
    sig = Signals(net)
    assert not any(a.daf for m in net.ctl.mags.values() for a in m.attachments.values())
    for sw in ("emag1", "emag2", "emag4"):
        anchors = [f for f in net.switch(sw).flows(Table.UPLINK) if f.priority == Prio.ANCHOR]
        assert anchors and not any(isinstance(a, ToController) for f in anchors for a in f.actions)
    for _ in range(2):
        for a, b in (("mn1", "mn2"), ("mn2", "mn1"), ("mn1", "mn3")):
            trace = net.send(a, net.address(b))
            assert trace.punts == [] and "elma1" in switches_crossed(trace)
    net.move("mn1", "emag2")
    talk(net, "mn1", "mn2")
    assert {t for t, _, _ in sig.take()} == {"PBU", "PBA"}
    assert net.ctl.bus.sent.keys() == {"PBU", "PBA"}
    assert net.ctl.drf("emag1")["tunnels"] == [] and net.ctl.drf("emag2")["tunnels"] == []


# ------------------------------------------------------------------ malformed signalling


BAD_PBCI = {
    "bad-coa": {"new_coa": "not-an-address"},
    "withdrawal-without-hnp": {"new_coa": "", "hnps": []},
    "coa-of-an-lma": {"new_coa": "2001:db8:ffff::11"},
    "coa-of-nobody": {"new_coa": "2001:db8:ffff::99"},
    "no-hnp": {"hnps": []},
    "bad-hnp": {"hnps": ["2001:db8:a:1::1/64"]},
}


@pytest.mark.parametrize("bad", BAD_PBCI.values(), ids=BAD_PBCI.keys())
def test_malformed_pbci_is_rejected_and_changes_nothing(fake, sig, bad):
    talk(fake, "mn1", "mn2")
    talk(fake, "mn1", "mn3")
    before = snapshot(fake)
    sig.take()
    fields = {"mn_id": "mn1", "hnps": [hnp(fake, "mn1")], "new_coa": ADDR["emag2"]} | bad
    pbci = PBCI(src="emag2", dst="emag1", seq=4242, timestamp=fake.now, **fields)
    fake.apply(fake.ctl.receive_signalling("emag1", pbci.encode(), fake.now))
    if "not-an-address" in str(bad) or "/64" in str(bad.get("hnps", "")):
        # not an address / a prefix with host bits: the decoder drops it, counted, unanswered
        assert sig.take() == [] and fake.ctl.stats()["signalling_errors"] == {"malformed": 1}
    else:
        assert sig.take() == [("PBCA", "emag1", "emag2")]
        assert sig.last[0].seq == 4242 and sig.last[0].status != Status.ACCEPTED
        assert fake.ctl.counters["unexpected_message"] == 1
    assert snapshot(fake) == before
    assert switches_crossed(fake.send("mn2", fake.address("mn1"))) == ["emag4", "c2", "c1", "emag1"]


def test_pbci_naming_the_receiver_for_an_mn_it_does_not_serve_is_rejected(fake, sig):
    talk(fake, "mn1", "mn2")
    fake.move("mn1", "emag2")  # emag1 still remembers mn1 as departed
    before = snapshot(fake)
    sig.take()
    pbci = PBCI(src="emag2", dst="emag1", seq=4243, mn_id="mn1", hnps=[hnp(fake, "mn1")],
                new_coa=ADDR["emag1"], timestamp=fake.now)  # fmt: skip
    fake.apply(fake.ctl.receive_signalling("emag1", pbci.encode(), fake.now))
    assert sig.take() == [("PBCA", "emag1", "emag2")] and sig.last[0].status != Status.ACCEPTED
    assert snapshot(fake) == before  # no redirect of mn1 to emag1 itself, emag4 not misinformed


def test_pbqa_with_an_unknown_seq_is_ignored(fake, sig):
    slow = Hold(fake, "elma3", lambda m: m.TYPE == "PBQR")
    fake.send("mn1", fake.address("mn2"))
    (pbqr,) = slow.held
    before = snapshot(fake)
    sig.take()
    for seq in (pbqr.seq + 1, 4242):
        bogus = PBQA(src="elma3", dst="emag1", seq=seq, address=pbqr.address, status=int(Status.ACCEPTED),
                     coa=ADDR["emag3"], hnps=[hnp(fake, "mn2")], lifetime=60.0)  # fmt: skip
        fake.apply(fake.ctl.receive_signalling("emag1", bogus.encode(), fake.now))
    assert sig.take() == [] and snapshot(fake) == before
    assert [q["prefix"] for q in fake.ctl.drf("emag1")["pending_queries"]] == [hnp(fake, "mn2")]
    slow.release()  # the real answer still completes the query
    assert sig.take() == query("emag1", "elma3")[1:]
    assert tunnels(fake, "emag1") == {("mn1", hnp(fake, "mn2")): ("direct", "emag4")}
