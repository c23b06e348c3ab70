"""The binding cache: the (e)LMA's BCEs and, for an eLMA, the LMF's location database.

A small store interface (get/put/delete/lookup by address) so that it can later sit on a shared
store; lookups by address are O(1) because every HNP here is a /64 (indexed by the top 64 bits).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

ACTIVE = "active"
DELETING = "deleting"  # de-registered, waiting MinDelayBeforeBCEDelete


@dataclass
class BindingCacheEntry:
    mn_id: str
    mn_ll_id: str
    hnps: list[ipaddress.IPv6Network]
    coa: ipaddress.IPv6Address
    lifetime: float
    timestamp: float  # of the last accepted PBU
    registered_at: float
    expires_at: float
    state: str = ACTIVE
    delete_at: float | None = None
    previous_coa: ipaddress.IPv6Address | None = None
    updates: int = 0
    history: list[str] = field(default_factory=list)

    def to_json(self, lma: str) -> dict:
        return {
            "mn_id": self.mn_id,
            "mn_link_layer_id": self.mn_ll_id,
            "hnps": [str(p) for p in self.hnps],
            "proxy_coa": str(self.coa),
            "previous_coa": str(self.previous_coa) if self.previous_coa else None,
            "lma": lma,
            "lifetime": self.lifetime,
            "timestamp": self.timestamp,
            "registered_at": self.registered_at,
            "expires_at": self.expires_at,
            "state": self.state,
            "delete_at": self.delete_at,
            "updates": self.updates,
        }


def _key(address: ipaddress.IPv6Address | ipaddress.IPv6Network) -> int:
    if isinstance(address, ipaddress.IPv6Network):
        address = address.network_address
    return int(address) >> 64


class BindingCache:
    def __init__(self) -> None:
        self._by_mn: dict[str, BindingCacheEntry] = {}
        self._by_prefix: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._by_mn)

    def __iter__(self) -> Iterator[BindingCacheEntry]:
        return iter(list(self._by_mn.values()))

    def get(self, mn_id: str) -> BindingCacheEntry | None:
        return self._by_mn.get(mn_id)

    def put(self, bce: BindingCacheEntry) -> None:
        old = self._by_mn.get(bce.mn_id)
        if old is not None:
            for p in old.hnps:
                self._by_prefix.pop(_key(p), None)
        self._by_mn[bce.mn_id] = bce
        for p in bce.hnps:
            self._by_prefix[_key(p)] = bce.mn_id

    def delete(self, mn_id: str) -> BindingCacheEntry | None:
        bce = self._by_mn.pop(mn_id, None)
        if bce is not None:
            for p in bce.hnps:
                self._by_prefix.pop(_key(p), None)
        return bce

    def lookup(self, address: ipaddress.IPv6Address) -> BindingCacheEntry | None:
        """The entry whose HNP contains ``address`` (the LMF's HoA -> CoA answer)."""
        mn_id = self._by_prefix.get(_key(address))
        return self._by_mn.get(mn_id) if mn_id is not None else None
