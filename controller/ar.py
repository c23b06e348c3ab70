"""Access router with DRF (``ar_drf``, draft §5.2), with a co-located LMF for its fixed networks.

Fixed servers sit behind the router.  Its LMF answers a PBQR for an address in its fixed networks
with the router's own address, so an eMAG's DRF tunnels straight to it; its DRF looks MNs up at
their eLMA and tunnels the reply direction straight to the MN's eMAG.  When an MN moves, the MN's
previous eMAG sends this router a PBCI like any other correspondent's DRF, and the router's DMF
(correspondent part only: fixed nodes do not move) re-points the direct route.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from controller.config import FixedNode
from controller.effects import Effects, Stats
from controller.messages import PBQA, PBQR, Status
from controller.view import View
from openflow_rules import flows

LOG = logging.getLogger("epmip.ar")
FIXED_OBJ_BASE = 0x8000  # cookie objects of fixed hosts in DRF cookies, apart from MN numbers


@dataclass
class FixedHost:
    """A fixed host as the router's DRF sees it (cf. ``mag.Attachment``)."""

    name: str
    mac: str
    port: int
    address: ipaddress.IPv6Address
    daf: bool
    lma: str | None = None  # no LMA: the fallback is plain routing
    hnps: list[ipaddress.IPv6Network] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.name


class FixedHosts:
    """The router's hosts (``interfaces.Endpoints`` for its DRF)."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.hosts: dict[str, FixedHost] = {}

    def endpoint(self, key: str) -> FixedHost | None:
        return self.hosts.get(key)

    def obj_of(self, key: str) -> int:
        """The host's number in DRF cookies (which also hold MN numbers, hence the offset)."""
        return FIXED_OBJ_BASE + self.view.fixed_index[key]

    def key_for_prefix(self, prefix: ipaddress.IPv6Network) -> str | None:
        return next((h.name for h in self.hosts.values() if h.address in prefix), None)

    def on_port(self, port: int) -> FixedHost | None:
        return next((h for h in self.hosts.values() if h.port == port), None)

    def up(self, host: FixedNode, port: int) -> Effects:
        daf = self.view.mode == "epmip"
        fh = FixedHost(host.name, host.mac, port, host.address, daf)
        fh.hnps = [ipaddress.IPv6Network(f"{host.address}/128")]
        self.hosts[host.name] = fh
        return self._install(fh)

    def _install(self, fh: FixedHost) -> Effects:
        fx = Effects()
        build = flows.install_fixed_host_drf if fh.daf else flows.install_fixed_host
        obj = self.view.fixed_index[fh.name]  # Fn.FIXED cookies: the host's index, as without DRF
        fx.flow(*build(self.view.dpid, obj, fh.port, str(fh.address), fh.mac, self.view.router_mac))
        return fx

    def down(self, port: int) -> FixedHost | None:
        """The host on ``port`` went away: its flows go (the DRF's entries are the caller's)."""
        fh = self.on_port(port)
        if fh is not None:
            del self.hosts[fh.name]
        return fh

    def remove_flows(self, fh: FixedHost) -> Effects:
        fx = Effects()
        obj = self.view.fixed_index[fh.name]
        if fh.daf:
            fx.flow(*flows.delete_fixed_host_drf(self.view.dpid, obj, fh.port, str(fh.address)))
        else:
            fx.flow(
                *flows.delete_fixed_host(self.view.dpid, obj, fh.port, str(fh.address), fh.mac, self.view.router_mac)
            )
        return fx

    def resync(self) -> Effects:
        fx = Effects()
        for fh in self.hosts.values():
            fx.merge(self._install(fh))
        return fx


class FixedLmf:
    """The co-located LMF (§5.2): a fixed node's location is this router."""

    def __init__(self, view: View, stats: Stats) -> None:
        self.view = view
        self.stats = stats

    def answers_for(self, address: ipaddress.IPv6Address) -> bool:
        return any(n.lmf and n.router == self.view.name and address in n.prefix for n in self.view.fixed_networks)

    def on_pbqr(self, msg: PBQR, now: float) -> Effects:
        try:
            known = self.answers_for(ipaddress.IPv6Address(msg.address))
        except ValueError:
            known = False
        self.stats.count("lmf_fixed_query" if known else "lmf_query_no_location")
        fx = Effects()
        fx.send(
            PBQA(src=self.view.name, dst=msg.src, seq=msg.seq, address=msg.address,
                 status=int(Status.ACCEPTED if known else Status.NO_LOCATION),
                 coa=str(self.view.address) if known else "")
        )  # fmt: skip
        return fx
