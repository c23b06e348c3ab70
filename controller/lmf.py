"""Location Management Function (draft §3.3, §4.2, §4.4): the location database and its queries.

An eLMA's LMF answers a DRF's PMIP Binding Query Request (PBQR) from the binding cache (HNP/HoA
-> Proxy-CoA) with a PBQA.  With ``lmf_discovery: relay`` (§4.4.3) a DRF sends every query to its
preferred eLMA; an LMF asked about an address it does not manage relays the query to the LMF that
does (found by its own prefix configuration) and passes the answer back.  A relayed query that is
never answered is forgotten after ``RELAY_HOLD`` seconds.

The LMF remembers which DRFs it gave an MN's location to, for as long as the lifetime it gave
them: they are the MN's location *holders*.  The co-located LMA puts them in every PBA, so the
MN's serving eMAG can update them at a handoff and withdraw the location at a departure, whatever
the direction of the traffic; when the binding itself goes, the LMF withdraws it from them.

The binding cache itself is written by the co-located LMA registration (``controller/lma.py``);
both are parts of one eLMA node and share that cache by construction.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from controller.binding_cache import ACTIVE, BindingCache, BindingCacheEntry
from controller.effects import Effects, Outstanding, Sequence, Stats
from controller.messages import PBCA, PBCI, PBQA, PBQR, Status
from controller.view import View
from openflow_rules import text

LOG = logging.getLogger("epmip.lmf")
RELAY_HOLD = 5.0  # seconds a relayed query waits for the responsible LMF's answer
WITHDRAW_TIMEOUT = 1.0  # first wait for the PBCA to a withdrawal, doubled on each resend
WITHDRAW_TRIES = 3


@dataclass
class Relayed:
    asker: str
    seq: int
    address: str
    sent_at: float


class Lmf:
    def __init__(self, view: View, cache: BindingCache, stats: Stats, seq: Sequence) -> None:
        self.view = view
        self.cache = cache
        self.stats = stats
        self.seq = seq
        self.relayed: dict[int, Relayed] = {}  # our seq -> the query we relayed
        # mn_id -> {DRF address: until when it may use the location we gave it}
        self.holders: dict[str, dict[str, float]] = {}
        self.withdrawals = Outstanding(WITHDRAW_TIMEOUT, WITHDRAW_TRIES)
        self.changed: set[str] = set()  # MNs whose holders changed: for the store

    @property
    def name(self) -> str:
        return self.view.name

    def manages(self, address: ipaddress.IPv6Address) -> bool:
        return self.view.owns(address)

    def locate(self, address: ipaddress.IPv6Address | int) -> BindingCacheEntry | None:
        bce = self.cache.lookup(address)
        return bce if bce is not None and bce.state == ACTIVE else None

    def on_pbqr(self, msg: PBQR, now: float) -> Effects:
        """Answer from the binding cache, or relay to the LMF that manages the address (§4.4.3)."""
        fx = Effects()
        try:  # an int: the owner test and the lookup compare ints (no address object; issue 13)
            address: int | None = text.address_int(msg.address)
        except ValueError:
            address = None
        if address is not None and not self.view.owns(address):
            owner = self.view.find_lmf(ipaddress.IPv6Address(address))
            if owner is not None and owner != self.name:
                seq = self.seq.next()
                self.relayed[seq] = Relayed(msg.src, msg.seq, msg.address, now)
                self.stats.count("lmf_query_relayed")
                fx.send(PBQR(src=self.name, dst=owner, seq=seq, address=msg.address, requester=msg.requester))
                return fx
        bce = self.locate(address) if address is not None else None
        if bce is None:
            self.stats.count("lmf_query_no_location")
            fx.send(PBQA(src=self.name, dst=msg.src, seq=msg.seq, address=msg.address, status=int(Status.NO_LOCATION)))
            return fx
        self.stats.counters["lmf_query"] += 1
        if msg.requester:
            holders = self.holders.get(bce.mn_id)
            if holders is None:
                holders = self.holders[bce.mn_id] = {}
            holders[msg.requester] = now + bce.lifetime
            self.changed.add(bce.mn_id)
        fx.send(
            PBQA(
                src=self.name, dst=msg.src, seq=msg.seq, address=msg.address, status=int(Status.ACCEPTED),
                coa=text.address_cached(bce.coa), hnps=[text.prefix(p) for p in bce.hnps], lifetime=bce.lifetime,
            )
        )  # fmt: skip
        return fx

    def is_relayed_answer(self, msg: PBQA) -> bool:
        relayed = self.relayed.get(msg.seq)
        return relayed is not None and relayed.address == msg.address

    def on_relayed_pbqa(self, msg: PBQA, now: float) -> Effects:
        fx = Effects()
        relayed = self.relayed.pop(msg.seq)
        fx.send(
            PBQA(src=self.name, dst=relayed.asker, seq=relayed.seq, address=msg.address, status=msg.status,
                 coa=msg.coa, hnps=msg.hnps, lifetime=msg.lifetime)
        )  # fmt: skip
        return fx

    def holders_of(self, mn_id: str, now: float) -> list[str]:
        """The DRFs that may still use the location the LMF gave them for ``mn_id``."""
        known = self.holders.get(mn_id)
        if not known:
            return []
        for address, until in list(known.items()):
            if until <= now:
                del known[address]
        return sorted(known)

    def binding_gone(self, bce: BindingCacheEntry, now: float) -> Effects:
        """The MN's binding was deleted (expired, or de-registered and not taken over): whoever
        still holds its location is told that it has none (a PBCI withdrawal), and falls back.  The
        withdrawal is stamped with the binding's last PBU: it says where the MN was not as of then,
        so a PBCI for a later attachment (stamped with its attach time) still wins over it."""
        fx = Effects()
        for address in self.holders_of(bce.mn_id, now):
            peer = self.view.peer_at(address)
            if peer is None or not peer.has_drf:
                continue
            msg = PBCI(src=self.name, dst=peer.name, seq=self.seq.next(), mn_id=bce.mn_id,
                       hnps=[str(h) for h in bce.hnps], new_coa="", timestamp=bce.timestamp)  # fmt: skip
            self.withdrawals.add((bce.mn_id, peer.name), msg, now)
            self.stats.count("lmf_location_withdrawn")
            fx.send(msg)
        self.holders.pop(bce.mn_id, None)
        self.changed.add(bce.mn_id)
        return fx

    def on_pbca(self, msg: PBCA) -> Effects:
        if self.withdrawals.answered((msg.mn_id, msg.src)) is not None:
            self.changed.add(msg.mn_id)
        return Effects()

    def tick(self, now: float) -> Effects:
        for seq, relayed in list(self.relayed.items()):
            if now - relayed.sent_at >= RELAY_HOLD:
                del self.relayed[seq]
                self.stats.count("lmf_relay_expired")
        fx = Effects()
        resend, gave_up = self.withdrawals.due(now)
        for msg in resend:
            self.changed.add(getattr(msg, "mn_id", ""))
            fx.send(msg)
        for _, msg in gave_up:
            self.changed.add(getattr(msg, "mn_id", ""))
        self.stats.count("lmf_withdraw_unanswered", len(gave_up))
        return fx

    # ------------------------------------------------------------ persistence (controller/store.py)

    def mark_all(self) -> None:
        self.changed.update(self.holders)
        self.changed.update(k[0] for k in self.withdrawals.pending if isinstance(k, tuple))

    def dump(self, mn_id: str, epoch: float) -> dict[str, Any] | None:
        """Whom the LMF gave ``mn_id``'s location to, and until when (wall clock); withdrawals of
        it still awaiting their PBCA (sent again on their back-off after a restart)."""
        known = self.holders.get(mn_id)
        withdrawals = self.withdrawals.dump(lambda k: isinstance(k, tuple) and k[0] == mn_id, epoch)
        if not known and not withdrawals:
            return None
        return {"holders": {a: until + epoch for a, until in (known or {}).items()}, "withdrawals": withdrawals}

    def load(self, mn_id: str, rec: dict[str, Any], epoch: float) -> None:
        if rec.get("holders"):
            self.holders[mn_id] = {address: float(until) - epoch for address, until in rec["holders"].items()}
        self.withdrawals.load(rec.get("withdrawals", []), epoch)
