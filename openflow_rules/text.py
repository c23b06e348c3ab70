"""Canonical text of IPv6 addresses and prefixes, without ``ipaddress``'s pure-Python formatter.

``socket.inet_ntop`` (C) writes RFC 5952 text: lower case, the longest run of two or more zero
groups as ``::`` (the first of equal runs), no ``::`` for a single zero group - which is what
``str()`` of an ``ipaddress`` object gives, except that inet_ntop writes an IPv4-mapped or
-compatible tail in dotted form; such text goes to ``str()``.  ``tests/unit/test_text.py`` compares
the two.  Text is what signalling messages and flow intents carry, so this is on every event's
path (it was a quarter of a route set-up's time in the profile).
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import sys

_AF_INET6 = socket.AF_INET6

# A prefix as one int, its *key*: (network address ^ netmask) + length * LENGTH_UNIT.  Python
# hashes an int by its value modulo ``sys.hash_info.modulus`` (2**61 - 1), and LENGTH_UNIT is a
# multiple of it larger than any 128-bit value, so a key's own (C) hash is hash(network address ^
# netmask): IPv6Network's hash of the same prefix.  ``controller.view.Hnp`` is a prefix that is its
# key, so dicts hash and compare it in C; the memo below is keyed by it.
MASKS = tuple(((1 << n) - 1) << (128 - n) for n in range(129))  # netmasks by prefix length
LENGTH_UNIT = sys.hash_info.modulus << 128


def prefix_key(network: int, length: int) -> int:
    """The key of the prefix ``network``/``length`` (no checks)."""
    return (network ^ MASKS[length]) + length * LENGTH_UNIT


def key_parts(key: int) -> tuple[int, int]:
    """(network address, length) of a prefix key."""
    length, rest = divmod(key, LENGTH_UNIT)
    return rest ^ MASKS[length], length


def address(a: ipaddress.IPv6Address | str) -> str:
    if isinstance(a, str):
        return a
    text = socket.inet_ntop(_AF_INET6, a.packed)
    return str(a) if "." in text else text


def prefix(n: ipaddress.IPv6Network | str) -> str:
    """Memoised (a pure function of an immutable prefix): a registration writes its HNP seven
    times (PBU, PBA, flows, RA) and a route set-up the correspondent's three times, from prefix
    objects that are equal but not the same (the LMA's HNP, the DRF's key).  The memo is keyed by
    the prefix's key (``prefix_key``), hashed and compared in C: a prefix that is an int
    (``controller.view.Hnp``: every stored HNP and DRF key) is its key already; for another it
    costs two attribute reads, where hashing and comparing IPv6Network objects runs Python code."""
    if isinstance(n, str):
        return n
    # an Hnp is its own key (kept as is: the same object asked again is found by identity)
    key = n if isinstance(n, int) else prefix_key(int(n.network_address), n.prefixlen)
    found = _TEXTS_BY_KEY.get(key)
    if found is None:
        if len(_TEXTS_BY_KEY) >= PREFIX_TEXTS_MAX:
            _forget_oldest(_TEXTS_BY_KEY, PREFIX_TEXTS_MAX >> 3)
        # from the key, not the object: an Hnp makes its network address on every ask
        network, length = key_parts(key)
        text = socket.inet_ntop(_AF_INET6, network.to_bytes(16, "big"))
        found = _TEXTS_BY_KEY[key] = str(n) if "." in text else f"{text}/{length}"
    return found


# Prefix texts kept: every HNP a registration names and every correspondent a route set-up asks
# for is asked again (the flow-mods, the PBQA, the RA), so up to 262,144 of them (about 25 MB;
# controller RSS per MN at a million MNs stays under 1 KiB, docs/benchmarks.md).  With 16,384
# the texts of a domain's MNs were made again on most route set-ups above that many MNs.
PREFIX_TEXTS_MAX = 1 << 18


def _forget_oldest(memo: dict[int, str], n: int) -> None:
    """Drop the ``n`` entries put in first (a dict keeps its order): a full memo loses its oldest
    eighth at once, not everything (a pause of a few ms every 32,768 new texts, not a cold memo)."""
    for key in list(itertools.islice(memo, n)):
        del memo[key]


_PARSED: dict[str, ipaddress.IPv6Address] = {}
_PARSED_MAX = 1 << 14


def address_of(text: str) -> ipaddress.IPv6Address:
    """``ipaddress.IPv6Address(text)``, from a bounded cache: the addresses messages carry as text
    (a queried HoA, a CoA) are few and recur, and parsing one is the dearest step of reading a
    message.  Address objects are immutable, so sharing one is safe.  ValueError as the
    constructor raises it."""
    found = _PARSED.get(text)
    if found is None:
        try:  # C parser; what it refuses (a scope id, junk) goes to ipaddress, which says why
            found = ipaddress.IPv6Address(int.from_bytes(socket.inet_pton(_AF_INET6, text), "big"))
        except (OSError, ValueError, TypeError):
            found = ipaddress.IPv6Address(text)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[text] = found
    return found


def address_int(text: str) -> int:
    """``int(ipaddress.IPv6Address(text))`` without the address object (a queried HoA: a new one
    on most queries, and the LMF compares and looks it up as an int).  ValueError as the
    constructor raises it."""
    try:
        return int.from_bytes(socket.inet_pton(_AF_INET6, text), "big")
    except (OSError, ValueError, TypeError):  # what inet_pton refuses goes to ipaddress, which says why
        return int(ipaddress.IPv6Address(text))


def packed_of(text: str) -> bytes:
    """``ipaddress.IPv6Address(text).packed`` without the address object (a Router Advertisement's
    addresses: a new host's on every registration).  ValueError as the constructor raises it."""
    try:
        return socket.inet_pton(_AF_INET6, text)
    except (OSError, ValueError, TypeError):  # what inet_pton refuses goes to ipaddress, which says why
        return ipaddress.IPv6Address(text).packed


_TEXTS: dict[int, str] = {}
_TEXTS_BY_KEY: dict[int, str] = {}


def address_cached(a: ipaddress.IPv6Address) -> str:
    """``address(a)`` from a bounded memo, for the few addresses that recur on every event (a
    binding's CoA: a MAG's address), keyed by the int (an address's own hash is made in Python)."""
    ip = int(a)
    found = _TEXTS.get(ip)
    if found is None:
        if len(_TEXTS) >= _PARSED_MAX:
            _TEXTS.clear()
        found = _TEXTS[ip] = address(a)
    return found
