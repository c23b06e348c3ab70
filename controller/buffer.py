"""Handoff buffering at one (e)MAG (beyond the draft): no downlink packet lost to a move.

Two triggers (domain file ``handoff_buffer``):
* ``predictive`` - a "link going down" hint (IEEE 802.21 MIH_Link_Going_Down in spirit; REST
  ``POST /epmip/v1/mobility/{mn_id}/link-going-down``, sent by the mobility driver before the move)
  makes the MN's current MAG hand every downlink packet for the MN to the controller instead of
  the access port, before the link breaks (RFC 5949's predictive mode, with the controller as the
  buffer).
* ``reactive`` - no warning: the same switch-over happens when the MAG sees the MN's port go.
  What the port swallowed before that is lost; the figure shows how much.

The buffer belongs to the MAG the MN left (p-MAG).  When the MN is registered at its new MAG
(n-MAG), n-MAG sends p-MAG a Handover Initiate (HI, RFC 5949 in spirit); p-MAG removes its buffer
flows and answers a Handover Acknowledge (HACK) carrying the buffered frames, which n-MAG delivers
in arrival order on the MN's new link.  Packets still in flight to p-MAG afterwards are sent on
through p-MAG's own tables (redirect or routing).  The buffer is bounded per MN
(``timers.buffer_packets``); what does not fit is dropped and counted, never silently.  A buffer
whose MN does not reappear within ``timers.buffer_hold`` is dropped (and counted), and the MAG
de-registers the MN then; if the MN never left (a hint without a move), its delivery is restored
on its port with the kept packets, and so it is when the hint is cancelled (REST ``DELETE``).

Uplink: packets a host sends on its new link before its flows are in place reach the controller
through the MAG's table-miss rule and are re-injected through the switch's tables once the MN is
registered, so none is lost once it reaches the new MAG.  Packets the host sends while its link is
down never reach a switch (the L2 gap).
"""

from __future__ import annotations

import ipaddress
import logging
from collections import deque
from dataclasses import dataclass, field

from controller.effects import Effects, Stats
from controller.view import View
from openflow_rules import flows
from openflow_rules.intents import OFPP_CONTROLLER, OFPP_TABLE, PacketOut

LOG = logging.getLogger("epmip.buffer")
EARLY_UPLINK_HOLD = 2.0  # seconds an unregistered port's packets are kept


@dataclass
class MnBuffer:
    mn_id: str
    obj: int
    hnps: list[ipaddress.IPv6Network]
    started: float
    trigger: str  # predictive | reactive
    frames: deque[bytes] = field(default_factory=deque)
    handed_over: bool = False
    dropped: int = 0


class HandoffBuffer:
    def __init__(self, view: View, stats: Stats) -> None:
        self.view = view
        self.stats = stats
        self.buffers: dict[str, MnBuffer] = {}
        self.early: dict[int, deque[tuple[float, bytes]]] = {}  # access port -> frames

    @property
    def mode(self) -> str:
        return self.view.handoff_buffer

    def limit(self) -> int:
        return self.view.timers.buffer_packets

    # ------------------------------------------------------------ downlink

    def start(self, mn_id: str, obj: int, hnps: list[ipaddress.IPv6Network], trigger: str, now: float) -> Effects:
        """Switch the MN's delivery on this MAG from its access port to the controller."""
        fx = Effects()
        if self.buffering(mn_id):
            return fx
        self.buffers[mn_id] = MnBuffer(mn_id, obj, list(hnps), now, trigger)
        for hnp in hnps:
            fx.flow(flows.install_buffer(self.view.dpid, obj, hnp))
        self.stats.count(f"buffer_started_{trigger}")
        LOG.info("%s: buffering %s's downlink (%s)", self.view.name, mn_id, trigger)
        return fx

    def buffering(self, mn_id: str) -> bool:
        buf = self.buffers.get(mn_id)
        return buf is not None and not buf.handed_over

    def owner_of(self, address: ipaddress.IPv6Address) -> str | None:
        return next((m for m, b in self.buffers.items() if any(address in h for h in b.hnps)), None)

    def packet(self, address: ipaddress.IPv6Address, frame: bytes, now: float) -> Effects:
        """A downlink packet for a buffered MN reached the controller from this MAG."""
        fx = Effects()
        mn_id = self.owner_of(address)
        buf = self.buffers.get(mn_id) if mn_id is not None else None
        if buf is None:
            self.stats.count("buffer_packet_without_buffer")
            return fx
        if buf.handed_over:  # late: the MN is already elsewhere; this switch's tables know where
            fx.flow(PacketOut(self.view.dpid, OFPP_TABLE, frame, in_port=OFPP_CONTROLLER))
            self.stats.count("buffer_forwarded_late")
            return fx
        if len(buf.frames) >= self.limit():
            buf.dropped += 1
            self.stats.count("buffer_dropped_overflow")
            if buf.dropped == 1:
                LOG.warning("buffer of %s is full (%d packets): dropping", buf.mn_id, self.limit())
            return fx
        buf.frames.append(frame)
        self.stats.count("buffer_packets_in")
        return fx

    def hand_over(self, mn_id: str, now: float) -> tuple[list[bytes], Effects]:
        """The MN is registered again (here or elsewhere): stop buffering; the kept frames, in
        order, for whoever delivers them."""
        fx = Effects()
        buf = self.buffers.get(mn_id)
        if buf is None or buf.handed_over:
            return [], fx
        buf.handed_over = True
        fx.flow(flows.delete_buffer_flows(self.view.dpid, buf.obj))
        frames = list(buf.frames)
        buf.frames.clear()
        self.stats.latency("buffer_hold", now - buf.started)
        return frames, fx

    def expired(self, now: float) -> list[MnBuffer]:
        """Buffers held ``timers.buffer_hold`` without a hand-over: taken out, for the MAG to decide
        (the MN never moved: deliver here again; it left: drop and de-register)."""
        out: list[MnBuffer] = []
        hold = self.view.timers.buffer_hold
        for mn_id, buf in list(self.buffers.items()):
            if now - buf.started < hold:
                continue
            del self.buffers[mn_id]
            if not buf.handed_over:
                out.append(buf)
        for port, frames in list(self.early.items()):
            while frames and now - frames[0][0] > EARLY_UPLINK_HOLD:
                frames.popleft()
                self.stats.count("early_uplink_dropped")
            if not frames:
                del self.early[port]
        return out

    def cancel(self, mn_id: str) -> list[bytes] | None:
        """Stop buffering an MN that stays here; its frames (None: it was not being buffered).  The
        caller puts the delivery flow back (it replaces the buffer flow in place)."""
        buf = self.buffers.get(mn_id)
        if buf is None or buf.handed_over:
            return None
        del self.buffers[mn_id]
        self.stats.count("buffer_cancelled")
        return list(buf.frames)

    # ------------------------------------------------------------ uplink on a new link

    def early_uplink(self, port: int, frame: bytes, now: float) -> None:
        frames = self.early.setdefault(port, deque())
        if len(frames) >= self.limit():
            self.stats.count("early_uplink_dropped")
            return
        frames.append((now, frame))
        self.stats.count("early_uplink_held")

    def registered(self, port: int) -> Effects:
        """The MN on ``port`` has its flows: re-inject what it sent before, in order."""
        fx = Effects()
        for _t, frame in self.early.pop(port, ()):
            fx.flow(PacketOut(self.view.dpid, OFPP_TABLE, frame, in_port=port))
            self.stats.count("early_uplink_reinjected")
        return fx
