"""Per-MN state kept compact (memory per MN, issue 13): ``controller.effects.TimerQueue`` pops as a
heap of (when, key) tuples would, in the same order, with entries that come in order kept in deques;
``Sequence`` gives one int object per value; ``PortTable`` answers as a dict by
port would, with dense ports in a list; the DRF's ``LocationCache`` gives back what was stored
(a local location kept as its time); the binding cache finds numbered HNPs without an index
entry, as it found them with one; a host's port keeps the domain's host object."""

from __future__ import annotations

import heapq
import random

from controller.effects import PortTable, Sequence, TimerQueue


def test_pops_as_a_heap_of_tuples_would():
    rng = random.Random(7)
    for _ in range(200):
        queue, heap, now = TimerQueue(), [], 0.0
        for _ in range(rng.randrange(1, 60)):
            if rng.random() < 0.6:
                # mostly in order (now + a fixed wait), sometimes earlier, often equal times
                when = rng.choice([now + 1.0, now + 0.5, now + rng.random() * 3, round(now)])
                key = rng.choice("abcde")
                queue.push(when, key)
                heapq.heappush(heap, (when, key))
            else:
                now += rng.random()
                got, want = [], []
                while (key := queue.pop_due(now)) is not None:
                    got.append(key)
                while heap and heap[0][0] <= now:
                    want.append(heapq.heappop(heap)[1])
                assert got == want
            assert len(queue) == len(heap) and sorted(queue) == sorted(heap)


def test_entries_in_order_need_no_tuple():
    queue = TimerQueue()
    for i in range(100):
        queue.push(float(i), f"m{i}")
    queue.push(50.0, "m49")  # out of order: the heap
    assert queue._heap == [(50.0, "m49")] and len(queue._whens) == 100
    assert [queue.pop_due(50.0) for _ in range(53)][-4:] == ["m49", "m49", "m50", None]


def test_sequence_numbers_are_one_object_per_value():
    seq = Sequence()
    first = [seq.next() for _ in range(0x10000)]
    assert first[:3] == [1, 2, 3] and first[-1] == 0
    again = [seq.next() for _ in range(0x10000)]
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))
    seq.resume(70000)  # a restart: numbers go on after the stored one, still shared
    assert seq.next() == 70001 & 0xFFFF and seq.last is first[(70001 & 0xFFFF) - 1]


def test_a_port_table_answers_as_a_dict_would():
    rng = random.Random(11)
    for _ in range(100):
        table, want = PortTable(), {}
        for _ in range(rng.randrange(1, 80)):
            port = rng.choice([rng.randrange(0, 40), rng.randrange(0, 400), rng.randrange(1 << 31), 0xFFFFFFFE])
            op = rng.random()
            if op < 0.5:
                mn_id = f"mn{rng.randrange(50)}"
                table[port] = mn_id
                want[port] = mn_id
            elif op < 0.75:
                assert table.pop(port) == want.pop(port, None)
            assert table.get(port) == want.get(port)
        for port in [*want, *range(500)]:
            assert table.get(port) == want.get(port)


def test_dense_ports_need_no_dict_entry():
    table = PortTable()
    for port in range(1, 1001):
        table[port] = f"mn{port}"
    table[0xFFFFFFFE] = "local"  # far past the end: the dict
    assert table._dict == {0xFFFFFFFE: "local"} and len(table._list) == 1001


def test_local_locations_come_back_equal_to_what_was_stored():
    import ipaddress
    import math

    from controller.drf import Location, LocationCache

    me = ipaddress.IPv6Address("2001:db8:ffff::1")
    other = ipaddress.IPv6Address("2001:db8:ffff::2")
    cache = LocationCache(me, "emag1")
    p = [ipaddress.IPv6Network(f"2001:db8:a:{i}::/64") for i in range(6)]
    stored = {
        p[0]: Location(me, "emag1", "local", 3.25),  # kept as its time alone
        p[1]: Location(other, "emag2", "pbci", 4.0, 64.0),
        p[2]: Location(me, "emag1", "pbqa", 5.0, 65.0),  # ours, but it expires: kept whole
        p[3]: Location(me, "emag1", "local", 7),  # not a float: kept whole
        p[4]: Location(other, "emag2", "local", 8.0),  # another DRF's: kept whole
    }
    for prefix, loc in stored.items():
        cache[prefix] = loc
    assert isinstance(cache._entries[p[0]], float) and cache._entries[p[1]] is stored[p[1]]
    assert all(not isinstance(cache._entries[q], float) for q in p[1:5])
    assert dict(cache.items()) == stored and list(cache) == list(stored) and len(cache) == 5
    assert all(cache[q] == loc and cache.get(q) == loc and q in cache for q, loc in stored.items())
    assert cache[p[0]].expires_at == math.inf and cache.get(p[5]) is None and p[5] not in cache
    assert cache.pop(p[0]) == stored[p[0]] and cache.pop(p[0]) is None and len(cache) == 4


def test_numbered_hnps_are_found_without_an_index_entry():
    import ipaddress

    from controller.binding_cache import BindingCache, BindingCacheEntry, HnpNumbering
    from controller.view import Hnp

    ids = [f"m{i}" for i in range(10)]
    pool = ipaddress.IPv6Network("2001:db8:a000::/40")
    base = int(pool.network_address)
    numbering = HnpNumbering(ids)
    numbering.numbered_from(pool)

    def numbered(i: int, k: int = 0) -> Hnp:
        return Hnp(base + ((i + 1 + k * len(ids)) << 64), 64)

    def entry(mn_id: str, hnps: list) -> BindingCacheEntry:
        return BindingCacheEntry(mn_id, "02:00:00:00:00:01", hnps, ipaddress.IPv6Address("2001:db8:ffff::1"),
                                 60.0, 1.0, 1.0, 61.0)  # fmt: skip

    static = ipaddress.IPv6Network("2001:db8:b:1::/64")
    foreign = ipaddress.IPv6Network(f"{ipaddress.IPv6Address(base + (7 << 64))}/64")  # m6's number, m1's HNP
    rng = random.Random(5)
    for _ in range(50):
        cache, plain = BindingCache(), BindingCache()  # ``plain``: every HNP indexed, as before
        cache.numbering = numbering
        for _ in range(30):
            i = rng.randrange(10)
            choice = rng.random()
            hnps = (
                [numbered(i)] if choice < 0.4 else [numbered(i), numbered(i, 1)] if choice < 0.5
                else [static] if choice < 0.6 else [foreign] if choice < 0.7
                else [ipaddress.IPv6Network(str(numbered(i)))] if choice < 0.8 else None
            )  # fmt: skip
            for c in (cache, plain):
                if hnps is None:
                    c.delete(ids[i])
                else:
                    c.put(entry(ids[i], list(hnps)))
            for j in range(12):
                for address in (numbered(j).network_address + 5, numbered(j, 1).network_address + 1):
                    assert cache.lookup(address) == plain.lookup(address) == cache.lookup(int(address))
            for address in (static.network_address + 1, foreign.network_address + 1):
                assert cache.lookup(address) == plain.lookup(address) == cache.lookup(int(address))
        assert len(cache._by_prefix) <= len(plain._by_prefix)


def test_a_hosts_port_keeps_the_domains_host(net):
    net.attach("mn1")
    port = net.host_port("emag1")
    assert net.ctl.connected[net.dpid("emag1")].get(port) is net.domain.mobile_nodes["mn1"]
