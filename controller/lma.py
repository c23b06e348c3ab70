"""(e)LMA registration (RFC 5213 §5.3): PBU validation, the binding cache, binding flows, PBA.

The LMA validates each PBU, keeps the binding cache, programs its own switch (HNP -> tunnel to
the Proxy-CoA) and answers a PBA.  An eLMA's PBA also carries the MN's previous CoA (§4.3) and says
that the LMA has an LMF (the eMAG enables its DAF for the MN only then); the binding cache is the
co-located LMF's location database (``controller/lmf.py``).  In mode ``lr`` the RFC 6705 part
(``controller/lr.py``) watches the binding flows.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Callable
from typing import Any

from controller.binding_cache import ACTIVE, DELETING, BindingCache, BindingCacheEntry, HnpNumbering
from controller.config import MobileNode
from controller.effects import Effects, Stats, TimerQueue
from controller.interfaces import BindingHooks
from controller.lr import LrLma
from controller.messages import PBA, PBU, Status
from controller.view import Hnp, View
from openflow_rules import flows, text

LOG = logging.getLogger("epmip.lma")
WITHDRAW_AFTER = 1.0  # a de-registered binding not taken over within this long: its MN left
# RFC 5213 §5.5 TimestampValidityWindow is 300 ms; the MAGs and LMAs here share one clock but handle
# events on a 0.2 s tick and may queue a message behind a busy event loop, so the window is wider
TIMESTAMP_VALIDITY = 5.0


class Lma:
    def __init__(
        self, view: View, stats: Stats, cache: BindingCache | None = None,
        holders: Callable[[str, float], list[str]] | None = None,
    ) -> None:  # fmt: skip
        self.view = view
        self.stats = stats
        self.cache = cache if cache is not None else BindingCache()
        # the cache finds the HNPs this LMA numbers (``hnps_for``) by the numbering, not an index
        self.numbering = HnpNumbering(view.mn_ids)
        for pool in view.own_prefixes()[:1]:  # before any binding, a restored one too
            self.numbering.numbered_from(pool)
        self.cache.numbering = self.numbering
        self.has_lmf = view.me.role == "elma"
        self.holders = holders  # the co-located LMF's location holders of an MN (eLMA only)
        self.gone: list[BindingCacheEntry] = []  # bindings whose MN left (tick): their holders must be told
        self._gone_told: set[str] = set()
        self._last_stamp: dict[str, float] = {}  # MN -> timestamp of its last PBU, once its binding is gone
        # MN -> (MAG, timestamp) of the last de-registration that changed nothing (the binding was
        # elsewhere): a registration from that MAG stamped earlier is older than its own
        # de-registration (the network reordered them) and must not bind the MN there
        self._ignored_dereg: dict[str, tuple[str, float]] = {}
        self._static: set[ipaddress.IPv6Network] | None = None  # every profile's static HNPs (lazily)
        self._timers = TimerQueue()  # (when, mn_id): lifetime ends, delayed deletes
        self.changed: set[str] = set()  # MNs whose record (binding, replay window) changed: for the store
        self.lr: LrLma | None = LrLma(view, self.cache, stats) if view.mode == "lr" else None
        self.hooks: BindingHooks | None = None  # an eLMA(DRF)'s DAF (§7.2), set when the node is composed

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def dpid(self) -> int:
        return self.view.dpid

    # ------------------------------------------------------------ HNP assignment

    def hnp_for(self, mn: MobileNode) -> ipaddress.IPv6Network:
        """The MN's (first) HNP."""
        return self.hnps_for(mn)[0]

    def hnps_for(self, mn: MobileNode) -> list[ipaddress.IPv6Network]:
        """The MN's HNPs: from its profile, else ``hnp_count`` /64s of this LMA's first prefix chosen
        by the MN's position *i* in the domain file (number i+1, then i+1+M, i+1+2M ... with M the
        number of MNs), so that they are stable across re-registrations and restarts.  A /64 that
        is some MN's static HNP (its profile names it) is skipped: the MNs' sequences never meet,
        so skipping within one's own keeps every MN's prefixes its own.  Worked out on every call:
        a binding keeps its HNPs (``on_pbu`` asks only when it has none), so no per-MN table."""
        if mn.static_hnps:
            return list(mn.static_hnps)
        if self._static is None:
            self._static = {h for p in self.view.profiles.values() for h in p.static_hnps}
        pool = self.view.hnp_pool(mn)
        self.numbering.numbered_from(pool)
        index = self.view.mn_index[mn.id] + 1
        stride = len(self.view.mn_index)
        hnps: list[ipaddress.IPv6Network] = []
        number = index
        shift = 128 - pool.prefixlen  # hnp.subnet_of(pool) in integers: subnet_of caches two
        base = int(pool.network_address) >> shift  # more address objects on every HNP (~470 B)
        while len(hnps) < mn.hnp_count:
            address = int(pool.network_address) + (number << 64)
            if pool.prefixlen > 64 or address >> shift != base:
                raise ValueError(f"{self.name}: prefix {pool} has no /64 left for {mn.id}")
            hnp = Hnp(address, 64)  # one int (72 B), not an IPv6Network and its address (~210 B)
            if hnp not in self._static:
                hnps.append(hnp)
            number += stride
        return hnps[:]  # a copy of exactly its length: the binding keeps it (append over-allocates)

    # ------------------------------------------------------------ PBU handling

    def _reply(self, pbu: PBU, status: Status, now: float = 0.0, **kw: Any) -> Effects:
        self.stats.count(f"pba_status_{int(status)}")
        if status != Status.ACCEPTED:
            LOG.warning("%s rejects PBU for %s from %s: %s", self.name, pbu.mn_id, pbu.src, status.name)
        fx = Effects()
        holders = self.holders(pbu.mn_id, now) if self.holders is not None and status == Status.ACCEPTED else []
        fx.send(
            PBA(
                src=self.name, dst=pbu.src, seq=pbu.seq, mn_id=pbu.mn_id, status=int(status),
                coa=pbu.coa, timestamp=pbu.timestamp, elma=self.has_lmf, holders=holders, **kw,
            )
        )  # fmt: skip
        return fx

    def on_pbu(self, pbu: PBU, now: float) -> Effects:
        view = self.view
        if not pbu.mn_id:
            return self._reply(pbu, Status.MISSING_MN_IDENTIFIER_OPTION)
        mn = view.profiles.get(pbu.mn_id)
        if mn is None or not mn.allowed:
            return self._reply(pbu, Status.PROXY_REG_NOT_ENABLED)
        try:
            coa = text.address_of(pbu.coa)
        except ValueError:
            return self._reply(pbu, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG)
        mag = view.peer_at(pbu.coa)  # by its text (one dict lookup), which ``coa`` parsed
        if mag is None or not mag.is_mag or mag.name != pbu.src:
            return self._reply(pbu, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG)
        bound = view.anchor_of(mn)
        if bound is not None and bound != self.name:
            return self._reply(pbu, Status.NOT_LMA_FOR_THIS_MOBILE_NODE)
        bce = self.cache.get(mn.id)
        hnps = bce.hnps if bce is not None else self.hnps_for(mn)  # a binding keeps what was assigned
        if pbu.hnps and sorted(pbu.hnps) != sorted(text.prefix(h) for h in hnps):
            return self._reply(pbu, Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)
        last = bce.timestamp if bce is not None else self._last_stamp.get(mn.id, -math.inf)
        if pbu.timestamp < last:  # also after the binding is gone: an old PBU cannot bring it back
            return self._reply(pbu, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED)
        ignored = self._ignored_dereg.get(mn.id)
        if ignored is not None and ignored[0] == pbu.src and pbu.lifetime and pbu.timestamp < ignored[1]:
            return self._reply(pbu, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED)
        if abs(pbu.timestamp - view.now_stamp(now)) > TIMESTAMP_VALIDITY:
            # RFC 5213 §5.5: outside the validity window (a replay of an old PBU, or a skewed clock)
            return self._reply(pbu, Status.TIMESTAMP_MISMATCH)
        if bce is not None and pbu.timestamp == bce.timestamp and coa == bce.coa and self._same_request(pbu, bce):
            # the same PBU again (the network duplicated it, or our PBA was lost): answer it again
            self.stats.count("pbu_duplicate")
            previous = bce.previous_coa if bce.previous_coa is not None and pbu.handoff != 5 else None
            return self._reply(
                pbu, Status.ACCEPTED, now, hnps=[text.prefix(h) for h in bce.hnps], lifetime=bce.lifetime,
                previous_coa=text.address(previous) if previous is not None and pbu.lifetime else "",
            )  # fmt: skip
        if pbu.lifetime == 0:
            return self._deregister(pbu, bce, coa, now)
        previous = bce.coa if bce is not None and bce.coa != coa else None
        # Re-program the switch only when the forwarding changes: a plain refresh need not
        # rewrite the flow.
        changed = bce is None or previous is not None or bce.state != ACTIVE
        if bce is None:
            bce = BindingCacheEntry(
                mn_id=mn.id, mn_ll_id=pbu.mn_ll_id or mn.mac, hnps=hnps, coa=coa,
                lifetime=pbu.lifetime, timestamp=pbu.timestamp, registered_at=now,
                expires_at=now + pbu.lifetime,
            )  # fmt: skip
            self.view.assigned_hnps(mn.id, hnps)  # the MAG's attachment shares these objects
            self.stats.count("bce_created")
        else:
            bce.updates += 1
        bce.coa = coa
        bce.lifetime = pbu.lifetime
        bce.timestamp = pbu.timestamp
        bce.expires_at = now + pbu.lifetime
        bce.state = ACTIVE
        bce.delete_at = None
        self._gone_told.discard(mn.id)
        self._ignored_dereg.pop(mn.id, None)
        if previous is not None:
            bce.previous_coa = previous
        self.cache.put(bce)
        self._schedule(bce.expires_at, bce.mn_id)
        fx = Effects()
        if changed:
            self._program(bce, fx)
        if self.hooks is not None:
            fresh = bce.updates == 0 or previous is not None or changed
            fx.merge(self.hooks.on_registered(mn.id, list(bce.hnps), pbu.lifetime, pbu.timestamp, fresh, now))
        fx.merge(
            self._reply(
                pbu, Status.ACCEPTED, now, hnps=[text.prefix(h) for h in hnps], lifetime=pbu.lifetime,
                previous_coa=text.address(previous) if previous is not None else "",
            )
        )  # fmt: skip
        if self.lr is not None and previous is not None:
            fx.merge(self.lr.on_moved(bce))  # after the PBA, so the new MAG knows the MN already
        return fx

    @staticmethod
    def _same_request(pbu: PBU, bce: BindingCacheEntry) -> bool:
        """A PBU already applied to ``bce``: a de-registration of a deleting entry, or a
        registration/refresh of an active one with the lifetime it got."""
        if pbu.lifetime == 0:
            return bce.state == DELETING
        return bce.state == ACTIVE and pbu.lifetime == bce.lifetime

    def _deregister(self, pbu: PBU, bce: BindingCacheEntry | None, coa: ipaddress.IPv6Address, now: float) -> Effects:
        fx = Effects()
        if bce is not None and bce.coa == coa and bce.state == ACTIVE:
            # RFC 5213 §5.3.5: keep the entry for MinDelayBeforeBCEDelete so that a PBU from a
            # new MAG arriving late can still take it over.
            bce.state = DELETING
            bce.timestamp = pbu.timestamp
            bce.delete_at = now + self.view.timers.min_delay_before_bce_delete
            self._schedule(bce.delete_at, bce.mn_id)
            self._schedule(now + WITHDRAW_AFTER, bce.mn_id)
            self.stats.count("bce_deregistered")
            self._program(bce, fx)  # the HNP's traffic is dropped from now on
            if self.lr is not None:
                fx.merge(self.lr.departing(bce))
            if self.hooks is not None:
                fx.merge(self.hooks.on_deregistered(bce.mn_id, now))
        elif bce is None or bce.coa != coa:
            # A de-registration from a MAG that does not hold the binding changes nothing here,
            # but that MAG's own earlier registration, should it arrive late, is now stale.
            self._ignored_dereg[pbu.mn_id] = (pbu.src, pbu.timestamp)
            self.changed.add(pbu.mn_id)
        return fx.merge(self._reply(pbu, Status.ACCEPTED, now, hnps=[text.prefix(p) for p in bce.hnps] if bce else []))

    # ------------------------------------------------------------ data plane

    def _program(self, bce: BindingCacheEntry, fx: Effects) -> None:
        obj = self.view.mn_index[bce.mn_id]
        dpid = self.dpid
        for hnp in bce.hnps:  # the previous form of the flow (same match) is replaced in place
            if bce.state == DELETING:
                fx.flow(flows.install_binding_drop(dpid, obj, hnp))
                continue
            mag = self.view.peer_at(bce.coa)
            if mag is None or mag.port is None:
                LOG.error("%s: binding of %s names %s, not a MAG it can reach", self.name, bce.mn_id, bce.coa)
                continue
            build = flows.install_binding_punt if self.lr is not None else flows.install_binding
            fx.flow(build(dpid, obj, hnp, mag.label, mag.port))
        if self.lr is not None and bce.state != DELETING:
            fx.merge(self.lr.reprogram(bce))

    def resync(self) -> Effects:
        """Every binding flow again (the switch reconnected)."""
        fx = Effects()
        for bce in self.cache:
            self._program(bce, fx)
        return fx

    def _schedule(self, when: float, mn_id: str) -> None:
        """Look at ``mn_id``'s entry again at ``when`` (a ``TimerQueue``: the tick costs at most
        O(log n) per due entry instead of a pass over the whole cache; stale entries are skipped when popped).  Every
        change of an entry schedules it, so this is also where the entry is marked for the store."""
        self._timers.push(when, mn_id)
        self.changed.add(mn_id)

    def tick(self, now: float) -> Effects:
        fx = Effects()
        while (mn_id := self._timers.pop_due(now)) is not None:
            bce = self.cache.get(mn_id)
            if bce is None:
                continue
            expired = bce.state == ACTIVE and bce.expires_at <= now
            delayed = bce.state == DELETING and bce.delete_at is not None and bce.delete_at <= now
            left = bce.state == DELETING and bce.delete_at is not None and not delayed
            if (expired or left) and mn_id not in self._gone_told:
                # de-registered and not taken over by another MAG within WITHDRAW_AFTER, or expired
                self._gone_told.add(mn_id)
                self.changed.add(mn_id)
                self.gone.append(bce)
            if expired or delayed:
                why = "lifetime expired" if expired else "de-registered"
                LOG.info("%s deletes BCE of %s (%s)", self.name, mn_id, why)
                self.changed.add(mn_id)
                self.cache.delete(mn_id)
                self._last_stamp[mn_id] = bce.timestamp
                self._gone_told.discard(mn_id)
                obj = self.view.mn_index[mn_id]
                for hnp in bce.hnps:
                    fx.flow(flows.delete_binding(self.dpid, obj, hnp))
                if self.lr is not None:
                    fx.merge(self.lr.forget(mn_id))
                if self.hooks is not None:
                    fx.merge(self.hooks.on_deleted(mn_id, list(bce.hnps), bce.timestamp, now))
                self.stats.count("bce_deleted")
        return fx

    # ------------------------------------------------------------ persistence (controller/store.py)

    def mark_all(self) -> None:
        """Every record is to be written (a store attached to a running controller, tests)."""
        self.changed.update(b.mn_id for b in self.cache)
        self.changed.update(self._last_stamp, self._ignored_dereg)

    def dump(self, mn_id: str, epoch: float) -> dict[str, Any] | None:
        """``mn_id``'s record: its binding and its replay windows (the timestamp of the last PBU
        accepted, kept after the binding is gone; the last de-registration that changed nothing,
        which makes its MAG's older registrations stale).  Times on the wall clock (``now +
        epoch``); PBU timestamps are wall-clock already."""
        bce = self.cache.get(mn_id)
        stamp = self._last_stamp.get(mn_id)
        ignored = self._ignored_dereg.get(mn_id)
        if bce is None and stamp is None and ignored is None:
            return None
        rec: dict[str, Any] = {
            "last_stamp": stamp, "gone_told": mn_id in self._gone_told, "bce": None,
            "ignored_dereg": list(ignored) if ignored is not None else None,
        }  # fmt: skip
        if bce is not None:
            rec["bce"] = {
                "mn_ll_id": bce.mn_ll_id, "hnps": [str(h) for h in bce.hnps], "coa": str(bce.coa),
                "lifetime": bce.lifetime, "timestamp": bce.timestamp, "registered_at": bce.registered_at + epoch,
                "expires_at": bce.expires_at + epoch, "state": bce.state,
                "delete_at": bce.delete_at + epoch if bce.delete_at is not None else None,
                "previous_coa": str(bce.previous_coa) if bce.previous_coa is not None else None,
                "updates": bce.updates,
            }  # fmt: skip
        return rec

    def load(self, mn_id: str, rec: dict[str, Any], epoch: float) -> None:
        """Take ``dump``'s record back after a restart; the timers resume at the stored times (an
        entry that expired while the controller was down goes at the next tick, as it would have)."""
        if rec.get("last_stamp") is not None:
            self._last_stamp[mn_id] = float(rec["last_stamp"])
        if rec.get("gone_told"):
            self._gone_told.add(mn_id)
        if rec.get("ignored_dereg"):
            mag, stamp = rec["ignored_dereg"]
            self._ignored_dereg[mn_id] = (str(mag), float(stamp))
        b = rec.get("bce")
        if b is None:
            return
        bce = BindingCacheEntry(
            mn_id=mn_id, mn_ll_id=b["mn_ll_id"], hnps=[ipaddress.IPv6Network(h) for h in b["hnps"]],
            coa=ipaddress.IPv6Address(b["coa"]), lifetime=float(b["lifetime"]), timestamp=float(b["timestamp"]),
            registered_at=float(b["registered_at"]) - epoch, expires_at=float(b["expires_at"]) - epoch,
            state=b["state"], delete_at=float(b["delete_at"]) - epoch if b["delete_at"] is not None else None,
            previous_coa=ipaddress.IPv6Address(b["previous_coa"]) if b["previous_coa"] else None,
            updates=int(b["updates"]),
        )  # fmt: skip
        self.cache.put(bce)
        self.view.assigned_hnps(mn_id, bce.hnps)
        self._timers.push(bce.expires_at, mn_id)
        if bce.delete_at is not None:
            self._timers.push(bce.delete_at, mn_id)
            withdraw = bce.delete_at - self.view.timers.min_delay_before_bce_delete + WITHDRAW_AFTER
            self._timers.push(withdraw, mn_id)
