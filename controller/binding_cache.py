"""The binding cache: the (e)LMA's BCEs and, for an eLMA, the LMF's location database.

A small store interface (get/put/delete/lookup by address) so that it can later sit on a shared
store; lookups by address are O(1) because every HNP here is a /64: an HNP the LMA numbered
(``HnpNumbering``) is found by arithmetic, any other by an index of its /64.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

from controller.view import KEY64, MASK64, Hnp

ACTIVE = "active"
DELETING = "deleting"  # de-registered, waiting MinDelayBeforeBCEDelete
INTERN_MAX = 1 << 16  # distinct CoAs a cache shares objects for
NOBODY = ""  # an index entry that finds no binding (no MN-Identifier is empty)


class BindingCacheEntry:
    """One BCE.  Compact (about a million of them in an LMF): ``__slots__``, CoAs shared by the
    cache (``BindingCache.put``), and ``history`` only allocated when used.  Attributes as in a
    dataclass: mn_id, mn_ll_id, hnps (list of IPv6Network), coa, lifetime, timestamp (of the last
    accepted PBU), registered_at, expires_at, state, delete_at, previous_coa, updates, history."""

    __slots__ = (
        "mn_id", "mn_ll_id", "hnps", "coa", "lifetime", "timestamp", "registered_at", "expires_at",
        "state", "delete_at", "previous_coa", "updates", "_history",
    )  # fmt: skip
    _FIELDS = (
        "mn_id", "mn_ll_id", "hnps", "coa", "lifetime", "timestamp", "registered_at", "expires_at",
        "state", "delete_at", "previous_coa", "updates", "history",
    )  # fmt: skip
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as a dataclass)

    def __init__(
        self,
        mn_id: str,
        mn_ll_id: str,
        hnps: list[ipaddress.IPv6Network],
        coa: ipaddress.IPv6Address,
        lifetime: float,
        timestamp: float,
        registered_at: float,
        expires_at: float,
        state: str = ACTIVE,
        delete_at: float | None = None,
        previous_coa: ipaddress.IPv6Address | None = None,
        updates: int = 0,
        history: list[str] | None = None,
    ) -> None:
        self.mn_id = mn_id
        self.mn_ll_id = mn_ll_id
        self.hnps = hnps
        self.coa = coa
        self.lifetime = lifetime
        self.timestamp = timestamp
        self.registered_at = registered_at
        self.expires_at = expires_at
        self.state = state
        self.delete_at = delete_at
        self.previous_coa = previous_coa
        self.updates = updates
        self._history = history

    @property
    def history(self) -> list[str]:
        if self._history is None:
            self._history = []
        return self._history

    @history.setter
    def history(self, value: list[str]) -> None:
        self._history = value

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._FIELDS)

    def __repr__(self) -> str:
        return f"BindingCacheEntry({', '.join(f'{f}={getattr(self, f)!r}' for f in self._FIELDS)})"

    def to_json(self, lma: str) -> dict[str, object]:
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


def _key(address: ipaddress.IPv6Address | ipaddress.IPv6Network | int) -> ipaddress.IPv6Network:
    """The /64 holding ``address`` (for a network, its network address).  A /64 HNP is its own
    key - the very object the binding holds, so an index entry adds no object per HNP (memory per
    MN, issue 13) - and an address's is an ``Hnp`` made for the lookup, equal to and hashed like it
    (one int: cheaper than a /64 IPv6Network, and than a memo that misses at a million MNs)."""
    if isinstance(address, ipaddress.IPv6Network):
        if address.prefixlen == 64:
            return address
        return Hnp.holding(address.network_address)
    return Hnp.holding(address)


def _number64(prefix: ipaddress.IPv6Network) -> int:
    """The /64 number of a /64 (its network address shifted right by 64)."""
    if type(prefix) is Hnp:  # its key: (network address ^ netmask) + KEY64 for a /64
        return (int.__sub__(prefix, KEY64) ^ MASK64) >> 64
    return int(prefix.network_address) >> 64


class HnpNumbering:
    """Whose HNP a /64 is by an LMA's numbering (``Lma.hnps_for``): MN *i* of the domain's M MNs
    gets the /64s number i+1, i+1+M, i+1+2M ... of a pool.  The binding cache finds such an HNP's
    entry by this arithmetic instead of keeping an index entry for it (one per MN, ~45 B at a
    million MNs; memory per MN, issue 13)."""

    __slots__ = ("_ids", "_pools")

    def __init__(self, ids: Sequence[str]) -> None:
        self._ids = ids  # MN ids by their position in the domain file
        self._pools: list[tuple[int, int]] = []  # (pool's first /64 number, its /64 count) numbered from

    def numbered_from(self, pool: ipaddress.IPv6Network) -> None:
        """The LMA numbers HNPs in ``pool`` (kept for good: bindings outlive a pool's change)."""
        if pool.prefixlen <= 64:
            entry = (int(pool.network_address) >> 64, 1 << (64 - pool.prefixlen))
            if entry not in self._pools:
                self._pools.append(entry)

    def owner(self, number64: int) -> str | None:
        """The MN whose numbered HNP the /64 ``number64`` would be, if a pool holds it."""
        for first, count in self._pools:
            number = number64 - first
            if 0 < number < count and self._ids:
                return self._ids[(number - 1) % len(self._ids)]
        return None


def _has(hnps: list[ipaddress.IPv6Network], key: ipaddress.IPv6Network) -> bool:
    """``key in hnps`` for a lookup key (an Hnp): an Hnp among them is compared as the int it is,
    in C, not by ``Hnp.__eq__`` (the LMF's every answer asks)."""
    for h in hnps:
        if h is key or (int.__eq__(h, key) if type(h) is Hnp and type(key) is Hnp else h == key):
            return True
    return False


class BindingCache:
    def __init__(self) -> None:
        self._by_mn: dict[str, BindingCacheEntry] = {}
        # the /64s of HNPs that ``numbering`` does not give their MN (static HNPs, bindings from a
        # store written under another numbering, HNPs that are no /64)
        self._by_prefix: dict[ipaddress.IPv6Network, str] = {}
        self._coas: dict[ipaddress.IPv6Address, ipaddress.IPv6Address] = {}
        self.numbering: HnpNumbering | None = None  # the LMA's, set before the first ``put``

    def _numbered(self, prefix: ipaddress.IPv6Network, mn_id: str) -> bool:
        """Is ``prefix`` ``mn_id``'s HNP by the numbering (so that no index entry is needed)?"""
        return (
            self.numbering is not None and prefix.prefixlen == 64
            and self.numbering.owner(_number64(prefix)) == mn_id
        )  # fmt: skip

    def _intern(self, address: ipaddress.IPv6Address | None) -> ipaddress.IPv6Address | None:
        """One object per distinct Proxy-CoA: a CoA is a MAG's address, so a million bindings name
        a handful of them (IPv6Address is immutable, equal ones are interchangeable)."""
        if address is None:
            return None
        shared = self._coas.get(address)
        if shared is None:
            if len(self._coas) >= INTERN_MAX:
                return address
            shared = self._coas[address] = address
        return shared

    def __len__(self) -> int:
        return len(self._by_mn)

    def __iter__(self) -> Iterator[BindingCacheEntry]:
        return iter(list(self._by_mn.values()))

    def get(self, mn_id: str) -> BindingCacheEntry | None:
        return self._by_mn.get(mn_id)

    def _unindex(self, prefix: ipaddress.IPv6Network) -> None:
        """``prefix`` is no longer found by address (its binding went or changed its HNPs), even
        if another binding names it too (two bindings never should): the numbering's answer is
        covered by a "nobody" entry then."""
        key = _key(prefix)
        if self._by_prefix:
            self._by_prefix.pop(key, None)
        if self.numbering is not None:
            owner = self.numbering.owner(_number64(key))
            holder = self._by_mn.get(owner) if owner is not None else None
            if holder is not None and _has(holder.hnps, key):
                self._by_prefix[key] = NOBODY

    def put(self, bce: BindingCacheEntry) -> None:
        old = self._by_mn.get(bce.mn_id)
        coa = self._intern(bce.coa)
        bce.coa = coa if coa is not None else bce.coa
        bce.previous_coa = self._intern(bce.previous_coa)
        self._by_mn[bce.mn_id] = bce
        if old is not None and old is not bce:  # (a refresh puts the same entry again)
            for p in old.hnps:
                self._unindex(p)
        for p in bce.hnps:  # the latest binding naming a prefix has it
            if self._numbered(p, bce.mn_id):
                if self._by_prefix:  # (mostly empty: no Hnp hash then)
                    self._by_prefix.pop(p, None)
            else:
                self._by_prefix[_key(p)] = bce.mn_id

    def delete(self, mn_id: str) -> BindingCacheEntry | None:
        bce = self._by_mn.pop(mn_id, None)
        if bce is not None:
            for p in bce.hnps:
                self._unindex(p)
        return bce

    def lookup(self, address: ipaddress.IPv6Address | int) -> BindingCacheEntry | None:
        """The entry whose HNP contains ``address`` or its int (the LMF's HoA -> CoA answer)."""
        key = _key(address)
        mn_id = self._by_prefix.get(key) if self._by_prefix else None  # (mostly empty: no Hnp hash then)
        if mn_id is not None:
            return self._by_mn.get(mn_id)
        if self.numbering is None:
            return None
        mn_id = self.numbering.owner(_number64(key))
        bce = self._by_mn.get(mn_id) if mn_id is not None else None
        return bce if bce is not None and _has(bce.hnps, key) else None
