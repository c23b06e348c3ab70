"""(e)MAG registration (RFC 5213 §6): attachment, PBU/PBA, the access link's router, refresh.

The MAG learns that an MN attached (its Router Solicitation, or its access port appearing on the
switch - a host that moved sends no RS), picks the LMA (§4.1: an eLMA unless the MN's profile puts
its HNP on a legacy LMA), sends a PBU, and on the PBA programs the MN's flows and sends the RA with
the HNP.  It refreshes the binding before it expires and de-registers an MN whose port goes away.

An eMAG's DRF and DMF (``controller/drf.py``, ``controller/dmf.py``) see the MAG's attachments
through ``interfaces.Endpoints`` and are told of bindings and departures through
``MobilityHooks``.  With handoff buffering the MAG owns the MN's buffer (``controller/buffer.py``)
and hands it over to the MN's next MAG with HI/HACK.  In mode ``lr`` the MAG answers RFC 6705
LRIs (``controller/lr.py``).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller import lr, ndp
from controller.buffer import HandoffBuffer
from controller.config import MobileNode
from controller.effects import Effects, Numbering, PortTable, Sequence, Stats, TimerQueue
from controller.frames import rewrite_ethernet
from controller.interfaces import Endpoint
from controller.messages import HACK, HI, LRI, PBA, PBU, PPA, PPQ, HandoffIndicator, Message, Status
from controller.view import View
from openflow_rules import flows, text
from openflow_rules.intents import Barrier, PacketOut
from openflow_rules.pipeline import Fn

LOG = logging.getLogger("epmip.mag")
POLICY = "policy"  # the policy store's name on the signalling bus (controller/policy.py)

ANCHORING = "anchoring"  # asking the policy store which LMA anchors the MN
REGISTERING = "registering"
BOUND = "bound"
REJECTED = "rejected"
PBA_TIMEOUT = 1.0  # the default of timers.initial_bindack_timeout (RFC 5213 InitialBindackTimeoutFirstReg)
PBU_RETRIES = 3  # resends of a PBU (waits: timers.initial_bindack_timeout, doubled, at most max_bindack_timeout)


@dataclass(slots=True)  # one per MN: no __dict__ (memory per MN, issue 13)
class Attachment:
    mn: MobileNode
    port: int
    lma: str
    state: str
    seq: int
    attached_at: float
    sent_at: float
    daf: bool = False  # DAF enabled for this MN (eMAG + eLMA)
    hnps: list[ipaddress.IPv6Network] = field(default_factory=list)
    lifetime: float = 0.0
    refresh_at: float = 0.0
    retries: int = 0
    ra_to: tuple[str, str] | None = None  # (mac, ip) to answer once bound
    status: int | None = None
    bound_at: float | None = None
    refreshing: bool = False  # a refresh PBU is awaiting its PBA
    left_at: float | None = None  # when it left (a de-registration's timestamp, kept on every resend)
    # the first refresh's timer is not queued yet: the registration's PBA-timeout entry, which
    # is earlier, queues it when it pops (one timer entry per MN instead of two; issue 13)
    refresh_owed: bool = field(default=False, compare=False, repr=False)

    @property
    def key(self) -> str:
        return self.mn.id

    def to_json(self) -> dict[str, object]:
        return {
            "mn_id": self.mn.id, "port": self.port, "lma": self.lma, "state": self.state,
            "daf": self.daf, "hnps": [str(p) for p in self.hnps], "lifetime": self.lifetime,
            "attached_at": self.attached_at, "bound_at": self.bound_at, "status": self.status,
        }  # fmt: skip


class MobilityHooks(Protocol):
    """What an eMAG's DMF is told by the MAG (``controller/dmf.py`` implements it)."""

    def on_bound(
        self, ep: Endpoint, previous_coa: str, holders: list[str], attached_at: float, now: float
    ) -> Effects: ...

    def on_holders(self, ep: Endpoint, holders: list[str]) -> None: ...

    def on_departed_holders(self, key: str, holders: list[str]) -> None: ...

    def on_detach(self, ep: Endpoint, now: float) -> Effects: ...


class Mag:
    def __init__(self, view: View, stats: Stats, seq: Sequence, cids: Numbering) -> None:
        self.view = view
        self.stats = stats
        self.seq = seq
        self.cids = cids  # correspondent numbers in this switch's DRF/LR cookies
        self.drf_capable = view.me.role == "emag"
        self.hooks: MobilityHooks | None = None  # an eMAG's DMF, set when the node is composed
        self.attachments: dict[str, Attachment] = {}
        self.buffer = HandoffBuffer(view, stats)
        self._departed_regs: dict[str, Attachment] = {}  # buffered MNs not yet de-registered
        # port -> the attachment on it, kept with ``attachments``: an uplink punt finds its MN's
        # attachment without the MN id and a dict probe (cold memory at a million MNs; issue 13)
        self._by_port: PortTable[Attachment] = PortTable()
        self._by_hnp: dict[ipaddress.IPv6Network, str] = {}  # HNP -> mn_id, for the attached MNs
        self._timers = TimerQueue()  # (when, mn_id)
        self.anchors: dict[str, str] = {}  # mn_id -> its LMA, as the policy store answered
        self._deregs: dict[str, Attachment] = {}  # MNs gone from here whose de-registration awaits a PBA
        self._hi_to: dict[str, str] = {}  # MN -> the MAG our HI for it went to (its HACK must come from there)
        self.changed: set[str] = set()  # MNs whose record (attachment, de-registration, anchor) changed

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def dpid(self) -> int:
        return self.view.dpid

    # ------------------------------------------------------------ Endpoints (for the DRF/DMF)

    def endpoint(self, key: str) -> Attachment | None:
        return self.attachments.get(key)

    def obj_of(self, key: str) -> int:
        """The MN's number in flow cookies."""
        return self.view.mn_index[key]

    def key_for_prefix(self, prefix: ipaddress.IPv6Network) -> str | None:
        if prefix.prefixlen == 64:  # a DRF's correspondent prefix: an HNP itself (O(1) on a handoff)
            return self._by_hnp.get(prefix)
        return next((m for h, m in self._by_hnp.items() if h.subnet_of(prefix)), None)

    def deregs_pending(self) -> list[str]:
        """MNs whose de-registration still awaits its PBA."""
        return sorted(self._deregs)

    def mn_on_port(self, port: int) -> Attachment | None:
        return self._by_port.get(port)

    def bound(self, mn_id: str) -> Attachment | None:
        att = self.attachments.get(mn_id)
        return att if att is not None and att.state == BOUND else None

    # ------------------------------------------------------------ attach / detach

    def host_seen(self, mn: MobileNode, port: int, now: float, rs_from: str | None = None) -> Effects:
        """An MN showed up on ``port``: by its RS (``rs_from`` = its source address) or its port."""
        fx = Effects()
        att = self.attachments.get(mn.id)
        ra_to = (mn.mac, rs_from if rs_from and rs_from != "::" else ndp.ALL_NODES)
        if att is not None and att.port == port and att.state in (BOUND, REGISTERING, ANCHORING):
            if att.state == BOUND and rs_from is not None:
                self._send_ra(att, ra_to, fx)
            elif rs_from is not None:
                att.ra_to = ra_to
            return fx
        if att is not None:  # same MN on another port of this switch: start over
            fx.merge(self.detach(att.port, now))
        if not mn.allowed:
            LOG.warning("%s: %s is not authorized for network-based mobility", self.name, mn.id)
            self.stats.count("attach_refused")
            return fx
        self._deregs.pop(mn.id, None)
        att = Attachment(
            mn=mn, port=port, lma="", state=ANCHORING, seq=self.seq.next(), attached_at=now, sent_at=now, ra_to=ra_to,
        )  # fmt: skip
        self.attachments[mn.id] = att
        self._by_port[port] = att
        self.stats.count("attach_detected")
        lma = self.view.registration_lma(mn) or self.anchors.get(mn.id)
        if lma is None:  # the MN's anchor is the policy store's to say (chosen once per MN)
            LOG.info("%s: %s attached on port %d, asking the policy store for its LMA", self.name, mn.id, port)
            self._send_ppq(att, now, fx)
        else:
            self._register(att, lma, now, fx)
        self._schedule(now + self._backoff(0), mn.id)
        return fx

    def _send_ppq(self, att: Attachment, now: float, fx: Effects) -> None:
        att.sent_at = now
        fx.send(PPQ(src=self.name, dst=POLICY, seq=att.seq, mn_id=att.mn.id, lma=self.view.select_lma(att.mn)))

    def _register(self, att: Attachment, lma: str, now: float, fx: Effects) -> None:
        att.lma = lma
        att.daf = self.drf_capable and self.view.mode == "epmip" and self.view.peer(lma).role == "elma"
        att.state = REGISTERING
        LOG.info("%s: %s attached on port %d, registering with %s", self.name, att.mn.id, att.port, lma)
        self._send_pbu(att, now, self.view.timers.binding_lifetime, HandoffIndicator.NEW_INTERFACE, fx)

    def on_ppa(self, msg: PPA, now: float) -> Effects:
        fx = Effects()
        att = self.attachments.get(msg.mn_id)
        if att is None or att.state != ANCHORING or att.seq != msg.seq or msg.src != POLICY:
            return fx  # a late, duplicated or foreign answer
        if msg.status != Status.ACCEPTED or msg.lma not in self.view.peers or not self.view.peer(msg.lma).is_lma:
            att.state = REJECTED
            att.status = msg.status
            LOG.error("%s: the policy store has no LMA for %s: %s", self.name, msg.mn_id, _status_name(msg.status))
            self.stats.count("registration_rejected")
            return fx
        self.anchors[msg.mn_id] = msg.lma
        att.seq = self.seq.next()
        att.retries = 0
        self._register(att, msg.lma, now, fx)
        self._schedule(now + self._backoff(0), msg.mn_id)
        return fx

    def _backoff(self, resends: int) -> float:
        """How long to wait for a PBA after a PBU that was sent ``resends`` times before (RFC 5213
        §6.9.4: InitialBindackTimeoutFirstReg, doubled each time, never above MaxBindackTimeout)."""
        timers = self.view.timers
        return float(min(timers.initial_bindack_timeout * 2.0**resends, timers.max_bindack_timeout))

    def _schedule(self, when: float, mn_id: str) -> None:
        """Look at ``mn_id``'s attachment again at ``when`` (PBA timeout or refresh); a timer queue, so the
        tick does not visit every attachment.  Stale entries are skipped when popped.  A change of
        an attachment comes with a timer, so this also marks the MN's record for the store."""
        self._timers.push(when, mn_id)
        self.changed.add(mn_id)

    def leave(self, key: str, now: float) -> Effects:
        """A PBCI told us the MN is registered elsewhere already: no de-registration PBU (the LMA
        would only ignore it)."""
        att = self.attachments.get(key)
        return self.detach(att.port, now, deregister=False) if att is not None else Effects()

    def detach(self, port: int, now: float, deregister: bool = True) -> Effects:
        """The MN on ``port`` left."""
        fx = Effects()
        att = self.mn_on_port(port)
        if att is None:
            return fx
        self.changed.add(att.mn.id)
        del self.attachments[att.mn.id]
        self._by_port.pop(att.port, None)
        for hnp in att.hnps:
            if self._by_hnp.get(hnp) == att.mn.id:
                del self._by_hnp[hnp]
        if self.hooks is not None and att.state == BOUND:
            fx.merge(self.hooks.on_detach(att, now))
        if att.state == BOUND and self.buffer.mode == "reactive":
            fx.merge(self.buffer.start(att.mn.id, self.obj_of(att.mn.id), att.hnps, "reactive", now))
        self._remove_flows(att, fx)
        self.stats.count("detach_detected")
        LOG.info("%s: %s detached from port %d", self.name, att.mn.id, port)
        if att.state == BOUND and self.buffer.buffering(att.mn.id):
            # the MN is expected back (elsewhere); de-register only if it does not come back
            self._departed_regs[att.mn.id] = att
            return fx
        if att.state in (BOUND, REGISTERING) and deregister:
            # also while registering: the LMA may have accepted a PBU whose PBA has not come yet
            self._deregister(att, now, fx)
        return fx

    def _deregister(self, att: Attachment, now: float, fx: Effects) -> None:
        """A de-registration PBU, sent again until its PBA (RFC 5213 §6.9.4: back-off, bounded)."""
        att.seq = self.seq.next()
        att.retries = 1
        att.left_at = now
        self._deregs[att.mn.id] = att
        self._send_pbu(att, now, 0.0, HandoffIndicator.UNKNOWN, fx)
        self._schedule(now + self._backoff(0), att.mn.id)

    def link_going_down(self, mn_id: str, now: float) -> Effects:
        """Predictive handoff hint: buffer the MN's downlink now (it must be bound here)."""
        att = self.bound(mn_id)
        if att is None:
            raise LookupError(f"mobile node {mn_id!r} is not attached at {self.name}")
        fx = self.buffer.start(mn_id, self.obj_of(mn_id), att.hnps, "predictive", now)
        fx.flow(Barrier(self.dpid))
        return fx

    # ------------------------------------------------------------ signalling

    def _send_pbu(self, att: Attachment, now: float, lifetime: float, hi: HandoffIndicator, fx: Effects) -> None:
        profile_hnp = [str(att.mn.hnp)] if att.mn.hnp is not None else []
        att.sent_at = now
        self.changed.add(att.mn.id)
        fx.send(
            PBU(
                src=self.name, dst=att.lma, seq=att.seq, mn_id=att.mn.id, mn_ll_id=att.mn.mac,
                hnps=[text.prefix(p) for p in att.hnps] or profile_hnp, coa=text.address(self.view.address),
                lifetime=lifetime, handoff=int(hi),
                # a de-registration says where the MN was not as of its departure: a resend stamped
                # later would look newer than the MN's registration elsewhere meanwhile
                timestamp=self.view.now_stamp(att.left_at if not lifetime and att.left_at is not None else now),
            )
        )  # fmt: skip

    def handle(self, msg: Message, now: float) -> Effects | None:
        """The MAG's own messages; None for a message that is not the MAG's."""
        if isinstance(msg, PBA):
            return self.on_pba(msg, now)
        if isinstance(msg, LRI):
            return self.on_lri(msg)
        if isinstance(msg, HI):
            return self.on_hi(msg, now)
        if isinstance(msg, HACK):
            return self.on_hack(msg)
        if isinstance(msg, PPA):
            return self.on_ppa(msg, now)
        return None

    def on_pba(self, pba: PBA, now: float) -> Effects:
        fx = Effects()
        self.changed.add(pba.mn_id)
        dereg = self._deregs.get(pba.mn_id)
        if dereg is not None and dereg.seq == pba.seq and pba.src == dereg.lma:
            del self._deregs[pba.mn_id]
            if self.hooks is not None:  # whom the LMF gave the location to: they must be told it left
                self.hooks.on_departed_holders(pba.mn_id, pba.holders)
            return fx
        att = self.attachments.get(pba.mn_id)
        if att is None or att.seq != pba.seq or att.state == ANCHORING:
            return fx  # answer to a de-registration, or to a PBU that was superseded
        if pba.src != att.lma:
            self.stats.count("rejected_unmatched_pba")
            return fx
        att.status = pba.status
        if pba.status != Status.ACCEPTED and att.state == BOUND and not att.refreshing:
            # the answer to a late copy of a PBU that was accepted already (e.g. rejected as older):
            # the binding is there; nothing to undo
            self.stats.count("late_pba_ignored")
            return fx
        if pba.status != Status.ACCEPTED:
            att.state = REJECTED
            why = _status_name(pba.status)
            LOG.error("%s: registration of %s rejected by %s: %s", self.name, pba.mn_id, pba.src, why)
            self.stats.count("registration_rejected")
            return fx
        try:
            hnps = self.view.hnps_named(pba.mn_id, pba.hnps)  # the LMA's objects when it is in-process
        except ValueError:
            LOG.error("%s: PBA for %s carries a bad HNP %r", self.name, pba.mn_id, pba.hnps)
            att.state = REJECTED
            return fx
        first = att.state == REGISTERING
        att.hnps = hnps
        self._by_hnp.update(dict.fromkeys(hnps, att.mn.id))
        att.lifetime = pba.lifetime
        att.refresh_at = now + pba.lifetime * self.view.timers.refresh_fraction
        if first and att.sent_at + self._backoff(att.retries) <= att.refresh_at:
            # the PBU's timeout entry (queued with exactly this time, still there while
            # registering) comes first: its pop pushes the refresh's (``tick``)
            att.refresh_owed = True
        else:
            self._schedule(att.refresh_at, att.mn.id)
        att.retries = 0
        if not first:
            # The RA's prefix lifetimes follow the binding lifetime, so every refresh of the
            # binding is also re-advertised; otherwise the MN's address would expire with it.
            att.refreshing = False
            if self.hooks is not None:
                self.hooks.on_holders(att, pba.holders)
            self._send_ra(att, (att.mn.mac, ndp.ALL_NODES), fx)
            return fx
        att.state = BOUND
        att.bound_at = now
        att.daf = att.daf and pba.elma
        self._install_flows(att, fx)
        self.stats.count("registration_completed")
        self.stats.latency("registration", now - att.attached_at)
        if att.ra_to is not None:
            self._send_ra(att, att.ra_to, fx)
            att.ra_to = None
        if self.hooks is not None:
            fx.merge(self.hooks.on_bound(att, pba.previous_coa, pba.holders, att.attached_at, now))
        fx.flow(Barrier(self.dpid))  # flows first, then what was kept for the MN
        fx.merge(self.buffer.registered(att.port))
        self._departed_regs.pop(att.mn.id, None)
        frames, handed = self.buffer.hand_over(att.mn.id, now)  # it came back here
        fx.merge(handed)
        self._deliver(att, frames, fx)
        previous = self.view.peer_at(pba.previous_coa) if pba.previous_coa else None
        if self.buffer.mode != "off" and previous is not None and previous.is_mag and previous.name != self.name:
            self._hi_to[att.mn.id] = previous.name
            fx.send(
                HI(src=self.name, dst=previous.name, seq=self.seq.next(), mn_id=att.mn.id,
                   hnps=[text.prefix(h) for h in att.hnps], new_coa=text.address(self.view.address))
            )  # fmt: skip
        return fx

    def on_hi(self, msg: HI, now: float) -> Effects:
        """n-MAG registered an MN that left here: hand over its buffer, forget its de-registration."""
        self.changed.add(msg.mn_id)
        self._departed_regs.pop(msg.mn_id, None)
        frames, fx = self.buffer.hand_over(msg.mn_id, now)
        fx.send(HACK(src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=0, frames=frames))
        return fx

    def on_hack(self, msg: HACK) -> Effects:
        fx = Effects()
        if self._hi_to.pop(msg.mn_id, None) != msg.src:
            self.stats.count("rejected_unmatched_hack")  # not the answer to our HI (or a duplicate)
            return fx
        att = self.bound(msg.mn_id)
        if att is not None:
            self._deliver(att, msg.frames, fx)
        elif msg.frames:
            self.stats.count("buffer_dropped_no_mn", len(msg.frames))
        return fx

    def _deliver(self, att: Attachment, frames: list[bytes], fx: Effects) -> None:
        """Buffered downlink frames out of the MN's port, addressed as its delivery flow would."""
        for frame in frames:
            fx.flow(PacketOut(self.dpid, att.port, rewrite_ethernet(frame, att.mn.mac, self.view.router_mac)))
        if frames:
            self.stats.count("buffer_packets_released", len(frames))
            LOG.info("released %d buffered packets of %s at %s port %d", len(frames), att.mn.id, self.name, att.port)

    def on_lri(self, msg: LRI) -> Effects:
        """RFC 6705: the LMA asks this MAG to send ``mn_id``'s traffic for the peer's HNPs straight
        to the peer's MAG (a MAG-MAG tunnel; the same flows as a DRF entry)."""
        fx = Effects()
        att = self.bound(msg.mn_id)
        peer = lr.accept_lri(self.view, msg)
        ok = att is not None and peer is not None
        if att is not None and peer is not None:
            fx.flow(*lr.lr_entries(self.view, self.obj_of(att.mn.id), att.hnps, peer[1], peer[0], self.cids))
            self.stats.count("lr_installed")
        fx.send(lr.lra(self.view, msg, ok))
        return fx

    def tick(self, now: float) -> Effects:
        fx = Effects()
        timers = self.view.timers
        while (mn_id := self._timers.pop_due(now)) is not None:
            dereg = self._deregs.get(mn_id)
            if (
                dereg is not None
                and mn_id not in self.attachments
                and _due(dereg.sent_at, self._backoff(dereg.retries - 1), now)
            ):
                self.changed.add(mn_id)
                if dereg.retries >= PBU_RETRIES:
                    del self._deregs[mn_id]  # the LMA's lifetime will end the binding
                    self.stats.count("deregistration_unanswered")
                else:
                    dereg.retries += 1
                    dereg.seq = self.seq.next()
                    self._send_pbu(dereg, now, 0.0, HandoffIndicator.UNKNOWN, fx)
                    self._schedule(now + self._backoff(dereg.retries - 1), mn_id)
            att = self.attachments.get(mn_id)
            if att is None:
                continue
            if att.refresh_owed:  # its first refresh's timer (``on_pba``): in order, even if due by now
                att.refresh_owed = False
                self._timers.push(att.refresh_at, mn_id)
            if att.state == BOUND and att.refreshing and _due(att.sent_at, self._backoff(att.retries - 1), now):
                if att.retries >= PBU_RETRIES:  # the LMA does not answer: the binding is lost here
                    LOG.error("%s: no PBA for the refresh of %s from %s: binding lost", self.name, mn_id, att.lma)
                    self.stats.count("binding_lost")
                    # drop the MN here and still de-register it (best effort, sent again): if only the
                    # answers are lost, the LMA stops tunnelling to a MAG that no longer delivers
                    fx.merge(self.detach(att.port, now))
                    continue
                att.retries += 1
                att.seq = self.seq.next()
                self.stats.count("binding_refresh_resent")
                self._send_pbu(att, now, timers.binding_lifetime, HandoffIndicator.NOT_CHANGED, fx)
                self._schedule(now + self._backoff(att.retries - 1), mn_id)
            elif att.state == BOUND and not att.refreshing and att.refresh_at <= now:
                att.seq = self.seq.next()
                att.refreshing = True
                att.retries = 1
                att.refresh_at = now + att.lifetime * timers.refresh_fraction
                self._schedule(att.refresh_at, mn_id)
                self._schedule(now + self._backoff(0), mn_id)
                self.stats.count("binding_refresh")
                self._send_pbu(att, now, timers.binding_lifetime, HandoffIndicator.NOT_CHANGED, fx)
            elif att.state in (ANCHORING, REGISTERING) and _due(att.sent_at, self._backoff(att.retries), now):
                self.changed.add(mn_id)
                if att.retries >= PBU_RETRIES:
                    att.state = REJECTED
                    LOG.error("%s: no answer for %s from %s", self.name, att.mn.id, att.lma or POLICY)
                    continue
                att.retries += 1
                if att.state == ANCHORING:
                    self._send_ppq(att, now, fx)
                else:
                    self._send_pbu(att, now, timers.binding_lifetime, HandoffIndicator.NEW_INTERFACE, fx)
                self._schedule(att.sent_at + self._backoff(att.retries), mn_id)
        for buf in self.buffer.expired(now):
            att = self.bound(buf.mn_id)
            if att is not None:  # a hint without a move: deliver here again, nothing lost
                self.stats.count("buffer_hint_expired")
                self._restore_delivery(att, list(buf.frames), fx)
                continue
            self.stats.count("buffer_dropped_timeout", len(buf.frames))
            LOG.warning("%s did not reappear within %.1fs: dropping %d buffered packets",
                        buf.mn_id, timers.buffer_hold, len(buf.frames))  # fmt: skip
            fx.flow(flows.delete_buffer_flows(self.dpid, buf.obj))
            self.changed.add(buf.mn_id)
            dep = self._departed_regs.pop(buf.mn_id, None)
            if dep is not None:  # it did not reappear in time: de-register it after all
                self._deregister(dep, now, fx)
        return fx

    def cancel_link_going_down(self, mn_id: str) -> Effects:
        """The predictive hint is withdrawn: the MN stays; deliver on its port again."""
        att = self.bound(mn_id)
        if att is None:
            raise LookupError(f"mobile node {mn_id!r} is not attached at {self.name}")
        frames = self.buffer.cancel(mn_id)
        if frames is None:
            raise LookupError(f"mobile node {mn_id!r} has no link-going-down hint to cancel")
        fx = Effects()
        self._restore_delivery(att, frames, fx)
        return fx

    def _restore_delivery(self, att: Attachment, frames: list[bytes], fx: Effects) -> None:
        obj = self.obj_of(att.mn.id)
        for hnp in att.hnps:  # replaces the buffer flow (same match and priority) in place
            fx.flow(flows.install_deliver(self.dpid, obj, hnp, att.port, att.mn.mac, self.view.router_mac))
        fx.flow(Barrier(self.dpid))
        self._deliver(att, frames, fx)

    # ------------------------------------------------------------ data plane

    def _send_ra(self, att: Attachment, to: tuple[str, str], fx: Effects) -> None:
        view = self.view
        frame = ndp.router_advertisement(
            view.router_mac, view.router_ll, to[0], to[1], [text.prefix(p) for p in att.hnps],
            valid_lifetime=max(int(att.lifetime), 1),
        )  # fmt: skip
        fx.flow(PacketOut(self.dpid, att.port, frame))
        self.stats.count("ra_sent")

    def _install_flows(self, att: Attachment, fx: Effects) -> None:
        lma = self.view.peer(att.lma)
        obj = self.obj_of(att.mn.id)
        if lma.port is None:
            LOG.error("%s: no path to %s", self.name, lma.name)
            return
        for hnp in att.hnps:
            fx.flow(flows.install_deliver(self.dpid, obj, hnp, att.port, att.mn.mac, self.view.router_mac))
            fx.flow(flows.install_anchor(self.dpid, obj, hnp, lma.label, lma.port, punt=att.daf))
            fx.flow(flows.install_access(self.dpid, obj, att.port, hnp))

    def _remove_flows(self, att: Attachment, fx: Effects) -> None:
        obj = self.obj_of(att.mn.id)
        fx.flow(flows.delete_object(self.dpid, Fn.ACCESS, obj))  # access, anchor and delivery flows
        # DRF entries (ePMIP) or MAG-MAG tunnels (RFC 6705) of the MN
        fx.flow(flows.delete_drf_of_mn(self.dpid, obj))

    def resync(self) -> Effects:
        """Every bound MN's flows again (the switch (re)connected), and an RA: a refresh whose RA
        fell while the switch was away (a controller restart, a flap) did not reach the MN, and its
        address lives only as long as the last RA it got said."""
        fx = Effects()
        for att in self.attachments.values():
            if att.state == BOUND:
                self._install_flows(att, fx)
                self._send_ra(att, (att.mn.mac, ndp.ALL_NODES), fx)
        return fx

    # ------------------------------------------------------------ persistence (controller/store.py)

    def mark_all(self) -> None:
        """Every record is to be written (a store attached to a running controller, tests)."""
        self.changed.update(self.attachments, self._deregs, self._departed_regs, self.anchors)

    def dump(self, mn_id: str, epoch: float) -> dict[str, Any] | None:
        """``mn_id``'s record here: its attachment, a de-registration awaiting its PBA, a departed
        registration kept for a buffered handoff, and the anchor the policy store gave.  Times on
        the wall clock (``now + epoch``)."""
        att = self.attachments.get(mn_id)
        dereg = self._deregs.get(mn_id)
        departed = self._departed_regs.get(mn_id)
        anchor = self.anchors.get(mn_id)
        if att is None and dereg is None and departed is None and anchor is None:
            return None
        return {
            "att": _dump_attachment(att, epoch), "dereg": _dump_attachment(dereg, epoch),
            "departed": _dump_attachment(departed, epoch), "anchor": anchor,
        }  # fmt: skip

    def load(self, mn_id: str, rec: dict[str, Any], epoch: float) -> None:
        """Take ``dump``'s record back after a restart.  The MN's timers resume at the stored
        times: a refresh (or a retransmission) that fell due while the controller was down is
        sent at the first tick."""
        mn = self.view.profiles.get(mn_id)
        if mn is None:
            LOG.warning("%s: stored attachment of %s ignored: no such mobile node in the domain file", self.name, mn_id)
            return
        if rec.get("anchor"):
            self.anchors[mn_id] = rec["anchor"]
        att = _load_attachment(mn, rec.get("att"), epoch)
        if att is not None:
            self.attachments[mn_id] = att
            self._by_port[att.port] = att
            self._by_hnp.update(dict.fromkeys(att.hnps, mn_id))
            wait = PBA_TIMEOUT * (2 ** max(att.retries - 1, 0) if att.state == BOUND else 2**att.retries)
            self._timers.push(att.sent_at + wait, mn_id)
            if att.state == BOUND:
                self._timers.push(att.refresh_at, mn_id)
        dereg = _load_attachment(mn, rec.get("dereg"), epoch)
        if dereg is not None:
            self._deregs[mn_id] = dereg
            self._timers.push(dereg.sent_at + PBA_TIMEOUT * 2 ** max(dereg.retries - 1, 0), mn_id)
        departed = _load_attachment(mn, rec.get("departed"), epoch)
        if departed is not None:
            self._departed_regs[mn_id] = departed


def _dump_attachment(att: Attachment | None, epoch: float) -> dict[str, Any] | None:
    if att is None:
        return None
    return {
        "port": att.port, "lma": att.lma, "state": att.state, "seq": att.seq,
        "attached_at": att.attached_at + epoch, "sent_at": att.sent_at + epoch, "daf": att.daf,
        "hnps": [str(h) for h in att.hnps], "lifetime": att.lifetime, "refresh_at": att.refresh_at + epoch,
        "retries": att.retries, "ra_to": list(att.ra_to) if att.ra_to is not None else None, "status": att.status,
        "bound_at": att.bound_at + epoch if att.bound_at is not None else None, "refreshing": att.refreshing,
    }  # fmt: skip


def _load_attachment(mn: MobileNode, d: dict[str, Any] | None, epoch: float) -> Attachment | None:
    if d is None:
        return None
    ra_to = d.get("ra_to")
    return Attachment(
        mn=mn, port=int(d["port"]), lma=d["lma"], state=d["state"], seq=int(d["seq"]),
        attached_at=float(d["attached_at"]) - epoch, sent_at=float(d["sent_at"]) - epoch, daf=bool(d["daf"]),
        hnps=[ipaddress.IPv6Network(h) for h in d["hnps"]], lifetime=float(d["lifetime"]),
        refresh_at=float(d["refresh_at"]) - epoch, retries=int(d["retries"]),
        ra_to=(str(ra_to[0]), str(ra_to[1])) if ra_to else None, status=d.get("status"),
        bound_at=float(d["bound_at"]) - epoch if d.get("bound_at") is not None else None,
        refreshing=bool(d["refreshing"]),
    )  # fmt: skip


def _due(sent_at: float, wait: float, now: float) -> bool:
    """Has ``wait`` passed since ``sent_at``?  With a tolerance: the timer queue pops an entry at
    ``sent_at + wait``, and ``now - sent_at`` may come out a rounding error short of ``wait``."""
    return now - sent_at >= wait - 1e-9


def _status_name(status: int) -> str:
    try:
        return f"{Status(status).name} ({status})"
    except ValueError:
        return str(status)
