"""The shortcuts of the route set-up path (issue 13) give what the ``ipaddress`` code they replace
gives: the /64 made from its int, the DRF's "routable destination" test, the LMF's "do I manage
this address" and the §4.4.1 prefix owner as int compares, and the CoA text memo."""

from __future__ import annotations

import copy
import ipaddress
import pickle
import random

from controller.drf import _routable
from controller.view import Hnp, View, prefix_of
from openflow_rules import text

Addr = ipaddress.IPv6Address
Net = ipaddress.IPv6Network


def _addresses(rng: random.Random, n: int) -> list[Addr]:
    special = [0, 1, 0xFE80 << 112, 0xFEBF << 112 | 5, 0xFEC0 << 112, 0xFE7F << 112, 0xFF00 << 112, 0xFF02 << 112 | 1]
    tops = [rng.getrandbits(10) << 118 | rng.getrandbits(20) for _ in range(n // 4)]  # near fe80::/10, ff00::/8
    return [Addr(x) for x in special + tops + [rng.getrandbits(128) for _ in range(n)]]


def test_routable_is_not_multicast_link_local_or_unspecified():
    for a in _addresses(random.Random(11), 20000):
        assert _routable(a) == (not (a.is_multicast or a.is_link_local or a.is_unspecified)), a


def test_prefix_of_is_the_64_ipaddress_makes():
    """``prefix_of`` (an Hnp made from the address's int) against ``IPv6Network``: equal both ways,
    hashed alike (as a dict key either way), printed alike, the same attributes and members."""
    rng = random.Random(64)
    for _ in range(3000):
        top = rng.getrandbits(64)
        inside = Addr(top << 64 | rng.getrandbits(64))
        fast, plain = prefix_of(inside), Net((top << 64, 64))
        assert type(fast) is Hnp and fast == plain and plain == fast and not fast != plain
        assert hash(fast) == hash(plain) and str(fast) == str(plain) and text.prefix(fast) == str(plain)
        assert {plain: 1}[fast] == 1 and {fast: 2}[plain] == 2 and inside in fast
        assert Addr(((top + 1) % (1 << 64)) << 64) not in fast
        assert (fast.network_address, fast.prefixlen, fast.broadcast_address, fast.hostmask) == (
            plain.network_address, 64, plain.broadcast_address, plain.hostmask,
        )  # fmt: skip
        assert int(fast.network_address) >> 64 == top
        for back in (copy.copy(fast), copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))):
            assert back == plain and back == fast and hash(back) == hash(plain)
        other = prefix_of(Addr(rng.getrandbits(128)))
        assert (other == fast) == (Net((int(other.network_address), 64)) == plain)


def test_owner_and_own_prefix_tests_match_network_membership(domain):
    from controller.topology import Topology

    topo = Topology(domain)
    views = [View(domain, topo, name) for name in domain.switches]
    rng = random.Random(4)
    prefixes = [p for p, _ in views[0].lma_prefixes]
    samples = _addresses(rng, 2000)
    for p in prefixes:  # inside, at both ends, and just outside each configured prefix
        first, last = int(p.network_address), int(p.broadcast_address)
        samples += [Addr(x) for x in (first, last, first + rng.randrange(p.num_addresses)) if 0 <= x < 1 << 128]
        samples += [Addr(x) for x in (first - 1, last + 1) if 0 <= x < 1 << 128]
    for view in views:
        for a in samples:
            owner = next((o for p, o in view.lma_prefixes if a in p), None)
            got = view.prefix_owner(a)
            assert (got.name if got is not None else None) == owner, (view.name, a)
            assert view.owns(a) == any(a in p for p in view.own_prefixes()), (view.name, a)
            assert view.owns(int(a)) == view.owns(a) and view.prefix_owner(int(a)) == got  # the LMF asks by int
    view = views[0]
    extra = Net("2001:db8:7700::/40")
    view.add_prefix(extra, "elma1")
    assert view.prefix_owner(Addr("2001:db8:7700::5")).name == "elma1"
    view.remove_prefix(extra)
    assert view.prefix_owner(Addr("2001:db8:7700::5")) is None


def test_cached_address_text_is_the_text():
    rng = random.Random(3)
    for a in _addresses(rng, 3000) * 2:
        assert text.address_cached(a) == str(a)
