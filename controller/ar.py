"""Access router with DRF (``ar_drf``, draft §5.2), with a co-located LMF for its fixed networks.

Fixed servers sit behind the router.  Its LMF answers a PBQR for an address in its fixed networks
with the router's own address, so an eMAG's DRF tunnels straight to it; its DRF (no DMF: fixed
nodes do not move) looks MNs up at their eLMA and tunnels the reply direction straight to the
MN's eMAG.  When an MN moves, the MN's previous eMAG sends this router a PBCI like any other
correspondent's DRF, so the direct route follows the MN.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.config import FixedNode, Switch
from controller.daf import Daf
from controller.messages import PBQA, PBQR, Message, Status
from openflow_rules import flows
from openflow_rules.pipeline import Fn

if TYPE_CHECKING:
    from controller.core import EpmipController

LOG = logging.getLogger("epmip.ar")
FIXED_OBJ_BASE = 0x8000  # cookie objects of fixed hosts, apart from MN indexes


@dataclass
class _Host:
    id: str
    mac: str


@dataclass
class FixedAttachment:
    """What the DRF needs of a local endpoint, for a fixed host (cf. mag.Attachment)."""

    mn: _Host
    port: int
    address: ipaddress.IPv6Address
    daf: bool
    lma: str | None = None  # no LMA: the fallback is plain routing
    hnps: list[ipaddress.IPv6Network] = field(default_factory=list)


class ArFunction:
    def __init__(self, switch: Switch, ctl: EpmipController) -> None:
        self.switch = switch
        self.ctl = ctl
        self.attachments: dict[str, FixedAttachment] = {}
        self.daf = Daf(self)

    @property
    def name(self) -> str:
        return self.switch.name

    @property
    def dpid(self) -> int:
        return self.switch.dpid

    def obj_of(self, host: str) -> int:
        """The host's number in DRF cookies (which also hold MN numbers, hence the offset)."""
        return FIXED_OBJ_BASE + self.ctl.fixed_index[host]

    def answers_for(self, address: ipaddress.IPv6Address) -> bool:
        return any(n.lmf and n.router == self.name and address in n.prefix for n in self.ctl.domain.fixed_networks)

    # ------------------------------------------------------------ hosts

    def host_up(self, host: FixedNode, port: int, now: float) -> None:
        daf = self.ctl.domain.mode == "epmip"
        att = FixedAttachment(_Host(host.name, host.mac), port, host.address, daf)
        att.hnps = [ipaddress.IPv6Network(f"{host.address}/128")]
        self.attachments[host.name] = att
        self._install(att)

    def _install(self, att: FixedAttachment) -> None:
        d = self.ctl.domain
        build = flows.install_fixed_host_drf if att.daf else flows.install_fixed_host
        obj = self.ctl.fixed_index[att.mn.id]  # Fn.FIXED cookies: the host's index, as without DRF
        for fm in build(self.dpid, obj, att.port, str(att.address), att.mn.mac, d.router_mac):
            self.ctl.emit(fm)

    def host_down(self, port: int, now: float) -> None:
        for name, att in list(self.attachments.items()):
            if att.port == port:
                del self.attachments[name]
                self.ctl.emit(flows.delete_object(self.dpid, Fn.FIXED, self.ctl.fixed_index[name]))
                self.ctl.emit(flows.delete_drf_of_mn(self.dpid, self.obj_of(name)))
                self.daf.forget_endpoint(name)

    def mn_on_port(self, port: int) -> FixedAttachment | None:
        return next((a for a in self.attachments.values() if a.port == port), None)

    def detach(self, port: int, now: float, deregister: bool = True) -> None:
        """Fixed hosts do not move; a PBCI that says otherwise changes nothing here."""

    def resync(self) -> None:
        for att in self.attachments.values():
            self._install(att)
        self.daf.resync()

    # ------------------------------------------------------------ signalling

    def handle(self, msg: Message, now: float) -> None:
        if isinstance(msg, PBQR):
            self.on_pbqr(msg, now)
        elif not self.daf.handle(msg, now):
            self.ctl.reject_message(self.name, msg, "an access router accepts PBQR, PBQA, PBCI and PBCA")

    def on_pbqr(self, msg: PBQR, now: float) -> None:
        """The co-located LMF (§5.2): a fixed node's location is this router."""
        try:
            known = self.answers_for(ipaddress.IPv6Address(msg.address))
        except ValueError:
            known = False
        self.ctl.counters["lmf_fixed_query" if known else "lmf_query_no_location"] += 1
        self.ctl.bus.send(
            PBQA(src=self.name, dst=msg.src, seq=msg.seq, address=msg.address,
                 status=int(Status.ACCEPTED if known else Status.NO_LOCATION),
                 coa=str(self.switch.address) if known else ""),
            now,
        )  # fmt: skip
