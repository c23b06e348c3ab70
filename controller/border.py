"""Routers with DRF announcing the ePMIP area: the border gateway (``bg_drf``) and the anycast
routers (``router_drf``) of the draft's §7.1 and §7.3, deployment ``lma_daf``.

The eLMAs announce no prefix.  The area's prefix set is announced by the border gateway and by
routers with DRF inside the area; every switch routes it to the nearest of them (hop count, ties by
name - anycast).  So traffic toward an MN from a node that knows nothing of MNs (a fixed CN inside
the area, a CN outside behind the border gateway, or an eLMA whose DRF has no entry yet) reaches
such a router, whose DRF locates the MN at the LMF and tunnels the traffic to the MN's eLMA(DRF):
CN <-> access router <-> Router+DRF <-> eLMA <-> MAG <-> MN.

Toward the area, a router's UPLINK table holds its DRF entries (any source -> the MN's HNP ->
tunnel to the eLMA) above a punt of the whole area (``flows.install_area_punt``).  A punted packet
is held here, its destination located (the DRF's own query and cache), and sent on through the
switch's tables once the entry is there - with the port it came in on, so that it meets the entry.
The DRF's endpoint for this transit traffic is ``TRANSIT`` (every source); fixed hosts behind the
border gateway (the CNs outside the area) are endpoints of their own, as behind a §5.2 access
router.  When an MN moves, its previous eLMA's DMF tells this router (a holder of the location)
with a PBCI and the router's DMF (correspondent part) re-points the entry.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import deque
from dataclasses import dataclass, field

from controller.ar import FixedHost, FixedHosts
from controller.effects import Effects, Stats
from controller.view import View, prefix_of
from openflow_rules.intents import OFPP_TABLE, PacketOut

LOG = logging.getLogger("epmip.border")

Net = ipaddress.IPv6Network
TRANSIT_KEY = "(transit)"  # not a valid host name (config.NAME_RE), so it names no fixed host
TRANSIT_OBJ = 0x7FFF  # its DRF cookie object: below the fixed hosts' (ar.FIXED_OBJ_BASE), above any MN index
HOLD_PACKETS = 64  # packets held per destination /64 while it is located
HOLD_TIME = 3.0  # seconds a held packet waits for its destination's location


@dataclass
class Transit:
    """Every source routed through this router toward the area (``interfaces.Endpoint``)."""

    key: str = TRANSIT_KEY
    hnps: list[Net] = field(default_factory=lambda: [ipaddress.IPv6Network("::/0")])
    daf: bool = True
    lma: str | None = None  # fallback: plain routing


@dataclass
class Held:
    key: str  # the DRF endpoint whose entry the packet needs
    port: int
    data: bytes
    since: float


class AreaEndpoints:
    """The router's DRF endpoints: the transit traffic and the fixed hosts behind it."""

    def __init__(self, hosts: FixedHosts) -> None:
        self.hosts = hosts
        self.transit = Transit()

    def endpoint(self, key: str) -> Transit | FixedHost | None:
        return self.transit if key == TRANSIT_KEY else self.hosts.endpoint(key)

    def obj_of(self, key: str) -> int:
        return TRANSIT_OBJ if key == TRANSIT_KEY else self.hosts.obj_of(key)

    def key_for_prefix(self, prefix: Net) -> str | None:
        return self.hosts.key_for_prefix(prefix)


class HeldPackets:
    """Packets toward the area waiting for their destination's DRF entry (bounded, timed)."""

    def __init__(self, view: View, stats: Stats) -> None:
        self.view = view
        self.stats = stats
        self.held: dict[Net, deque[Held]] = {}

    def hold(self, key: str, dst: ipaddress.IPv6Address, port: int, data: bytes, now: float) -> None:
        queue = self.held.setdefault(prefix_of(dst), deque())
        if len(queue) >= HOLD_PACKETS:
            self.stats.count("area_held_dropped_overflow")
            return
        queue.append(Held(key, port, data, now))
        self.stats.count("area_held")

    def release(self, sessions: dict[str, dict[Net, str]], fx: Effects) -> None:
        """Send on every held packet whose endpoint has an entry (direct or fallback) now."""
        for prefix, queue in list(self.held.items()):
            keep: deque[Held] = deque()
            for h in queue:
                if prefix in sessions.get(h.key, {}):
                    fx.flow(PacketOut(self.view.dpid, OFPP_TABLE, h.data, in_port=h.port))
                    self.stats.count("area_released")
                else:
                    keep.append(h)
            if keep:
                self.held[prefix] = keep
            else:
                del self.held[prefix]

    def expire(self, now: float) -> None:
        for prefix, queue in list(self.held.items()):
            while queue and now - queue[0].since >= HOLD_TIME:
                queue.popleft()
                self.stats.count("area_held_dropped_timeout")
            if not queue:
                del self.held[prefix]
