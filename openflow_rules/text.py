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
import socket

_AF_INET6 = socket.AF_INET6


def address(a: ipaddress.IPv6Address | str) -> str:
    if isinstance(a, str):
        return a
    text = socket.inet_ntop(_AF_INET6, a.packed)
    return str(a) if "." in text else text


def prefix(n: ipaddress.IPv6Network | str) -> str:
    if isinstance(n, str):
        return n
    text = socket.inet_ntop(_AF_INET6, n.network_address.packed)
    return str(n) if "." in text else f"{text}/{n.prefixlen}"
