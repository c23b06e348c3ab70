"""State that survives a restart (issue 10, part 3): the stores, and snapshot/restore of every kind
of state through the composition root.

The stores are tested for real: SQLite in a temp dir, Redis against a private redis-server
(``redis_url`` fixture).  The controller tests drive the reference domain through ``FakeNet``
with a store attached, build a second controller from that store with another clock origin (a
restarted process), and check that it holds the same state, that the switches' flows are resynced
in place (no flow lost, counters kept) and that lifetimes are honoured from the stored times.
"""

from __future__ import annotations

import ipaddress
import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml
from fakeof import FakeNet, switches_crossed

from controller.config import ConfigError, load_domain
from controller.core import EpmipController
from controller.dmf import DEPARTED_KEEP
from controller.messages import PBCI
from controller.store import NullStore, RedisStore, SqliteStore, StoreConfig, StoreError, open_store
from openflow_rules.pipeline import Fn

GEN_BIT = 1 << 55
EPOCH1 = 1_000.0  # the first process: wall = now + EPOCH1
EPOCH2 = 1_500.0  # the restarted one: another monotonic origin


# ------------------------------------------------------------------ the stores


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteStore(str(tmp_path / "state" / "epmip.db"))
    else:
        s = RedisStore(request.getfixturevalue("redis_url"), prefix="t")
    yield s
    s.close()


def reopen(s):
    if isinstance(s, SqliteStore):
        return SqliteStore(s.path)
    return RedisStore(s.url, prefix=s.prefix)


def test_put_delete_and_load_all(store):
    store.put("bce", "elma1 mn1", {"coa": "2001:db8:ffff::1", "lifetime": 60.0})
    store.put("bce", "elma1 mn2", {"coa": "2001:db8:ffff::4"})
    store.put("mag", "emag1 mn1", {"port": 2})
    store.put("bce", "elma1 mn1", {"coa": "2001:db8:ffff::2", "lifetime": 60.0})  # replaced
    store.delete("bce", "elma1 mn2")
    store.delete("bce", "never there")  # harmless
    assert store.load_all() == {
        "bce": {"elma1 mn1": {"coa": "2001:db8:ffff::2", "lifetime": 60.0}},
        "mag": {"emag1 mn1": {"port": 2}},
    }
    again = reopen(store)  # what another process (a restarted controller) reads
    assert again.load_all() == store.load_all()
    again.close()


def test_a_batch_is_written_all_or_nothing(store):
    store.write([("a", "1", {"x": 1}), ("a", "2", {"x": 2}), ("b", "1", [1, 2])])
    with pytest.raises(StoreError):
        store.write([("a", "1", None), ("a", "3", {"x": 3}), ("a", "4", {"bad": math.nan})])
    assert store.load_all() == {"a": {"1": {"x": 1}, "2": {"x": 2}}, "b": {"1": [1, 2]}}
    # within one batch the last change of a record wins
    store.write([("a", "1", None), ("a", "1", {"x": 10}), ("a", "2", {"x": 20}), ("a", "2", None)])
    assert store.load_all()["a"] == {"1": {"x": 10}}
    store.clear()
    assert store.load_all() == {}


def test_sqlite_runs_in_wal_mode_with_the_chosen_synchronous_level(tmp_path):
    for level, code in (("normal", 1), ("full", 2)):
        s = SqliteStore(str(tmp_path / f"{level}.db"), level)
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._db.execute("PRAGMA synchronous").fetchone()[0] == code
        s.close()
    with pytest.raises(StoreError, match="synchronous"):
        SqliteStore(str(tmp_path / "x.db"), "off")


def test_sqlite_checkpoints_off_the_writing_connection(tmp_path):
    """The writer never checkpoints by itself (that would be an fsync inside some event's commit);
    a background thread does, and stops with the store."""
    import shutil

    s = SqliteStore(str(tmp_path / "c.db"))
    assert s._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert s._checkpointer is not None and s._checkpointer.is_alive()
    s.write([("k", str(i), {"i": i}) for i in range(50)])
    s.checkpoint()  # what the thread does every second: the database file alone now has the data
    shutil.copy(tmp_path / "c.db", tmp_path / "copy.db")
    assert len(SqliteStore(str(tmp_path / "copy.db"), checkpoint_interval=0).load_all()["k"]) == 50
    s.close()
    assert not s._checkpointer.is_alive()


def test_sqlite_keeps_every_committed_batch_when_the_writer_is_killed(tmp_path):
    """What a SIGKILL of the controller may lose: nothing it committed (synchronous=NORMAL in WAL
    mode commits to the WAL in the OS page cache; only the machine going down could lose it)."""
    path = tmp_path / "killed.db"
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from controller.store import SqliteStore
        s = SqliteStore({str(path)!r})
        for i in range(200):
            s.write([("k", str(i), {{"i": i}}), ("k", str(i - 1), None)])
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "written" in proc.stdout, proc.stderr
    assert SqliteStore(str(path)).load_all() == {"k": {"199": {"i": 199}}}


def test_a_store_that_cannot_be_opened_raises_store_error(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open SQLite"):
        SqliteStore(str(tmp_path / "dir.db"))
    with pytest.raises(StoreError, match="cannot reach Redis"):
        RedisStore(f"unix://{tmp_path}/no-such.sock")
    assert isinstance(open_store(StoreConfig(kind="none")), NullStore)


def test_redis_prefixes_keep_two_domains_apart(redis_url):
    a, b = RedisStore(redis_url, prefix="a"), RedisStore(redis_url, prefix="b")
    a.put("bce", "x", {"v": 1})
    b.put("bce", "x", {"v": 2})
    b.clear()
    assert a.load_all() == {"bce": {"x": {"v": 1}}} and b.load_all() == {}


# ------------------------------------------------------------------ the domain file's store field


@pytest.mark.parametrize(
    ("store", "error"),
    [
        ({"kind": "mongo"}, "store.kind: got 'mongo', expected one of ['sqlite', 'redis', 'none']"),
        ({"kind": "redis"}, "store.url: got None, expected a Redis URL"),
        ({"kind": "redis", "url": "http://x"}, "store.url: got 'http://x', expected a Redis URL"),
        ({"kind": "sqlite", "synchronous": "off"}, "store.synchronous: got 'off', expected one of ['normal', 'full']"),
        ({"kind": "sqlite", "url": "redis://x"}, "store.url: got 'redis://x', expected for kind sqlite, only"),
        ({"kind": "none", "path": "a.db"}, "store.path: got 'a.db', expected for kind none, only the fields ['kind']"),
        ({"kind": "sqlite", "path": ""}, "store.path: got '', expected a file path"),
        ({"kind": "redis", "url": "redis://h:1/0", "prefix": "a b"}, "store.prefix: got 'a b', expected 1-64"),
        ("sqlite", "store: got 'sqlite', expected a mapping, e.g. {kind: sqlite"),
    ],
)
def test_store_field_errors_name_field_value_and_expectation(doc, build_domain, store, error):
    doc["store"] = store
    with pytest.raises(ConfigError) as exc:
        build_domain(doc)
    assert str(exc.value).startswith(error)


def test_store_field_defaults_and_choices(doc, build_domain, tmp_path):
    assert build_domain(doc).store == StoreConfig(kind="sqlite", path="var/state/epmip.db", synchronous="normal")
    doc["store"] = {"kind": "redis", "url": "unix:///run/redis.sock", "prefix": "dom1"}
    assert build_domain(doc).store == StoreConfig(kind="redis", url="unix:///run/redis.sock", prefix="dom1")
    doc["store"] = {"kind": "sqlite", "path": "x/y.db", "synchronous": "full"}
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(doc))
    rc = subprocess.run([sys.executable, "-m", "apps.cli", "check-config", str(path)], capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    doc["store"] = {"kind": "redis"}
    path.write_text(yaml.safe_dump(doc))
    rc = subprocess.run([sys.executable, "-m", "apps.cli", "check-config", str(path)], capture_output=True, text=True)
    assert rc.returncode == 2 and "store.url" in rc.stderr


# ------------------------------------------------------------------ the controller's state


class CountingStore(SqliteStore):
    """A real SQLite store that also remembers how many records each batch wrote."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.batches: list[int] = []

    def write(self, changes) -> None:
        changes = list(changes)
        self.batches.append(len(changes))
        super().write(changes)


def fresh_domain(domain_path: str):
    d = load_domain(domain_path)
    d.signalling_key = None
    return d


def started(domain_path: str, store, hosts: tuple[str, ...]) -> FakeNet:
    """The first process (clock origin EPOCH1) with ``store``, every switch connected, ``hosts``
    attached."""
    domain = fresh_domain(domain_path)
    fake = FakeNet(domain, now=10.0, connect=False)
    fake.ctl = EpmipController(domain, epoch=EPOCH1, store=store)
    for name in domain.switches:
        fake.connect(name)
    for host in hosts:
        fake.attach(host)
    return fake


def build_world(domain_path: str, store) -> FakeNet:
    """Every kind of state on the reference domain: bindings and attachments (mn1-mn3, cn2 on the
    legacy side), DRF direct and fallback entries, an access router's entry toward an MN, a
    handoff in progress (redirect and departure at p-eMAG, PBCI replay windows), LMF holders, a
    run-time prefix, and a de-registered binding awaiting its delete (mn3 left)."""
    fake = started(domain_path, store, ("mn1", "mn2", "mn3", "cn2", "cn1"))
    for a, b in (("mn1", "mn2"), ("mn1", "mn3"), ("mn2", "cn1")):
        fake.send(a, fake.address(b))
        fake.send(b, fake.address(a))
    fake.send("mn1", fake.address("cn2"))  # legacy LMA: a fallback entry
    _, intents = fake.ctl.add_prefix("elma1", "2001:db8:e::/48", fake.now)
    fake.apply(intents)
    fake.advance(0.4)
    fake.detach("mn3")  # a de-registration: elma1's entry waits MinDelayBeforeBCEDelete
    for _ in range(6):  # PBCI_WAIT: emag2 withdraws mn3's location from its holders
        fake.advance(0.2)
    fake.move("mn1", "emag2")  # the handoff: emag1 keeps a redirect, emag2 its PBCI's state
    fake.send("mn1", fake.address("cn2"))  # a fallback entry at emag2 too
    fake.advance(0.2)
    return fake


def records(changes) -> dict:
    """(kind, key) -> value, floats rounded (a time goes through two clock origins)."""

    def norm(v):
        if isinstance(v, float):
            return round(v, 6)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return {(k, key): norm(v) for k, key, v in changes if v is not None and not (k == "seq" and v == 0)}


def stored(store) -> dict:
    return records((kind, key, v) for kind, recs in store.load_all().items() for key, v in recs.items())


def flow_table(fake: FakeNet) -> dict[str, dict[tuple, int]]:
    """Per switch: (table, priority, match, actions, cookie without the generation bit) -> packets."""
    return {
        name: {
            (f.table, f.priority, tuple(sorted(f.match.items())), f.actions, f.cookie & ~GEN_BIT): f.packets
            for f in sw.flows()
        }  # fmt: skip
        for name, sw in fake.net.switches.items()
    }


def restart(fake: FakeNet, domain_path: str, store, gap: float = 0.5) -> EpmipController:
    """A new process: another clock origin (EPOCH2), the same wall clock ``gap`` seconds later;
    the state restored from ``store``, then every switch connects again (they kept their flows)."""
    domain = fresh_domain(domain_path)
    ctl = EpmipController(domain, epoch=EPOCH2, store=store)
    fake.now = fake.now + EPOCH1 - EPOCH2 + gap
    ctl.restore(fake.now)
    fake.ctl, fake.domain = ctl, domain
    for name in domain.switches:
        fake.connect(name)
    return ctl


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_the_store_holds_exactly_the_state_a_full_snapshot_would(kind, domain_path, tmp_path, request):
    """Writes per event (only the records each event changed) add up to the whole state."""
    if kind == "sqlite":
        st = SqliteStore(str(tmp_path / "s.db"))
    else:
        st = RedisStore(request.getfixturevalue("redis_url"))
    fake = build_world(domain_path, st)
    snap = records(fake.ctl.snapshot())
    kinds = {k for k, _ in snap}
    assert {"lma", "lmf", "mag", "drf.loc", "drf.ep", "dmf", "cid", "seq", "prefix"} <= kinds
    assert stored(st) == snap
    # a handoff in progress, a deleting binding, a fallback entry, an access router's entry
    assert snap[("dmf", "emag1 mn1")]["redirect"]["to_switch"] == "emag2"
    assert snap[("lma", "elma1 mn3")]["bce"]["state"] == "deleting"
    assert "fallback" in snap[("drf.ep", "emag2 mn1")]["sessions"].values()
    assert snap[("drf.ep", "ar1 cn1")]["sessions"]


def test_a_restarted_controller_has_the_same_state_and_resyncs_flows_in_place(domain_path, tmp_path):
    st = SqliteStore(str(tmp_path / "s.db"))
    fake = build_world(domain_path, st)
    before_state = records(fake.ctl.snapshot())
    before_rest = (fake.ctl.bindings(), {n: fake.ctl.drf(n) for n in ("emag1", "emag2", "emag4", "ar1")})
    for _ in range(3):  # traffic on the optimized paths: counters to keep
        fake.send("mn1", fake.address("mn2"))
        fake.send("mn2", fake.address("mn1"))
    flows_before = flow_table(fake)
    assert [k for k in flows_before["emag1"] if (k[4] >> 48) & 0xFF == Fn.REDIRECT]

    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")), gap=0.0)
    assert records(ctl.snapshot()) == before_state
    # REST sees the same (wall-clock dependent fields aside: they are per-process monotonic)
    assert [b["mn_id"] for b in ctl.bindings()] == [b["mn_id"] for b in before_rest[0]]
    assert [b["proxy_coa"] for b in ctl.bindings()] == [b["proxy_coa"] for b in before_rest[0]]
    for name, drf in before_rest[1].items():
        assert ctl.drf(name)["tunnels"] == drf["tunnels"]
        assert [(c["prefix"], c["switch"]) for c in ctl.drf(name)["location_cache"]] == [
            (c["prefix"], c["switch"]) for c in drf["location_cache"]]  # fmt: skip
    # every flow is still there with its counter (replaced in place, never deleted), nothing new
    assert flow_table(fake) == flows_before
    # and the optimized paths carry on
    trace = fake.send("mn1", fake.address("mn2"))
    assert switches_crossed(trace) == ["emag2", "c1", "c2", "emag4"], trace.describe()
    trace = fake.send("mn2", fake.address("mn1"))
    assert switches_crossed(trace) == ["emag4", "c2", "c1", "emag2"], trace.describe()
    assert fake.send("mn2", "2001:db8:e::1").outcome.switch == "elma1"  # the run-time prefix's route


def test_after_a_short_gap_nothing_expires_and_timers_resume(domain_path, tmp_path):
    st = SqliteStore(str(tmp_path / "s.db"))
    fake = build_world(domain_path, st)
    registered = {b["mn_id"]: b["registered_at"] + EPOCH1 for b in fake.ctl.bindings()}
    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")), gap=0.5)
    fake.advance(0.2)
    assert {b["mn_id"]: round(b["registered_at"] + EPOCH2, 6) for b in ctl.bindings()} == {
        k: round(v, 6) for k, v in registered.items()}  # fmt: skip
    # the redirect goes when its stored time comes, the deleting binding too
    for _ in range(60):
        fake.advance(0.5)
    assert ctl.drf("emag1")["redirects"] == []
    assert ctl.binding("mn3") is None
    # the refreshes came on time (lifetime 60 s, refresh at half): still bound, same registration
    fake.advance(10.0)
    assert ctl.binding("mn1")["state"] == "active" and ctl.counters["binding_refresh"] >= 3
    assert round(ctl.binding("mn1")["registered_at"] + EPOCH2, 6) == round(registered["mn1"], 6)


def test_entries_that_expired_while_the_controller_was_down_go_at_the_first_tick(domain_path, tmp_path):
    st = SqliteStore(str(tmp_path / "s.db"))
    fake = build_world(domain_path, st)
    lifetime = fake.domain.timers.binding_lifetime
    gap = lifetime + DEPARTED_KEEP + 5
    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")), gap=gap)
    # restored as stored (nothing ran yet) ...
    assert ctl.binding("mn3") is not None and ctl.drf("emag1")["redirects"]
    fake.advance(0.2)
    # ... and at the first tick whatever ended while the controller was down is gone
    assert ctl.binding("mn3") is None  # de-registered before the restart
    assert ctl.drf("emag1")["redirects"] == [] and ctl.drf("emag1")["departed"] == []
    assert ctl.counters["drf_location_expired"] >= 1
    assert not [c for c in ctl.drf("emag4")["location_cache"] if c["source"] == "pbqa"]
    # the bindings of the MNs still attached had expired: deleted, then registered again by their
    # MAG's overdue refresh - a new registration, not the old one living on
    assert ctl.counters["bce_deleted"] >= 3
    mn1 = ctl.binding("mn1")
    assert mn1["state"] == "active" and mn1["registered_at"] >= fake.now - 0.3
    # an MN whose traffic needs a location asks again
    sent = ctl.bus.sent["PBQR"]
    fake.send("mn2", fake.address("mn1"))
    assert ctl.bus.sent["PBQR"] == sent + 1


def test_replay_windows_survive_a_restart(domain_path, tmp_path):
    st = SqliteStore(str(tmp_path / "s.db"))
    fake = build_world(domain_path, st)
    hnp1 = str(fake.hnp("mn1"))
    old = PBCI(src="emag1", dst="emag4", seq=1234, mn_id="mn1", hnps=[hnp1], new_coa="2001:db8:ffff::1",
               timestamp=fake.now + EPOCH1 - 1.0)  # fmt: skip
    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")))
    fake.apply(ctl.receive_signalling("emag4", old.encode(), fake.now))
    assert ctl.counters["rejected_stale_pbci"] == 1
    assert ctl.drf("emag4")["tunnels"][0]["to"] == "emag2"
    # mn3's binding goes; a PBU replayed from before the restart cannot bring it back
    for _ in range(30):
        fake.advance(0.5)
    assert ctl.binding("mn3") is None
    from test_trust import pbu

    replay = pbu(0, src="emag2", mn_id="mn3", coa="2001:db8:ffff::2", timestamp=fake.now + EPOCH2 - 25)
    fake.apply(ctl.receive_signalling("elma1", replay.encode(), fake.now))
    assert ctl.binding("mn3") is None and ctl.counters["pba_status_157"] == 1


def test_per_event_writes_follow_the_event_not_the_state(domain_path, tmp_path):
    st = CountingStore(str(tmp_path / "s.db"))
    fake = build_world(domain_path, st)
    for _ in range(10):
        fake.advance(0.5)
    st.batches.clear()
    fake.advance(0.2)  # nothing due
    fake.advance(0.2)
    assert st.batches == []
    fake.send("mn2", fake.address("mn1"))  # a packet on an installed path: no event at all
    assert st.batches == []
    fake.advance(30.0)  # mn2's refresh (and the others'): a few records per MN
    assert st.batches and max(st.batches) <= 40
    st.batches.clear()
    fake.attach("mn3", "emag3")  # one registration: its MAG's, LMA's, DMF's records and sequences
    assert len(st.batches) == 1 and st.batches[0] <= 10, st.batches


def test_a_reconnecting_switch_is_resynced_without_a_flush(domain_path, tmp_path):
    fake = build_world(domain_path, SqliteStore(str(tmp_path / "s.db")))
    for _ in range(3):
        fake.send("mn1", fake.address("mn2"))
    flows_before = flow_table(fake)
    for name in ("emag2", "emag4", "elma1"):
        fake.apply(fake.ctl.switch_down(fake.dpid(name), fake.now))
        intents = fake.connect(name)
        deletes = [i for i in intents if getattr(i, "command", "") in ("delete", "delete_strict")]
        # one delete: the other generation's flows (what is left of them is stale), after a barrier
        assert len(deletes) == 1 and deletes[0].cookie_mask & GEN_BIT, deletes
    assert flow_table(fake) == flows_before


def test_an_mn_that_left_while_its_switch_was_away_is_detached(domain_path, tmp_path):
    fake = build_world(domain_path, SqliteStore(str(tmp_path / "s.db")))
    fake.apply(fake.ctl.switch_down(fake.dpid("emag4"), fake.now))
    switch, port = fake.where.pop("mn2")
    del fake.net.host_ports[(switch, port)]
    fake.connect("emag4")
    assert fake.ctl.attachment_of("mn2") is None and fake.ctl.counters["detached_while_away"] == 1
    assert not [f for f in fake.switch("emag4").flows() if (f.cookie >> 48) & 0xFF == Fn.ACCESS]


def test_without_a_store_nothing_piles_up(domain):
    from controller import core

    fake = FakeNet(domain)
    for host in ("mn1", "mn2", "mn3"):
        fake.attach(host)
    fake.send("mn1", fake.address("mn2"))
    fake.advance(0.2)

    def marked() -> int:
        return sum(len(marks) for node in fake.ctl.nodes.values() for marks in node.mark_sets())

    assert marked()  # kept for a few events
    events = 0
    while marked():
        fake.advance(0.2)  # a timer tick is an event
        events += 1
        assert events <= core.MARKS_KEPT  # dropped every MARKS_KEPT events
    for node in fake.ctl.nodes.values():
        assert not node.changes(0.0), node.name


def test_a_run_time_prefix_comes_back_and_its_removal_is_kept(domain_path, tmp_path):
    st = SqliteStore(str(tmp_path / "s.db"))
    fake = build_world(domain_path, st)
    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")))
    assert "2001:db8:e::/48" in [str(p) for p in ctl.domain.switches["elma1"].prefixes]
    assert ctl.find_lmf(ipaddress.IPv6Address("2001:db8:e::1")) == "elma1"
    _, intents = ctl.remove_prefix("elma1", "2001:db8:e::/48", fake.now)
    fake.apply(intents)
    assert ("prefix", "elma1 2001:db8:e::/48") not in stored(st)
    again = EpmipController(fresh_domain(domain_path), epoch=EPOCH2, store=st)
    again.restore(fake.now)
    assert [str(p) for p in again.domain.switches["elma1"].prefixes] == ["2001:db8:a::/48"]


def test_requests_awaiting_an_answer_are_sent_again_after_a_restart(domain_path, tmp_path):
    """Retransmission timers resume: PBCIs whose PBCA was lost before the kill, and an LMF's
    withdrawal, are sent again on their back-off by the restarted controller."""
    st = SqliteStore(str(tmp_path / "s.db"))
    fake = started(domain_path, st, ("mn1", "mn2"))
    fake.send("mn1", fake.address("mn2"))
    fake.send("mn2", fake.address("mn1"))
    fake.ctl.bus.faults = lambda m: [] if m.TYPE == "PBCA" else [0.0]  # every PBCA lost
    fake.move("mn1", "emag2")
    pending = {k for k in fake.ctl.mags["emag1"].dmf.outstanding.pending} | {
        k for k in fake.ctl.mags["emag2"].dmf.outstanding.pending}  # fmt: skip
    assert ("mn1", "emag1") in pending and ("mn1", "emag4") in pending
    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")), gap=0.2)
    assert ("mn1", "emag1") in ctl.mags["emag2"].dmf.outstanding.pending
    for _ in range(4):
        fake.advance(0.2)
    assert ctl.counters["dmf_pbci_resent"] >= 2  # PBCAs get through now
    assert not ctl.mags["emag2"].dmf.outstanding.pending and not ctl.mags["emag1"].dmf.outstanding.pending
    assert ctl.drf("emag4")["tunnels"][0]["to"] == "emag2"
    assert not stored(st)[("dmf", "emag2 mn1")].get("outstanding")


def test_an_lmf_withdrawal_awaiting_its_pbca_survives_a_restart(domain_path, tmp_path):
    st = SqliteStore(str(tmp_path / "s.db"))
    fake = started(domain_path, st, ("mn1", "mn2"))
    fake.send("mn1", fake.address("mn2"))  # emag1 asks elma3: a holder of mn2's location
    fake.ctl.bus.faults = lambda m: [] if m.TYPE == "PBCA" else [0.0]
    fake.detach("mn2")
    for _ in range(8):  # WITHDRAW_AFTER: elma3's LMF withdraws mn2's location from emag1
        fake.advance(0.2)
    assert fake.ctl.lmas["elma3"].lmf.withdrawals.pending
    assert stored(st)[("lmf", "elma3 mn2")]["withdrawals"]
    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")), gap=0.2)
    assert ("mn2", "emag1") in ctl.lmas["elma3"].lmf.withdrawals.pending
    for _ in range(10):
        fake.advance(0.2)
    assert not ctl.lmas["elma3"].lmf.withdrawals.pending  # sent again, answered this time
    assert ("lmf", "elma3 mn2") not in stored(st)


def test_removing_a_configured_prefix_is_remembered(domain_path, tmp_path):
    st = SqliteStore(str(tmp_path / "s.db"))
    ctl = EpmipController(fresh_domain(domain_path), epoch=EPOCH1, store=st)
    ctl.remove_prefix("elma3", "2001:db8:d::/48", 1.0)
    assert records(ctl.snapshot()) == stored(st)
    again = EpmipController(fresh_domain(domain_path), epoch=EPOCH2, store=st)
    again.restore(1.0)
    assert [str(p) for p in again.domain.switches["elma3"].prefixes] == ["2001:db8:c::/48"]
    again.add_prefix("elma3", "2001:db8:d::/48", 2.0)  # back: as the domain file says, nothing to keep
    assert ("prefix", "elma3 2001:db8:d::/48") not in stored(st)
    assert records(again.snapshot()) == stored(st)


def test_policy_anchors_and_registrations_in_flight_survive_a_restart(doc, build_domain, tmp_path):
    """An MN without a profile LMA is anchored by the policy store (kept); a registration whose
    PBA was lost, and a de-registration whose PBA was lost, are sent again after the restart."""
    for mn in doc["mobile_nodes"]:
        if mn["id"] == "mn3":
            mn.pop("lma")
    st = SqliteStore(str(tmp_path / "s.db"))
    d1 = build_domain(doc)
    fake = FakeNet(d1, now=10.0, connect=False)
    fake.ctl = EpmipController(d1, epoch=EPOCH1, store=st)
    for name in d1.switches:
        fake.connect(name)
    fake.attach("mn3")  # emag2 asks the policy store: elma1
    fake.attach("mn2")
    assert fake.ctl.policy.anchors == {"mn3": "elma1"}
    fake.ctl.bus.faults = lambda m: [] if m.TYPE == "PBA" else [0.0]
    fake.attach("mn1")  # its PBA is lost: emag1 is still registering it
    fake.detach("mn2")  # its de-registration's PBA is lost: emag4 sends it again later
    assert fake.ctl.mags["emag1"].attachments["mn1"].state == "registering"
    assert fake.ctl.mags["emag4"].mag.deregs_pending() == ["mn2"]

    d2 = build_domain(doc)
    ctl = EpmipController(d2, epoch=EPOCH2, store=st)
    fake.now += EPOCH1 - EPOCH2 + 0.3
    ctl.restore(fake.now)
    assert ctl.policy.anchors == {"mn3": "elma1"} and ctl.mags["emag2"].mag.anchors == {"mn3": "elma1"}
    assert ctl.mags["emag4"].mag.deregs_pending() == ["mn2"]
    fake.ctl, fake.domain = ctl, d2
    for name in d2.switches:
        fake.connect(name)
    for _ in range(15):
        fake.advance(0.2)
    assert ctl.mags["emag1"].mag.bound("mn1") is not None  # the PBU went again and was answered
    assert ctl.mags["emag4"].mag.deregs_pending() == []
    assert ctl.binding("mn2")["state"] == "deleting"
    fake.detach("mn3")
    fake.attach("mn3", "emag3")  # emag3 asks the store, which still says elma1
    assert ctl.binding("mn3")["lma"] == "elma1" and ctl.binding("mn3")["proxy_coa"] == "2001:db8:ffff::3"


def test_an_ignored_de_registration_still_makes_older_registrations_stale_after_a_restart(domain_path, tmp_path):
    from test_trust import pbu

    st = SqliteStore(str(tmp_path / "s.db"))
    fake = build_world(domain_path, st)  # mn1 is bound at emag2 now
    stamp = fake.now + EPOCH1
    dereg = pbu(0, src="emag1", coa="2001:db8:ffff::1", lifetime=0.0, timestamp=stamp, seq=901)
    fake.apply(fake.ctl.receive_signalling("elma1", dereg.encode(), fake.now))  # changes nothing here
    assert stored(st)[("lma", "elma1 mn1")]["ignored_dereg"] == ["emag1", round(stamp, 6)]
    ctl = restart(fake, domain_path, SqliteStore(str(tmp_path / "s.db")))
    late = pbu(0, src="emag1", coa="2001:db8:ffff::1", timestamp=stamp - 0.1, seq=902)  # emag1's, overtaken
    assert late.timestamp > ctl.binding("mn1")["timestamp"]  # newer than the binding: only the window stops it
    fake.apply(ctl.receive_signalling("elma1", late.encode(), fake.now))
    assert ctl.binding("mn1")["proxy_coa"] == "2001:db8:ffff::2" and ctl.counters["pba_status_157"] == 1


def test_each_controller_instance_keeps_its_own_store():
    from controller.store import StoreConfig, for_instance

    base = StoreConfig(kind="sqlite", path="var/state/epmip.db", prefix="epmip:")
    assert for_instance(base, None) == base
    r1 = for_instance(base, "r1")
    assert r1.path == "var/state/epmip.r1.db" and r1.prefix == "epmip:r1:"
    assert for_instance(base, "r2").path != r1.path
    assert for_instance(StoreConfig(path="state"), "r1").path == "state.r1"
