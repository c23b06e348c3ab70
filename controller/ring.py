"""Consistent hashing of HNPs over the independent LMFs (draft §7.4).

The draft leaves the rule open ("Hash algorithm (hashing the HNP(es)), DHT algorithm and etc.").
A plain ``hash % n`` would move almost every HNP when an LMF is added; on a ring each LMF owns the
arcs before its points, so adding one moves only the HNPs that fall on its new arcs - about 1/(n+1)
of them - and every HNP that moves, moves to the new LMF.  Each LMF gets ``VNODES`` points to even
out the shares.  SHA-256 keeps the placement the same in every process and on every run.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
from collections.abc import Iterable

VNODES = 64


def _point(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class HashRing:
    def __init__(self, names: Iterable[str], vnodes: int = VNODES) -> None:
        self.names = tuple(sorted(set(names)))
        points = sorted((_point(f"{name}#{i}"), name) for name in self.names for i in range(vnodes))
        self._keys = [p for p, _ in points]
        self._owners = [n for _, n in points]

    def owner(self, key: str) -> str | None:
        """The name owning ``key`` (None on an empty ring)."""
        if not self._keys:
            return None
        i = bisect.bisect(self._keys, _point(key)) % len(self._keys)
        return self._owners[i]

    def owner_of_prefix(self, prefix: ipaddress.IPv6Network) -> str | None:
        """The LMF responsible for an HNP (or any /64 of the area)."""
        return self.owner(str(prefix))
