"""(e)MAG: attachment detection, RFC 5213 registration and the access link's router.

The MAG learns that an MN attached (its Router Solicitation, or its access port appearing on the
switch - a host that moved sends no RS), picks the LMA (§4.1: an eLMA unless the MN's profile puts
its HNP on a legacy LMA), sends a PBU, and on the PBA programs the MN's flows and sends the RA with
the HNP.  It refreshes the binding before it expires and de-registers an MN whose port goes away.
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller import ndp
from controller.config import MobileNode, Switch
from controller.daf import Daf
from controller.messages import LRA, LRI, PBA, PBU, HandoffIndicator, Message, Status
from openflow_rules import flows
from openflow_rules.intents import Barrier, PacketOut
from openflow_rules.pipeline import Fn

if TYPE_CHECKING:
    from controller.core import EpmipController

LOG = logging.getLogger("epmip.mag")

REGISTERING = "registering"
BOUND = "bound"
REJECTED = "rejected"
PBA_TIMEOUT = 1.0  # RFC 5213 InitialBindackTimeoutFirstReg
PBU_RETRIES = 3


@dataclass
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

    def to_json(self) -> dict:
        return {
            "mn_id": self.mn.id, "port": self.port, "lma": self.lma, "state": self.state,
            "daf": self.daf, "hnps": [str(p) for p in self.hnps], "lifetime": self.lifetime,
            "attached_at": self.attached_at, "bound_at": self.bound_at, "status": self.status,
        }  # fmt: skip


class MagFunction:
    def __init__(self, switch: Switch, ctl: EpmipController) -> None:
        self.switch = switch
        self.ctl = ctl
        self.attachments: dict[str, Attachment] = {}
        self.daf: Daf | None = Daf(self) if switch.role == "emag" else None
        self._departed_regs: dict[str, Attachment] = {}  # buffered MNs not yet de-registered
        self._by_port: dict[int, str] = {}  # port -> mn_id; kept with ``attachments``
        self._timers: list[tuple[float, str]] = []  # (when, mn_id)

    @property
    def name(self) -> str:
        return self.switch.name

    @property
    def dpid(self) -> int:
        return self.switch.dpid

    def deregister_departed(self, mn_id: str, now: float) -> None:
        """A buffered MN did not reappear in time: de-register it after all."""
        att = self._departed_regs.pop(mn_id, None)
        if att is not None:
            att.seq = self.ctl.bus.next_seq()
            self._send_pbu(att, now, 0.0, HandoffIndicator.UNKNOWN)

    def obj_of(self, mn_id: str) -> int:
        """The MN's number in flow cookies."""
        return self.ctl.mn_index[mn_id]

    def mn_on_port(self, port: int) -> Attachment | None:
        mn_id = self._by_port.get(port)
        return self.attachments.get(mn_id) if mn_id is not None else None

    # ------------------------------------------------------------ attach / detach

    def host_seen(self, mn: MobileNode, port: int, now: float, rs_from: str | None = None) -> None:
        """An MN showed up on ``port``: by its RS (``rs_from`` = its source address) or its port."""
        att = self.attachments.get(mn.id)
        ra_to = (mn.mac, rs_from if rs_from and rs_from != "::" else ndp.ALL_NODES)
        if att is not None and att.port == port and att.state in (BOUND, REGISTERING):
            if att.state == BOUND and rs_from is not None:
                self._send_ra(att, ra_to)
            elif rs_from is not None:
                att.ra_to = ra_to
            return
        if att is not None:  # same MN on another port of this switch: start over
            self.detach(att.port, now)
        if not mn.allowed:
            LOG.warning("%s: %s is not authorized for network-based mobility", self.name, mn.id)
            self.ctl.counters["attach_refused"] += 1
            return
        lma = self.ctl.select_lma(mn, self.switch)
        daf = self.daf is not None and self.ctl.domain.mode == "epmip" and self.ctl.domain.switches[lma].role == "elma"
        att = Attachment(
            mn=mn, port=port, lma=lma, state=REGISTERING, seq=self.ctl.bus.next_seq(),
            attached_at=now, sent_at=now, daf=daf, ra_to=ra_to,
        )  # fmt: skip
        self.attachments[mn.id] = att
        self._by_port[port] = mn.id
        self.ctl.counters["attach_detected"] += 1
        LOG.info("%s: %s attached on port %d, registering with %s", self.name, mn.id, port, lma)
        self._send_pbu(att, now, self.ctl.domain.timers.binding_lifetime, HandoffIndicator.NEW_INTERFACE)
        self._schedule(now + PBA_TIMEOUT, mn.id)

    def _schedule(self, when: float, mn_id: str) -> None:
        """Look at ``mn_id``'s attachment again at ``when`` (PBA timeout or refresh); a heap, so the
        tick does not visit every attachment.  Stale entries are skipped when popped."""
        heapq.heappush(self._timers, (when, mn_id))

    def detach(self, port: int, now: float, deregister: bool = True) -> None:
        """The MN on ``port`` left.  ``deregister`` False: a PBCI told us it is already registered
        elsewhere, so a de-registration PBU would only be ignored by the LMA."""
        att = self.mn_on_port(port)
        if att is None:
            return
        del self.attachments[att.mn.id]
        self._by_port.pop(att.port, None)
        if self.daf is not None and att.state == BOUND:
            self.daf.on_detach(att, now)
        buffers = self.ctl.buffers
        if att.state == BOUND and buffers.mode == "reactive":
            buffers.start(self, att, "reactive", now)
        self._remove_flows(att)
        self.ctl.counters["detach_detected"] += 1
        LOG.info("%s: %s detached from port %d", self.name, att.mn.id, port)
        if att.state == BOUND and buffers.buffering(att.mn.id):
            # the MN is expected back (elsewhere); de-register only if it does not come back
            self._departed_regs[att.mn.id] = att
            return
        if att.state == BOUND and deregister:
            att.seq = self.ctl.bus.next_seq()
            self._send_pbu(att, now, 0.0, HandoffIndicator.UNKNOWN)

    # ------------------------------------------------------------ signalling

    def _send_pbu(self, att: Attachment, now: float, lifetime: float, hi: HandoffIndicator) -> None:
        profile_hnp = [str(att.mn.hnp)] if att.mn.hnp is not None else []
        att.sent_at = now
        self.ctl.bus.send(
            PBU(
                src=self.name, dst=att.lma, seq=att.seq, mn_id=att.mn.id, mn_ll_id=att.mn.mac,
                hnps=[str(p) for p in att.hnps] or profile_hnp, coa=str(self.switch.address),
                lifetime=lifetime, timestamp=self.ctl.timestamp(now), handoff=int(hi),
            ),
            now,
        )  # fmt: skip

    def handle(self, msg: Message, now: float) -> None:
        if isinstance(msg, PBA):
            self.on_pba(msg, now)
        elif isinstance(msg, LRI):
            self.on_lri(msg, now)
        elif self.daf is not None and self.daf.handle(msg, now):
            pass
        else:
            self.ctl.reject_message(self.name, msg, "an (e)MAG accepts only PBA here")

    def on_pba(self, pba: PBA, now: float) -> None:
        att = self.attachments.get(pba.mn_id)
        if att is None or att.seq != pba.seq:
            return  # answer to a de-registration, or to a PBU that was superseded
        att.status = pba.status
        if pba.status != Status.ACCEPTED:
            att.state = REJECTED
            LOG.error(
                "%s: registration of %s rejected by %s: %s",
                self.name,
                pba.mn_id,
                pba.src,
                _status_name(pba.status),
            )
            self.ctl.counters["registration_rejected"] += 1
            return
        try:
            hnps = [ipaddress.IPv6Network(p) for p in pba.hnps]
        except ValueError:
            LOG.error("%s: PBA for %s carries a bad HNP %r", self.name, pba.mn_id, pba.hnps)
            att.state = REJECTED
            return
        first = att.state == REGISTERING
        att.hnps = hnps
        att.lifetime = pba.lifetime
        att.refresh_at = now + pba.lifetime * self.ctl.domain.timers.refresh_fraction
        self._schedule(att.refresh_at, att.mn.id)
        att.retries = 0
        if first:
            att.state = BOUND
            att.bound_at = now
            att.daf = att.daf and pba.elma
            self._install_flows(att)
            self.ctl.counters["registration_completed"] += 1
            self.ctl.record_latency("registration", now - att.attached_at)
            if att.ra_to is not None:
                self._send_ra(att, att.ra_to)
                att.ra_to = None
            if self.daf is not None:
                self.daf.on_bound(att, pba.previous_coa, now)
            self.ctl.emit(Barrier(self.dpid))  # flows first, then what was kept for the MN
            self.ctl.buffers.registered(self.dpid, att.port)
            self.ctl.buffers.release(att.mn.id, self, att.port, now)
            for mag in self.ctl.mags.values():
                mag._departed_regs.pop(att.mn.id, None)
        else:
            # The RA's prefix lifetimes follow the binding lifetime, so every refresh of the
            # binding is also re-advertised; otherwise the MN's address would expire with it.
            self._send_ra(att, (att.mn.mac, ndp.ALL_NODES))

    def on_lri(self, msg: LRI, now: float) -> None:
        """RFC 6705: the LMA asks this MAG to send ``mn_id``'s traffic for the peer's HNPs straight
        to the peer's MAG (a MAG-MAG tunnel; the same flows as a DRF entry)."""
        att = self.attachments.get(msg.mn_id)
        peer = None
        try:
            peer = self.ctl.domain.switch_by_address(ipaddress.IPv6Address(msg.peer_mag))
            peer_hnps = [ipaddress.IPv6Network(h) for h in msg.peer_hnps]
        except ValueError:
            peer_hnps = []
        ok = att is not None and att.state == BOUND and peer is not None and peer.is_mag and peer_hnps
        if ok:
            label = None if peer.name == self.name else peer.label
            port = None if peer.name == self.name else self.ctl.topo.port_toward(self.name, peer.name)
            obj = self.obj_of(att.mn.id)
            for hnp in att.hnps:
                for peer_hnp in peer_hnps:
                    cid = self.ctl.correspondent_id(peer_hnp)
                    self.ctl.emit(flows.install_drf(self.dpid, obj, cid, hnp, peer_hnp, label, port))
            self.ctl.counters["lr_installed"] += 1
        status = Status.ACCEPTED if ok else Status.NOT_LMA_FOR_THIS_MOBILE_NODE
        self.ctl.bus.send(
            LRA(
                src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, peer_mn_id=msg.peer_mn_id, status=int(status)
            ),
            now,
        )

    def tick(self, now: float) -> None:
        if self.daf is not None:
            self.daf.tick(now)
        while self._timers and self._timers[0][0] <= now:
            _, mn_id = heapq.heappop(self._timers)
            att = self.attachments.get(mn_id)
            if att is None:
                continue
            if att.state == BOUND and att.refresh_at <= now:
                att.seq = self.ctl.bus.next_seq()
                att.refresh_at = now + att.lifetime * self.ctl.domain.timers.refresh_fraction
                self._schedule(att.refresh_at, mn_id)
                self.ctl.counters["binding_refresh"] += 1
                self._send_pbu(att, now, self.ctl.domain.timers.binding_lifetime, HandoffIndicator.NOT_CHANGED)
            elif att.state == REGISTERING and now - att.sent_at >= PBA_TIMEOUT * (2**att.retries):
                if att.retries >= PBU_RETRIES:
                    att.state = REJECTED
                    LOG.error("%s: no PBA for %s from %s", self.name, att.mn.id, att.lma)
                    continue
                att.retries += 1
                self._send_pbu(att, now, self.ctl.domain.timers.binding_lifetime, HandoffIndicator.NEW_INTERFACE)
                self._schedule(att.sent_at + PBA_TIMEOUT * (2**att.retries), mn_id)

    # ------------------------------------------------------------ data plane

    def _send_ra(self, att: Attachment, to: tuple[str, str]) -> None:
        d = self.ctl.domain
        frame = ndp.router_advertisement(
            d.router_mac, str(d.router_link_local), to[0], to[1], [str(p) for p in att.hnps],
            valid_lifetime=max(int(att.lifetime), 1),
        )  # fmt: skip
        self.ctl.emit(PacketOut(self.dpid, att.port, frame))
        self.ctl.counters["ra_sent"] += 1

    def _install_flows(self, att: Attachment) -> None:
        d = self.ctl.domain
        lma = d.switches[att.lma]
        obj = self.ctl.mn_index[att.mn.id]
        up_port = self.ctl.topo.port_toward(self.name, lma.name)
        for hnp in att.hnps:
            self.ctl.emit(flows.install_deliver(self.dpid, obj, hnp, att.port, att.mn.mac, d.router_mac))
            self.ctl.emit(flows.install_anchor(self.dpid, obj, hnp, lma.label, up_port, punt=att.daf))
            self.ctl.emit(flows.install_access(self.dpid, obj, att.port, hnp))

    def _remove_flows(self, att: Attachment) -> None:
        self.ctl.emit(flows.delete_object(self.dpid, Fn.ACCESS, self.ctl.mn_index[att.mn.id]))
        # DRF entries (ePMIP) or MAG-MAG tunnels (RFC 6705) of the MN
        self.ctl.emit(flows.delete_drf_of_mn(self.dpid, self.ctl.mn_index[att.mn.id]))

    def resync(self) -> None:
        for att in self.attachments.values():
            if att.state == BOUND:
                self._install_flows(att)
        if self.daf is not None:
            self.daf.resync()


def _status_name(status: int) -> str:
    try:
        return f"{Status(status).name} ({status})"
    except ValueError:
        return str(status)
