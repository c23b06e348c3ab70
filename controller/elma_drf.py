"""The DAF moved into the LMA: an eLMA(DRF) (draft §7.1, §7.2), deployment ``lma_daf``.

Legacy MAGs register MNs with an eLMA(DRF) by plain RFC 5213 (``controller/lma.py`` does the
registration).  The parts here are what the DAF needs from that:

* ``Anchored`` - the MNs bound here, as the DRF's and DMF's *endpoints* (``interfaces.Endpoints``,
  as ``mag.Mag`` is for an eMAG).  Told of every binding by the LMA (``interfaces.BindingHooks``),
  it programs the punt of the MN's uplink (out of the MAG's tunnel, ``flows.install_binding_anchor``),
  reports the location to the LMF (``LocationUpdates``), and once the LMF answered tells the DMF
  (``mag.MobilityHooks``: ``on_bound`` with the location the LMF held before, i.e. the eLMA the MN
  came from - which the DMF informs by PBCI, §4.3 - and the location's holders).  A de-registration
  is the MN leaving (``on_detach``); the DMF's redirect and correspondent updates follow unchanged.
* ``LocationUpdates`` - the LUR/LUA exchange with the preferred LMF, sent again with back-off
  until answered (an unanswered update still lets the MN be served: its correspondents reach it
  through the redirect and re-learn at their next refresh).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from controller.effects import Effects, Outstanding, Sequence, Stats
from controller.mag import MobilityHooks
from controller.messages import LUA, LUR, Status
from controller.view import View
from openflow_rules import flows

LOG = logging.getLogger("epmip.elma_drf")

Net = ipaddress.IPv6Network
LUA_TIMEOUT = 1.0  # first wait for an LUA, doubled on each resend
LUR_TRIES = 4


@dataclass
class AnchoredMn:
    """An MN bound at this eLMA(DRF), as its DRF sees it (``interfaces.Endpoint``)."""

    key: str
    hnps: list[Net]
    bound_at: float
    daf: bool = True
    lma: str | None = None  # the fallback is plain routing from here
    located: bool = False  # the LMF answered the first update of this stay


@dataclass
class Update:
    mn_id: str
    seq: int
    fresh: bool  # the first update of the MN's stay here: the DMF is told on the answer


class LocationUpdates:
    """The eLMA(DRF)'s side of LUR/LUA (§7.2)."""

    def __init__(self, view: View, stats: Stats, seq: Sequence) -> None:
        self.view = view
        self.stats = stats
        self.seq = seq
        self.pending: dict[str, Update] = {}  # mn_id -> the update awaiting its LUA
        self.outstanding = Outstanding(LUA_TIMEOUT, LUR_TRIES)

    def send(self, mn_id: str, hnps: list[Net], lifetime: float, timestamp: float, fresh: bool, now: float) -> Effects:
        fx = Effects()
        lmf = self.view.my_lmf
        if lmf is None:
            return fx
        before = self.pending.get(mn_id)
        msg = LUR(src=self.view.name, dst=lmf, seq=self.seq.next(), mn_id=mn_id, hnps=[str(h) for h in hnps],
                  coa=str(self.view.address), lifetime=lifetime, timestamp=timestamp)  # fmt: skip
        self.pending[mn_id] = Update(mn_id, msg.seq, fresh or (before is not None and before.fresh))
        self.outstanding.add(mn_id, msg, now)
        self.stats.count("location_update_sent" if lifetime else "location_withdraw_sent")
        fx.send(msg)
        return fx

    def answered(self, msg: LUA) -> Update | None:
        """The update ``msg`` answers (None: late, foreign or unmatched)."""
        update = self.pending.get(msg.mn_id)
        if update is None or update.seq != msg.seq or msg.src != self.view.my_lmf:
            self.stats.count("rejected_unmatched_lua")
            return None
        del self.pending[msg.mn_id]
        self.outstanding.answered(msg.mn_id)
        if msg.status != Status.ACCEPTED:
            self.stats.count("location_update_refused")
            LOG.warning("%s: LMF refused the location of %s (status %d)", self.view.name, msg.mn_id, msg.status)
        return update

    def tick(self, now: float) -> tuple[Effects, list[Update]]:
        """Resends, and the updates given up (the DMF is told without the LMF's answer)."""
        fx = Effects()
        resend, gave_up = self.outstanding.due(now)
        for msg in resend:
            self.stats.count("location_update_resent")
            fx.send(msg)
        lost = []
        for key, _ in gave_up:
            self.stats.count("location_update_unanswered")
            update = self.pending.pop(str(key), None)
            if update is not None:
                lost.append(update)
        return fx, lost


class Anchored:
    """The MNs bound here: endpoints of the eLMA's DRF/DMF, told of bindings by the LMA."""

    def __init__(self, view: View, stats: Stats, updates: LocationUpdates) -> None:
        self.view = view
        self.stats = stats
        self.updates = updates
        self.hooks: MobilityHooks | None = None  # the DMF, set when the node is composed
        self.mns: dict[str, AnchoredMn] = {}
        self._by_hnp: dict[Net, str] = {}

    # ------------------------------------------------------------ Endpoints

    def endpoint(self, key: str) -> AnchoredMn | None:
        return self.mns.get(key)

    def obj_of(self, key: str) -> int:
        return self.view.mn_index[key]

    def key_for_prefix(self, prefix: Net) -> str | None:
        if prefix.prefixlen == 64:
            return self._by_hnp.get(prefix)
        return next((m for h, m in self._by_hnp.items() if h.subnet_of(prefix)), None)

    def for_source(self, address: ipaddress.IPv6Address) -> AnchoredMn | None:
        key = self._by_hnp.get(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
        return self.mns.get(key) if key is not None else None

    # ------------------------------------------------------------ BindingHooks (from the LMA)

    def on_registered(
        self, mn_id: str, hnps: list[Net], lifetime: float, timestamp: float, fresh: bool, now: float
    ) -> Effects:
        fx = Effects()
        new = mn_id not in self.mns
        if new:
            mn = AnchoredMn(mn_id, list(hnps), now)
            self.mns[mn_id] = mn
            for h in hnps:
                self._by_hnp[h] = mn_id
                fx.flow(flows.install_binding_anchor(self.view.dpid, self.obj_of(mn_id), h))
            self.stats.count("elma_drf_anchored")
        return fx.merge(self.updates.send(mn_id, hnps, lifetime, timestamp, new, now))

    def on_deregistered(self, mn_id: str, now: float) -> Effects:
        return self._leave(mn_id, now)

    def on_deleted(self, mn_id: str, hnps: list[Net], timestamp: float, now: float) -> Effects:
        """The binding is gone for good: withdraw the location (the LMF ignores it if the MN is
        registered elsewhere by now)."""
        fx = self._leave(mn_id, now)
        return fx.merge(self.updates.send(mn_id, hnps, 0.0, timestamp, False, now))

    # ------------------------------------------------------------ Departures (from the DMF)

    def leave(self, key: str, now: float) -> Effects:
        """A PBCI says the MN is served by another eLMA already (its de-registration is late)."""
        return self._leave(key, now)

    def _leave(self, mn_id: str, now: float) -> Effects:
        fx = Effects()
        mn = self.mns.pop(mn_id, None)
        if mn is None:
            return fx
        for h in mn.hnps:
            self._by_hnp.pop(h, None)
            fx.flow(flows.delete_binding_anchor(self.view.dpid, self.obj_of(mn_id), h))
        self.updates.pending.pop(mn_id, None)
        self.updates.outstanding.answered(mn_id)
        if self.hooks is not None:
            fx.merge(self.hooks.on_detach(mn, now))
        return fx

    # ------------------------------------------------------------ the LMF's answer

    def located(self, update: Update, previous_coa: str, holders: list[str], now: float) -> Effects:
        fx = Effects()
        mn = self.mns.get(update.mn_id)
        if mn is None or self.hooks is None:
            return fx
        if update.fresh and not mn.located:
            mn.located = True
            return self.hooks.on_bound(mn, previous_coa, holders, mn.bound_at, now)
        self.hooks.on_holders(mn, holders)
        return fx

    def resync(self) -> Effects:
        fx = Effects()
        for mn in self.mns.values():
            for h in mn.hnps:
                fx.flow(flows.install_binding_anchor(self.view.dpid, self.obj_of(mn.key), h))
        return fx

    def to_json(self) -> dict[str, object]:
        return {"anchored": sorted(self.mns)}
