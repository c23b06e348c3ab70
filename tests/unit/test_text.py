"""openflow_rules.text gives exactly the text ``str()`` of an ipaddress object gives."""

from __future__ import annotations

import ipaddress
import random

import pytest

from openflow_rules import text

EDGES = [
    "::", "::1", "1::", "::ffff:1.2.3.4", "::1.2.3.4", "64:ff9b::1.2.3.4", "2001:db8::", "2001:db8:0:1::1",
    "1:0:0:1:0:0:0:1", "1:0:1:0:1:0:1:0", "0:1:0:0:1:0:0:0", "2001:db8:a:0:0:0:0:1", "fe80::1", "ff02::1:ff00:1",
    "1:2:3:4:5:6:7:8", "1:0:2:3:4:5:6:7", "0:0:1:0:0:1:0:0",
]  # fmt: skip


def random_address(rng: random.Random) -> ipaddress.IPv6Address:
    groups = [rng.choice([0, 0, 0, 1, rng.randrange(1 << 16)]) for _ in range(8)]
    return ipaddress.IPv6Address(sum(g << (16 * (7 - i)) for i, g in enumerate(groups)))


def test_address_text_is_str():
    rng = random.Random(5952)
    addresses = [ipaddress.IPv6Address(a) for a in EDGES] + [random_address(rng) for _ in range(20000)]
    for a in addresses:
        assert text.address(a) == str(a), a
    assert text.address("2001:db8::1") == "2001:db8::1"


def test_prefix_text_is_str():
    rng = random.Random(4291)
    nets = [ipaddress.IPv6Network(f"{a}/128") for a in EDGES]
    for _ in range(20000):
        plen = rng.choice([0, 16, 40, 48, 56, 64, 64, 96, 127, 128])
        nets.append(ipaddress.IPv6Network(f"{random_address(rng)}/{plen}", strict=False))
    for n in nets:
        assert text.prefix(n) == str(n), n
    assert text.prefix("2001:db8::/64") == "2001:db8::/64"


def test_a_prefix_with_its_hash_kept_is_equal_to_and_hashed_like_the_network():
    from controller.view import Prefix, prefix_of

    addr = ipaddress.IPv6Address("2001:db8:a:1::99")
    p = prefix_of(addr)
    plain = ipaddress.IPv6Network("2001:db8:a:1::/64")
    assert isinstance(p, Prefix) and p == plain and hash(p) == hash(plain) and str(p) == str(plain)
    assert {plain: 1}[p] == 1 and {p: 2}[plain] == 2
    assert prefix_of(ipaddress.IPv6Address("2001:db8:a:2::1")) != plain


def test_a_compact_hnp_behaves_as_the_network():
    """``Hnp`` (one int per stored HNP, issue 13) is equal to, hashed, ordered, printed, pickled
    and contains addresses like the IPv6Network of the same prefix, both ways and as dict keys."""
    import copy
    import pickle

    from controller.view import Hnp, Prefix

    nets = [ipaddress.IPv6Network(t) for t in ("2001:db8:0:5::/64", "::/0", "2001:db8::1/128", "2001:db8::/48")]
    for net in nets:
        h = Hnp(int(net.network_address), net.prefixlen)
        p = Prefix(str(net))
        assert h == net and net == h and p == h and h == p and not h != net and not net != h and not p != h
        assert hash(h) == hash(net) == hash(p)
        assert {net: 1}[h] == 1 and {h: 2}[net] == 2 and {h: 3}[p] == 3
        assert str(h) == str(net) and repr(h) == repr(net) and f"{h}" == f"{net}" and text.prefix(h) == text.prefix(net)
        # text.prefix's memo key for any prefix, which an Hnp is as an int: both share one entry
        assert int(h) == text.prefix_key(int(net.network_address), net.prefixlen)
        assert text.key_parts(int(h)) == (int(net.network_address), net.prefixlen)
        assert hash(int(h)) == hash(net)  # why it is that int: its own (C) hash is the network's
        assert (h.network_address, h.prefixlen, h.netmask, h.hostmask) == (
            net.network_address, net.prefixlen, net.netmask, net.hostmask,
        )  # fmt: skip
        assert h.broadcast_address == net.broadcast_address and bool(h)
        assert pickle.loads(pickle.dumps(h)) == h and type(copy.deepcopy(h)) is Hnp and copy.deepcopy(h) == h
        for a in (net.network_address, net.broadcast_address, ipaddress.IPv6Address("2002::1")):
            assert (a in h) == (a in net)
        assert h.subnet_of(ipaddress.IPv6Network("::/0")) and ipaddress.IPv6Network(str(h)) == net
    hs = [Hnp(int(n.network_address), n.prefixlen) for n in nets]
    assert [str(x) for x in sorted(hs)] == [str(x) for x in sorted(nets)] and sorted(hs + nets) == sorted(nets + nets)
    assert hs[0] != hs[3] and hs[0] == Hnp(int(nets[0].network_address), 64)
    with pytest.raises(ValueError):
        Hnp(1, 64)  # host bits set
    held = Hnp.holding(ipaddress.IPv6Address("2001:db8:0:5::99"))  # a lookup key: the /64 holding it
    assert held == nets[0] and hash(held) == hash(nets[0]) and str(held) == "2001:db8:0:5::/64"


def test_address_of_parses_as_ipaddress_does():
    """``text.address_of`` (inet_pton, then ipaddress for what it refuses) gives the same address
    as ``IPv6Address(text)`` and refuses what it refuses, on valid, upper-case, exploded and
    damaged text."""
    rng = random.Random(77)
    cases = [*EDGES, "fe80::1%eth0", "::1.2.3.256", "::ffff:01.2.3.4", "1::2::3", "12345::", "", " ::1", "1.2.3.4"]
    for _ in range(10000):
        a = ipaddress.IPv6Address(random_address(rng))
        cases += [str(a), a.exploded, str(a).upper()]
        chars = list(str(a))
        chars[rng.randrange(len(chars))] = rng.choice(":0fgx.%")
        cases.append("".join(chars))
    for case in cases:
        try:
            want: object = ipaddress.IPv6Address(case)
        except ValueError:
            want = ValueError
        text._PARSED.clear()
        try:
            got: object = text.address_of(case)
        except ValueError:
            got = ValueError
        assert got == want and str(got) == str(want), case
        try:
            as_int: object = text.address_int(case)
        except ValueError:
            as_int = ValueError
        assert as_int == (ValueError if want is ValueError else int(want)), case  # type: ignore[call-overload]
        try:
            packed: object = text.packed_of(case)
        except ValueError:
            packed = ValueError
        assert packed == (ValueError if want is ValueError else want.packed), case  # type: ignore[union-attr]
    assert text.address_of("2001:db8::1") is text.address_of("2001:db8::1")  # the cache


def test_prefix_of_is_the_64_of_the_address():
    from controller.view import Hnp, prefix_of

    a = ipaddress.IPv6Address("2001:db8:7:8:9::1")
    assert prefix_of(a) == ipaddress.IPv6Network("2001:db8:7:8::/64")
    assert prefix_of(a) == prefix_of(ipaddress.IPv6Address("2001:db8:7:8::2"))
    assert type(prefix_of(a)) is Hnp and hash(prefix_of(a)) == hash(ipaddress.IPv6Network("2001:db8:7:8::/64"))


def test_the_prefix_text_memo_is_bounded_and_drops_its_oldest_eighth(monkeypatch):
    """Past ``PREFIX_TEXTS_MAX`` texts the memo loses the eighth it got first (not everything), and
    every text it gives stays right."""
    from controller.view import Hnp

    monkeypatch.setattr(text, "PREFIX_TEXTS_MAX", 64)
    monkeypatch.setattr(text, "_TEXTS_BY_KEY", {})
    base = int(ipaddress.IPv6Address("2001:db8::"))
    hnps = [Hnp(base + (i << 64), 64) for i in range(200)]
    for i, h in enumerate(hnps):
        assert text.prefix(h) == str(ipaddress.IPv6Network((base + (i << 64), 64)))
        assert len(text._TEXTS_BY_KEY) <= 64
    kept = list(text._TEXTS_BY_KEY)
    assert kept == hnps[-len(kept) :] and len(kept) > 64 - 64 // 8  # the newest, in order
    assert text.prefix(hnps[0]) == str(hnps[0])  # a forgotten one is made again
