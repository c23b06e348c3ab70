"""Handoff buffering (beyond the draft): no downlink packet lost to a move.

Two triggers (domain file ``handoff_buffer``):
* ``predictive`` - a "link going down" hint (IEEE 802.21 MIH_Link_Going_Down in spirit; REST
  ``POST /epmip/v1/mobility/{mn_id}/link-going-down``, sent by the mobility driver before the move)
  makes the MN's current MAG hand every downlink packet for the MN to the controller instead of
  the access port, before the link breaks (RFC 5949's predictive mode, with the controller as the
  buffer).
* ``reactive`` - no warning: the same switch-over happens when the MAG sees the MN's port go.
  What the port swallowed before that is lost; the figure shows how much.

The buffer is released in arrival order at the MN's new MAG as soon as it is registered there;
packets still in flight to the old MAG afterwards are forwarded at once.  It is bounded per MN
(``timers.buffer_packets``); what does not fit is dropped and counted, never silently.  A buffer
whose MN does not reappear within ``timers.buffer_hold`` is dropped (and counted) and the MN is
de-registered then.

Uplink: packets a host sends on its new link before its flows are in place reach the controller
through the MAG's table-miss rule and are re-injected through the switch's tables once the MN is
registered, so none is lost once it reaches the new MAG.  Packets the host sends while its link is
down never reach a switch (the L2 gap).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openflow_rules import flows
from openflow_rules.intents import OFPP_TABLE, PacketOut

if TYPE_CHECKING:
    from controller.core import EpmipController

LOG = logging.getLogger("epmip.buffer")
EARLY_UPLINK_HOLD = 2.0  # seconds an unregistered port's packets are kept


@dataclass
class MnBuffer:
    mn_id: str
    mag: str  # where the MN was when buffering began
    started: float
    trigger: str  # predictive | reactive
    mn_mac: bytes = b""
    frames: deque[bytes] = field(default_factory=deque)
    released_to: tuple[str, int] | None = None  # (switch, port) once the MN is registered again
    dropped: int = 0


class HandoffBuffers:
    def __init__(self, ctl: EpmipController) -> None:
        self.ctl = ctl
        self.buffers: dict[str, MnBuffer] = {}
        self.early: dict[tuple[int, int], deque[tuple[float, bytes]]] = {}

    @property
    def mode(self) -> str:
        return self.ctl.domain.handoff_buffer

    def limit(self) -> int:
        return self.ctl.domain.timers.buffer_packets

    # ------------------------------------------------------------ downlink

    def start(self, mag, att, trigger: str, now: float) -> None:
        """Switch the MN's delivery on ``mag`` from its access port to the controller."""
        if att.mn.id in self.buffers and self.buffers[att.mn.id].released_to is None:
            return
        mac = bytes.fromhex(att.mn.mac.replace(":", ""))
        self.buffers[att.mn.id] = MnBuffer(att.mn.id, mag.name, now, trigger, mac)
        for hnp in att.hnps:
            self.ctl.emit(flows.install_buffer(mag.dpid, mag.obj_of(att.mn.id), hnp))
        self.ctl.counters[f"buffer_started_{trigger}"] += 1
        LOG.info("%s: buffering %s's downlink (%s)", mag.name, att.mn.id, trigger)

    def buffering(self, mn_id: str) -> bool:
        buf = self.buffers.get(mn_id)
        return buf is not None and buf.released_to is None

    def packet(self, mn_id: str, frame: bytes, now: float) -> None:
        """A downlink packet for ``mn_id`` reached the controller from its old MAG."""
        buf = self.buffers.get(mn_id)
        if buf is None:
            self.ctl.counters["buffer_packet_without_buffer"] += 1
            return
        if buf.released_to is not None:  # late: the MN is already elsewhere
            self._send(buf, frame)
            self.ctl.counters["buffer_forwarded_late"] += 1
            return
        if len(buf.frames) >= self.limit():
            buf.dropped += 1
            self.ctl.counters["buffer_dropped_overflow"] += 1
            if buf.dropped == 1:
                LOG.warning("buffer of %s is full (%d packets): dropping", mn_id, self.limit())
            return
        buf.frames.append(frame)
        self.ctl.counters["buffer_packets_in"] += 1

    def release(self, mn_id: str, mag, port: int, now: float) -> None:
        """The MN is registered at ``mag`` on ``port``: deliver what was kept, in order."""
        buf = self.buffers.get(mn_id)
        if buf is None or buf.released_to is not None:
            return
        buf.released_to = (mag.name, port)
        old = self.ctl.mags.get(buf.mag)
        if old is not None:
            self.ctl.emit(flows.delete_buffer_flows(old.dpid, old.obj_of(mn_id)))
        n = len(buf.frames)
        while buf.frames:
            self._send(buf, buf.frames.popleft())
        self.ctl.counters["buffer_packets_released"] += n
        self.ctl.record_latency("buffer_hold", now - buf.started)
        LOG.info("released %d buffered packets of %s at %s port %d", n, mn_id, mag.name, port)

    def _send(self, buf: MnBuffer, frame: bytes) -> None:
        """Deliver on the MN's new port, with the Ethernet addresses its delivery flow sets."""
        switch, port = buf.released_to
        router = bytes.fromhex(self.ctl.domain.router_mac.replace(":", ""))
        self.ctl.emit(PacketOut(self.ctl.domain.switches[switch].dpid, port, buf.mn_mac + router + frame[12:]))

    def tick(self, now: float) -> None:
        hold = self.ctl.domain.timers.buffer_hold
        for mn_id, buf in list(self.buffers.items()):
            if buf.released_to is None and now - buf.started >= hold:
                self.ctl.counters["buffer_dropped_timeout"] += len(buf.frames)
                LOG.warning("%s did not reappear within %.1fs: dropping %d buffered packets",
                            mn_id, hold, len(buf.frames))  # fmt: skip
                old = self.ctl.mags.get(buf.mag)
                if old is not None:
                    self.ctl.emit(flows.delete_buffer_flows(old.dpid, old.obj_of(mn_id)))
                    old.deregister_departed(mn_id, now)
                del self.buffers[mn_id]
            elif buf.released_to is not None and now - buf.started >= hold:
                del self.buffers[mn_id]
        for key, frames in list(self.early.items()):
            while frames and now - frames[0][0] > EARLY_UPLINK_HOLD:
                frames.popleft()
                self.ctl.counters["early_uplink_dropped"] += 1
            if not frames:
                del self.early[key]

    # ------------------------------------------------------------ uplink on a new link

    def early_uplink(self, dpid: int, port: int, frame: bytes, now: float) -> None:
        frames = self.early.setdefault((dpid, port), deque())
        if len(frames) >= self.limit():
            self.ctl.counters["early_uplink_dropped"] += 1
            return
        frames.append((now, frame))
        self.ctl.counters["early_uplink_held"] += 1

    def registered(self, dpid: int, port: int) -> None:
        """The MN on (dpid, port) has its flows: re-inject what it sent before, in order."""
        frames = self.early.pop((dpid, port), None)
        for _t, frame in frames or ():
            self.ctl.emit(PacketOut(dpid, OFPP_TABLE, frame, in_port=port))
            self.ctl.counters["early_uplink_reinjected"] += 1
