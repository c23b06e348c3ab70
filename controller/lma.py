"""(e)LMA: RFC 5213 registration and, for an eLMA, the Location Management Function (§3.3).

The LMA validates each PBU, keeps the binding cache, programs its own switch (HNP -> tunnel to
the Proxy-CoA) and answers a PBA.  An eLMA's PBA also carries the MN's previous CoA (§4.3), and its
binding cache is the LMF's location database (HoA/HNP -> CoA).
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
from typing import TYPE_CHECKING

from controller.binding_cache import ACTIVE, DELETING, BindingCache, BindingCacheEntry
from controller.config import MobileNode, Switch
from controller.lr import LrLma
from controller.messages import LRA, PBA, PBQA, PBQR, PBU, Message, Status
from openflow_rules import flows
from openflow_rules.pipeline import Fn

if TYPE_CHECKING:
    from controller.core import EpmipController

LOG = logging.getLogger("epmip.lma")


class LmaFunction:
    def __init__(self, switch: Switch, ctl: EpmipController) -> None:
        self.switch = switch
        self.ctl = ctl
        self.cache = BindingCache()
        self._allocated: dict[str, ipaddress.IPv6Network] = {}
        self._relayed: dict[int, tuple[str, int]] = {}  # our seq -> (asking DRF, its seq)
        self._timers: list[tuple[float, str]] = []  # (when, mn_id): lifetime ends, delayed deletes
        self.lr: LrLma | None = LrLma(self) if ctl.domain.mode == "lr" else None

    @property
    def name(self) -> str:
        return self.switch.name

    @property
    def has_lmf(self) -> bool:
        return self.switch.role == "elma"

    # ------------------------------------------------------------ HNP assignment

    def hnp_for(self, mn: MobileNode) -> ipaddress.IPv6Network:
        """The MN's HNP: from its profile, else a /64 of this LMA's first prefix chosen by the MN's
        position in the domain file, so that it is stable across re-registrations and restarts."""
        if mn.hnp is not None:
            return mn.hnp
        hnp = self._allocated.get(mn.id)
        if hnp is None:
            pool = self.switch.prefixes[0]
            index = self.ctl.mn_index[mn.id] + 1
            hnp = ipaddress.IPv6Network((int(pool.network_address) + (index << 64), 64))
            if not hnp.subnet_of(pool):
                raise ValueError(f"{self.name}: prefix {pool} has no /64 left for {mn.id}")
            self._allocated[mn.id] = hnp
        return hnp

    # ------------------------------------------------------------ PBU handling

    def handle(self, msg: Message, now: float) -> None:
        if isinstance(msg, PBU):
            self.on_pbu(msg, now)
        elif isinstance(msg, PBQR) and self.has_lmf:
            self.on_pbqr(msg, now)
        elif isinstance(msg, PBQA) and self.has_lmf and msg.seq in self._relayed:
            self.on_relayed_pbqa(msg, now)
        elif isinstance(msg, LRA) and self.lr is not None:
            self.lr.on_lra(msg, now)
        else:
            self.ctl.reject_message(self.name, msg, "an (e)LMA accepts only PBU here")

    def _reply(self, pbu: PBU, now: float, status: Status, **kw) -> None:
        self.ctl.counters[f"pba_status_{int(status)}"] += 1
        if status != Status.ACCEPTED:
            LOG.warning("%s rejects PBU for %s from %s: %s", self.name, pbu.mn_id, pbu.src, status.name)
        self.ctl.bus.send(
            PBA(
                src=self.name, dst=pbu.src, seq=pbu.seq, mn_id=pbu.mn_id, status=int(status),
                coa=pbu.coa, timestamp=pbu.timestamp, elma=self.has_lmf, **kw,
            ),
            now,
        )  # fmt: skip

    def on_pbu(self, pbu: PBU, now: float) -> None:
        domain = self.ctl.domain
        if not pbu.mn_id:
            return self._reply(pbu, now, Status.MISSING_MN_IDENTIFIER_OPTION)
        mn = domain.mobile_nodes.get(pbu.mn_id)
        if mn is None or not mn.allowed:
            return self._reply(pbu, now, Status.PROXY_REG_NOT_ENABLED)
        try:
            coa = ipaddress.IPv6Address(pbu.coa)
        except ValueError:
            return self._reply(pbu, now, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG)
        mag = domain.switch_by_address(coa)
        if mag is None or not mag.is_mag or mag.name != pbu.src:
            return self._reply(pbu, now, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG)
        bound = self.ctl.profile_lma(mn)
        if bound is not None and bound != self.name:
            return self._reply(pbu, now, Status.NOT_LMA_FOR_THIS_MOBILE_NODE)
        hnp = self.hnp_for(mn)
        if pbu.hnps and [str(hnp)] != pbu.hnps:
            return self._reply(pbu, now, Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)
        bce = self.cache.get(mn.id)
        if bce is not None and pbu.timestamp < bce.timestamp:
            return self._reply(pbu, now, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED)
        if pbu.lifetime == 0:
            return self._deregister(pbu, bce, coa, now)
        previous = bce.coa if bce is not None and bce.coa != coa else None
        # Re-program the switch only when the forwarding changes: a plain refresh must not
        # rewrite the flow (OpenFlow resets a replaced flow's counters).
        changed = bce is None or previous is not None or bce.state != ACTIVE
        if bce is None:
            bce = BindingCacheEntry(
                mn_id=mn.id, mn_ll_id=pbu.mn_ll_id or mn.mac, hnps=[hnp], coa=coa,
                lifetime=pbu.lifetime, timestamp=pbu.timestamp, registered_at=now,
                expires_at=now + pbu.lifetime,
            )  # fmt: skip
            self.ctl.counters["bce_created"] += 1
        else:
            bce.updates += 1
        bce.coa = coa
        bce.lifetime = pbu.lifetime
        bce.timestamp = pbu.timestamp
        bce.expires_at = now + pbu.lifetime
        bce.state = ACTIVE
        bce.delete_at = None
        if previous is not None:
            bce.previous_coa = previous
        self.cache.put(bce)
        self._schedule(bce.expires_at, bce.mn_id)
        if changed:
            self._program(bce)
        self._reply(
            pbu, now, Status.ACCEPTED, hnps=[str(hnp)], lifetime=pbu.lifetime,
            previous_coa=str(previous) if previous is not None else "",
        )  # fmt: skip
        if self.lr is not None and previous is not None:
            self.lr.on_moved(bce, now)  # after the PBA, so the new MAG knows the MN already

    def _deregister(self, pbu: PBU, bce: BindingCacheEntry | None, coa, now: float) -> None:
        if bce is not None and bce.coa == coa and bce.state == ACTIVE:
            # RFC 5213 §5.3.5: keep the entry for MinDelayBeforeBCEDelete so that a PBU from a
            # new MAG arriving late can still take it over.
            bce.state = DELETING
            bce.timestamp = pbu.timestamp
            bce.delete_at = now + self.ctl.domain.timers.min_delay_before_bce_delete
            self._schedule(bce.delete_at, bce.mn_id)
            self.ctl.counters["bce_deregistered"] += 1
            self._program(bce)  # the HNP's traffic is dropped from now on
            if self.lr is not None:
                self.lr.departing(bce)
        # A de-registration from a MAG that no longer holds the binding changes nothing.
        self._reply(pbu, now, Status.ACCEPTED, hnps=[str(p) for p in bce.hnps] if bce else [])

    # ------------------------------------------------------------ data plane

    def _program(self, bce: BindingCacheEntry) -> None:
        obj = self.ctl.mn_index[bce.mn_id]
        if bce.state == DELETING:
            for hnp in bce.hnps:
                self.ctl.emit(flows.install_binding_drop(self.switch.dpid, obj, hnp))
            return
        mag = self.ctl.domain.switch_by_address(bce.coa)
        port = self.ctl.topo.port_toward(self.name, mag.name)
        build = flows.install_binding_punt if self.lr is not None else flows.install_binding
        for hnp in bce.hnps:
            self.ctl.emit(build(self.switch.dpid, obj, hnp, mag.label, port))
        if self.lr is not None:
            self.lr.reprogram(bce)

    def _unprogram(self, bce: BindingCacheEntry) -> None:
        obj = self.ctl.mn_index[bce.mn_id]
        for hnp in bce.hnps:
            self.ctl.emit(flows.delete_binding(self.switch.dpid, obj, hnp))

    def resync(self) -> None:
        """Re-install every binding flow (the switch reconnected and its flows were cleared)."""
        for bce in self.cache:
            self._program(bce)

    def _schedule(self, when: float, mn_id: str) -> None:
        """Look at ``mn_id``'s entry again at ``when`` (a heap: the tick costs O(log n) per due
        entry instead of a pass over the whole cache; stale entries are skipped when popped)."""
        heapq.heappush(self._timers, (when, mn_id))

    def tick(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, mn_id = heapq.heappop(self._timers)
            bce = self.cache.get(mn_id)
            if bce is None:
                continue
            expired = bce.state == ACTIVE and bce.expires_at <= now
            delayed = bce.state == DELETING and bce.delete_at is not None and bce.delete_at <= now
            if expired or delayed:
                LOG.info(
                    "%s deletes BCE of %s (%s)",
                    self.name,
                    bce.mn_id,
                    "lifetime expired" if expired else "de-registered",
                )
                self.cache.delete(bce.mn_id)
                self._unprogram(bce)
                if self.lr is not None:
                    self.lr.forget(bce.mn_id)
                    self.ctl.emit(flows.delete_drf_of_mn(self.switch.dpid, self.ctl.mn_index[bce.mn_id], Fn.LR))
                self.ctl.counters["bce_deleted"] += 1

    # ------------------------------------------------------------ LMF

    def on_relayed_pbqa(self, msg: PBQA, now: float) -> None:
        asker, seq = self._relayed.pop(msg.seq)
        self.ctl.bus.send(
            PBQA(src=self.name, dst=asker, seq=seq, address=msg.address, status=msg.status, coa=msg.coa,
                 hnps=msg.hnps, lifetime=msg.lifetime),
            now,
        )  # fmt: skip

    def on_pbqr(self, msg: PBQR, now: float) -> None:
        """Answer a DRF's location query (§4.2) from the binding cache - or, for an address this
        LMF does not manage, ask the LMF that does and pass its answer back (§4.4.3)."""
        try:
            address = ipaddress.IPv6Address(msg.address)
        except ValueError:
            address = None
        if address is not None and not any(address in p for p in self.switch.prefixes):
            owner = self.ctl.find_lmf(address)
            if owner is not None and owner != self.name:
                seq = self.ctl.bus.next_seq()
                self._relayed[seq] = (msg.src, msg.seq)
                self.ctl.counters["lmf_query_relayed"] += 1
                self.ctl.bus.send(
                    PBQR(src=self.name, dst=owner, seq=seq, address=msg.address, requester=msg.requester), now
                )
                return
        bce = self.locate(address) if address is not None else None
        self.ctl.counters["lmf_query" if bce else "lmf_query_no_location"] += 1
        self.ctl.bus.send(
            PBQA(
                src=self.name, dst=msg.src, seq=msg.seq, address=msg.address,
                status=int(Status.ACCEPTED if bce else Status.NO_LOCATION),
                coa=str(bce.coa) if bce else "", hnps=[str(p) for p in bce.hnps] if bce else [],
                lifetime=max(bce.expires_at - now, 0.0) if bce else 0.0,
            ),
            now,
        )  # fmt: skip

    def locate(self, address: ipaddress.IPv6Address) -> BindingCacheEntry | None:
        bce = self.cache.lookup(address)
        return bce if bce is not None and bce.state == ACTIVE else None
