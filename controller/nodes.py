"""The nodes of a domain, one per switch, each composed of the draft's entities for its role.

=========  ==========================================================================
role       node = entities
=========  ==========================================================================
emag       MAG registration + DRF + DMF (+ handoff buffer)       ``EmagNode``
mag        MAG registration (legacy RFC 5213) (+ handoff buffer)  ``EmagNode`` without DAF
elma       LMA registration + LMF (+ RFC 6705 in mode lr)         ``LmaNode``
lma        LMA registration (legacy)                              ``LmaNode`` without LMF
ar_drf     fixed hosts + DRF + DMF (correspondent) + fixed LMF    ``ArNode``
core       label switching and routing only                       ``Node``
§7 (deployment lma_daf):
elma_drf   LMA registration + DRF + DMF + location updates        ``ElmaDrfNode``
lmf        independent LMF (hashing, relaying between LMFs)       ``LmfNode``
bg_drf     border gateway: outside hosts + DRF + DMF (corr.)      ``AreaRouterNode``
router_drf anycast router with DRF + DMF (correspondent)          ``AreaRouterNode``
=========  ==========================================================================

A node receives its switch's OpenFlow events (already classified by the composition root in
``controller/core.py``) and its signalling messages, and returns ``Effects``.  Its parts share the
node's counters, sequence numbers and cookie numbering; they never see another node.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from controller import hbh, ndp
from controller.ar import FixedHost, FixedHosts, FixedLmf
from controller.binding_cache import BindingCache
from controller.border import TRANSIT_KEY, AreaEndpoints, HeldPackets
from controller.config import FixedNode, MobileNode
from controller.dmf import Dmf, NoDepartures
from controller.drf import Drf
from controller.effects import Effects, Numbering, Sequence, Stats
from controller.elma_drf import Anchored, LocationUpdates
from controller.frames import Punt
from controller.lma import Lma
from controller.lmf import Lmf
from controller.location import IndependentLmf
from controller.lr import LrLma
from controller.mag import Attachment, Mag
from controller.messages import (
    HBH_PEER,
    LRA,
    LUA,
    PBCA,
    PBCI,
    PBQA,
    PBQR,
    PBU,
    AuthenticationError,
    Message,
    pair_key,
)
from controller.store import Change
from controller.view import View
from openflow_rules import flows
from openflow_rules.intents import OFPP_CONTROLLER, OFPP_TABLE, PacketOut
from openflow_rules.pipeline import Table

LOG = logging.getLogger("epmip.nodes")


class Node:
    """A switch with no mobility entity (a core router), and what every node does: answer
    Neighbour Solicitations for the shared router address, deliver fixed hosts plainly."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.stats = Stats()
        self.seq = Sequence()
        self.cids = Numbering()
        self.plain_hosts: dict[int, FixedNode] = {}  # port -> fixed host routed without a DRF

    @property
    def name(self) -> str:
        return self.view.name

    def reject(self, msg: Message, why: str) -> Effects:
        self.stats.count("unexpected_message")
        LOG.error("%s dropped %s from %s: %s", self.name, msg.TYPE, msg.src, why)
        return Effects()

    def handle(self, msg: Message, now: float) -> Effects:
        return self.reject(msg, f"a {self.view.me.role} switch takes no signalling")

    # ------------------------------------------------------------ OpenFlow events

    def resync(self, now: float) -> Effects:
        """Every per-MN/per-host flow this node holds (the switch (re)connected)."""
        fx = Effects()
        view = self.view
        for port, host in self.plain_hosts.items():
            obj = view.fixed_index[host.name]
            fx.flow(*flows.install_fixed_host(view.dpid, obj, port, str(host.address), host.mac, view.router_mac))
        return fx

    def mobile_node_up(self, mn: MobileNode, port: int, now: float, rs_from: str | None = None) -> Effects:
        self.stats.count("mn_on_non_mag")
        LOG.error("mobile node %s appeared on %s, which is not an (e)MAG", mn.id, self.name)
        return Effects()

    def fixed_node_up(self, host: FixedNode, port: int, now: float) -> Effects:
        view = self.view
        self.plain_hosts[port] = host
        obj = view.fixed_index[host.name]
        fx = Effects()
        fx.flow(*flows.install_fixed_host(view.dpid, obj, port, str(host.address), host.mac, view.router_mac))
        return fx

    def port_down(self, port: int, now: float) -> Effects:
        fx = Effects()
        host = self.plain_hosts.pop(port, None)
        if host is not None:
            view = self.view
            obj = view.fixed_index[host.name]
            fx.flow(*flows.delete_fixed_host(view.dpid, obj, port, str(host.address), host.mac, view.router_mac))
        return fx

    def neighbour_solicitation(self, nd: ndp.NdMessage, port: int) -> Effects:
        fx = Effects()
        view = self.view
        if nd.target != view.router_ll:
            return fx
        frame = ndp.neighbour_advertisement(
            view.router_mac, view.router_ll, nd.eth_src, nd.ipv6_src, solicited=nd.ipv6_src != "::"
        )
        fx.flow(PacketOut(view.dpid, port, frame))
        return fx

    def punt(self, punt: Punt, port: int, table: int | None, now: float) -> Effects:
        """An IPv6 packet punted by a rule of this node (not ND, not a Hop-by-Hop query)."""
        self.stats.count("punt_ignored")
        return Effects()

    def hbh_query(self, punt: Punt, now: float) -> Effects:
        """§4.4.2: a Hop-by-Hop PBQR reached this switch: answer it if the queried address is this
        node's to answer for, else send it on along the normal routes."""
        fx = Effects()
        try:
            secret = self.view.key
            msg = hbh.parse(punt.data, (lambda src, _dst: pair_key(secret, src, HBH_PEER)) if secret else None)
            address = ipaddress.IPv6Address(msg.address)
        except AuthenticationError as exc:
            self.stats.count("hbh_unauthenticated")
            LOG.error("%s: unauthenticated Hop-by-Hop query dropped: %s", self.name, exc)
            return fx
        except (hbh.HbhError, ValueError) as exc:
            self.stats.count("packet_in_rejected")
            LOG.warning("%s: ignored Hop-by-Hop packet: %s", self.name, exc)
            return fx
        answered = self.answer_hbh(msg, address, now)
        if answered is not None:
            self.stats.count("hbh_query_intercepted")
            return answered
        self.stats.count("hbh_query_forwarded")
        fx.flow(PacketOut(self.view.dpid, OFPP_TABLE, punt.data, in_port=OFPP_CONTROLLER))
        return fx

    def answer_hbh(self, msg: PBQR, address: ipaddress.IPv6Address, now: float) -> Effects | None:
        return None

    def tick(self, now: float) -> Effects:
        return Effects()

    def to_json(self) -> dict[str, object]:
        return {}

    def drf_json(self) -> dict[str, object] | None:
        return None

    # ------------------------------------------------------------ persistence (controller/store.py)

    def changes(self, epoch: float) -> list[Change]:
        """The store records that changed since the last call: (kind, key, value or None),
        key ``"<node> <id>"``, times on the wall clock (``now + epoch``).  Only what was marked
        changed is dumped: the cost follows the event, not the size of the state."""
        out = self._part_changes(epoch)
        for prefix in self.cids.changed:
            out.append(("cid", f"{self.name} {prefix}", self.cids.get(prefix)))
        self.cids.changed.clear()
        if out:  # the sequence number moves with every request, so it goes with any change
            out.append(("seq", self.name, self.seq.last))
        return out

    def _part_changes(self, epoch: float) -> list[Change]:
        return []

    def mark_sets(self) -> list[set[Any]]:
        """The sets this node's parts mark changed records in (made in the parts' __init__ and never
        replaced: the core gathers them once, to clear them after every event when no store
        takes the changes)."""
        marks: list[set[Any]] = [self.cids.changed]
        for part in self._tracked():
            for attr in ("changed", "changed_locations", "changed_endpoints"):
                found = getattr(part, attr, None)
                if found is not None:
                    marks.append(found)
        return marks

    def _tracked(self) -> list[object]:
        return []

    def snapshot(self, epoch: float) -> list[Change]:
        """Every record this node holds (O(its state): for a store attached to a running
        controller and for tests; events use ``changes``)."""
        self.cids.mark_all()
        self._mark_all()
        return [c for c in self.changes(epoch) if c[2] is not None] or [("seq", self.name, self.seq.last)]

    def _mark_all(self) -> None:
        pass

    def restore(self, kind: str, ident: str, rec: Any, epoch: float) -> bool:
        """Take one stored record back after a restart; False if it is not this node's kind."""
        if kind == "seq":
            self.seq.resume(int(rec))
        elif kind == "cid":
            self.cids.restore(ipaddress.IPv6Network(ident), int(rec))
        else:
            return False
        return True

    def _key(self, ident: str) -> str:
        return f"{self.name} {ident}"


class EmagNode(Node):
    """An (e)MAG: MAG registration, and for an eMAG the DAF (DRF + DMF)."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.mag = Mag(view, self.stats, self.seq, self.cids)
        self.drf: Drf | None = None
        self.dmf: Dmf | None = None
        if view.me.role == "emag":
            self.drf = Drf(view, self.mag, self.stats, self.seq, self.cids)
            self.dmf = Dmf(view, self.drf, self.mag, self.mag, self.stats, self.seq)
            self.mag.hooks = self.dmf

    @property
    def attachments(self) -> dict[str, Attachment]:
        return self.mag.attachments

    def handle(self, msg: Message, now: float) -> Effects:
        if type(msg) is PBQA and self.drf is not None:  # the commonest: first (a route set-up)
            return self.drf.on_pbqa(msg, now)
        fx = self.mag.handle(msg, now)
        if fx is not None:
            return fx
        if self.drf is not None and self.dmf is not None:
            daf = daf_handle(self.drf, self.dmf, msg, now)
            if daf is not None:
                return daf
        return self.reject(msg, "an (e)MAG accepts PBA, LRI, HI, HACK (and an eMAG PBQA, PBCI, PBCA)")

    def resync(self, now: float) -> Effects:
        fx = super().resync(now).merge(self.mag.resync())
        if self.drf is not None and self.dmf is not None:
            fx.merge(self.drf.resync(now)).merge(self.dmf.resync())
        return fx

    def mobile_node_up(self, mn: MobileNode, port: int, now: float, rs_from: str | None = None) -> Effects:
        return self.mag.host_seen(mn, port, now, rs_from=rs_from)

    def port_down(self, port: int, now: float) -> Effects:
        return super().port_down(port, now).merge(self.mag.detach(port, now))

    def punt(self, punt: Punt, port: int, table: int | None, now: float) -> Effects:
        if punt.src is None or punt.dst is None:
            return super().punt(punt, port, table, now)
        if table == Table.UPLINK:
            att = self.mag.mn_on_port(port)
            if att is None or self.drf is None or not _holds(att.hnps, punt.src):
                self.stats.count("uplink_punt_ignored")
                return Effects()
            return self.drf.uplink_miss(att, punt.dst, now)
        if table == Table.ROUTE:  # a downlink packet for an MN whose delivery goes to the controller
            return self.mag.buffer.packet(punt.dst, punt.data, now)
        if table == Table.CLASSIFY:
            return self._early_uplink(punt, port, now)
        return super().punt(punt, port, table, now)

    def _early_uplink(self, punt: Punt, port: int, now: float) -> Effects:
        """IPv6 from an access port that matched no flow: a host on its new link, before its
        registration installed its flows.  Kept (global unicast only) and re-injected later."""
        src, dst = punt.src, punt.dst
        att = self.mag.mn_on_port(port)
        bound = att is not None and att.state == "bound"
        if src is None or dst is None or src.is_link_local or src.is_unspecified or dst.is_multicast or bound:
            self.stats.count("access_miss_ignored")
            return Effects()
        self.mag.buffer.early_uplink(port, punt.data, now)
        return Effects()

    def tick(self, now: float) -> Effects:
        fx = Effects()
        if self.drf is not None and self.dmf is not None:
            fx.merge(self.drf.tick(now)).merge(self.dmf.tick(now))
        return fx.merge(self.mag.tick(now))

    def to_json(self) -> dict[str, object]:
        return {"attached": [a.to_json() for a in self.mag.attachments.values()]}

    def drf_json(self) -> dict[str, object] | None:
        if self.drf is None or self.dmf is None:
            return None
        return {**self.drf.to_json(), **self.dmf.to_json()}

    def _tracked(self) -> list[object]:
        return [self.mag, self.drf, self.dmf]

    def _mark_all(self) -> None:
        self.mag.mark_all()
        if self.drf is not None and self.dmf is not None:
            self.drf.mark_all()
            self.dmf.mark_all()

    def _part_changes(self, epoch: float) -> list[Change]:
        out: list[Change] = [("mag", self._key(k), self.mag.dump(k, epoch)) for k in self.mag.changed]
        self.mag.changed.clear()
        if self.drf is not None and self.dmf is not None:
            out += daf_changes(self, self.drf, self.dmf, epoch)
        return out

    def restore(self, kind: str, ident: str, rec: Any, epoch: float) -> bool:
        if kind == "mag":
            self.mag.load(ident, rec, epoch)
            return True
        if self.drf is not None and self.dmf is not None and daf_restore(self.drf, self.dmf, kind, ident, rec, epoch):
            return True
        return super().restore(kind, ident, rec, epoch)


class LmaNode(Node):
    """An (e)LMA: LMA registration, and for an eLMA the LMF."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.cache = BindingCache()
        self.lmf: Lmf | None = Lmf(view, self.cache, self.stats, self.seq) if view.me.role == "elma" else None
        self.lma = Lma(view, self.stats, self.cache, self.lmf.holders_of if self.lmf is not None else None)

    @property
    def lr(self) -> LrLma | None:
        return self.lma.lr

    def hnp_for(self, mn: MobileNode) -> ipaddress.IPv6Network:
        return self.lma.hnp_for(mn)

    def handle(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, PBU):
            return self.lma.on_pbu(msg, now)
        if self.lmf is not None and isinstance(msg, PBQR):
            return self.lmf.on_pbqr(msg, now)
        if self.lmf is not None and isinstance(msg, PBQA) and self.lmf.is_relayed_answer(msg):
            return self.lmf.on_relayed_pbqa(msg, now)
        if isinstance(msg, LRA) and self.lma.lr is not None:
            return self.lma.lr.on_lra(msg, now)
        if self.lmf is not None and isinstance(msg, PBCA):
            return self.lmf.on_pbca(msg)
        return self.reject(msg, "an (e)LMA accepts PBU (and an eLMA PBQR)")

    def answer_hbh(self, msg: PBQR, address: ipaddress.IPv6Address, now: float) -> Effects | None:
        if self.lmf is not None and self.lmf.manages(address):
            return self.lmf.on_pbqr(msg, now)
        return None

    def resync(self, now: float) -> Effects:
        return super().resync(now).merge(self.lma.resync())

    def punt(self, punt: Punt, port: int, table: int | None, now: float) -> Effects:
        """RFC 6705 mode: a packet the LMA tunnelled to one of its MNs; who is talking to whom?"""
        if table == Table.ROUTE and self.lma.lr is not None and punt.src is not None and punt.dst is not None:
            return self.lma.lr.on_punt(punt.src, punt.dst, now)
        self.stats.count("route_punt_ignored")
        return Effects()

    def tick(self, now: float) -> Effects:
        fx = self.lma.tick(now)
        gone, self.lma.gone = self.lma.gone, []
        if self.lmf is not None:
            for bce in gone:
                fx.merge(self.lmf.binding_gone(bce, now))
            fx.merge(self.lmf.tick(now))
        return fx

    def to_json(self) -> dict[str, object]:
        return {"bindings": len(self.cache)}

    def _tracked(self) -> list[object]:
        return [self.lma, self.lmf]

    def _mark_all(self) -> None:
        self.lma.mark_all()
        if self.lmf is not None:
            self.lmf.mark_all()

    def _part_changes(self, epoch: float) -> list[Change]:
        out: list[Change] = [("lma", self._key(k), self.lma.dump(k, epoch)) for k in self.lma.changed]
        self.lma.changed.clear()
        if self.lmf is not None:
            out += [("lmf", self._key(k), self.lmf.dump(k, epoch)) for k in self.lmf.changed]
            self.lmf.changed.clear()
        return out

    def restore(self, kind: str, ident: str, rec: Any, epoch: float) -> bool:
        if kind == "lma":
            self.lma.load(ident, rec, epoch)
        elif kind == "lmf" and self.lmf is not None:
            self.lmf.load(ident, rec, epoch)
        else:
            return super().restore(kind, ident, rec, epoch)
        return True


class FixedHostsDafNode(Node):
    """A router with DRF and DMF whose DRF endpoints include fixed hosts on its ports: the §5.2
    access router and the §7 border gateway / anycast routers.  What they share: the hosts'
    ports, resync, and the DRF/DMF state kept in the store."""

    hosts: FixedHosts
    drf: Drf
    dmf: Dmf

    def fixed_node_up(self, host: FixedNode, port: int, now: float) -> Effects:
        return self.hosts.up(host, port)

    def port_down(self, port: int, now: float) -> Effects:
        fx = Effects()
        fh: FixedHost | None = self.hosts.down(port)
        if fh is not None:
            fx.merge(self.hosts.remove_flows(fh))
            self.drf.forget_endpoint(fh.key, fx)
        return fx

    def resync(self, now: float) -> Effects:
        return super().resync(now).merge(self.hosts.resync()).merge(self.drf.resync(now))

    def _tracked(self) -> list[object]:
        return [self.drf, self.dmf]

    def _mark_all(self) -> None:
        self.drf.mark_all()
        self.dmf.mark_all()

    def _part_changes(self, epoch: float) -> list[Change]:
        return daf_changes(self, self.drf, self.dmf, epoch)

    def restore(self, kind: str, ident: str, rec: Any, epoch: float) -> bool:
        return daf_restore(self.drf, self.dmf, kind, ident, rec, epoch) or super().restore(kind, ident, rec, epoch)


class ArNode(FixedHostsDafNode):
    """An access router with DRF and a co-located LMF for its fixed networks (§5.2)."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.hosts = FixedHosts(view)
        self.drf = Drf(view, self.hosts, self.stats, self.seq, self.cids)
        self.dmf = Dmf(view, self.drf, self.hosts, NoDepartures(), self.stats, self.seq)
        self.lmf = FixedLmf(view, self.stats)

    def handle(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, PBQR):
            return self.lmf.on_pbqr(msg, now)
        daf = daf_handle(self.drf, self.dmf, msg, now)
        if daf is not None:
            return daf
        return self.reject(msg, "an access router accepts PBQR, PBQA, PBCI and PBCA")

    def answer_hbh(self, msg: PBQR, address: ipaddress.IPv6Address, now: float) -> Effects | None:
        return self.lmf.on_pbqr(msg, now) if self.lmf.answers_for(address) else None

    def punt(self, punt: Punt, port: int, table: int | None, now: float) -> Effects:
        host = self.hosts.on_port(port)
        if table != Table.UPLINK or host is None or punt.src is None or punt.dst is None:
            self.stats.count("uplink_punt_ignored")
            return Effects()
        if not _holds(host.hnps, punt.src):
            self.stats.count("uplink_punt_ignored")
            return Effects()
        return self.drf.uplink_miss(host, punt.dst, now)

    def tick(self, now: float) -> Effects:
        return self.drf.tick(now).merge(self.dmf.tick(now))

    def drf_json(self) -> dict[str, object] | None:
        return {**self.drf.to_json(), **self.dmf.to_json()}


def daf_changes(node: Node, drf: Drf, dmf: Dmf, epoch: float) -> list[Change]:
    """The DRF's and DMF's changed records (an eMAG's and an access router's alike)."""
    out: list[Change] = [("drf.loc", f"{node.name} {p}", drf.dump_location(p, epoch)) for p in drf.changed_locations]
    out += [("drf.ep", f"{node.name} {k}", drf.dump_endpoint(k, epoch)) for k in drf.changed_endpoints]
    out += [("dmf", f"{node.name} {k}", dmf.dump(k, epoch)) for k in dmf.changed]
    drf.changed_locations.clear()
    drf.changed_endpoints.clear()
    dmf.changed.clear()
    return out


def daf_restore(drf: Drf, dmf: Dmf, kind: str, ident: str, rec: Any, epoch: float) -> bool:
    if kind == "drf.loc":
        drf.load_location(ipaddress.IPv6Network(ident), rec, epoch)
    elif kind == "drf.ep":
        drf.load_endpoint(ident, rec, epoch)
    elif kind == "dmf":
        dmf.load(ident, rec, epoch)
    else:
        return False
    return True


class ElmaDrfNode(LmaNode):
    """An eLMA(DRF) (§7.1, §7.2): LMA registration of legacy MAGs, and the DAF - DRF and DMF - for
    the MNs bound here; no LMF of its own: it reports locations to its preferred LMF (LUR/LUA)."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.updates = LocationUpdates(view, self.stats, self.seq)
        self.anchored = Anchored(view, self.stats, self.updates)
        self.drf = Drf(view, self.anchored, self.stats, self.seq, self.cids)
        self.dmf = Dmf(view, self.drf, self.anchored, self.anchored, self.stats, self.seq)
        self.anchored.hooks = self.dmf
        self.lma.hooks = self.anchored

    def handle(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, PBU):
            return self.lma.on_pbu(msg, now)
        if isinstance(msg, LUA):
            update = self.updates.answered(msg)
            if update is None:
                return Effects()
            return self.anchored.located(update, msg.previous_coa, msg.holders, now)
        daf = daf_handle(self.drf, self.dmf, msg, now)
        if daf is not None:
            return daf
        return self.reject(msg, "an eLMA(DRF) accepts PBU, LUA, PBQA, PBCI and PBCA")

    def answer_hbh(self, msg: PBQR, address: ipaddress.IPv6Address, now: float) -> Effects | None:
        return None

    def punt(self, punt: Punt, port: int, table: int | None, now: float) -> Effects:
        """§7.2: an MN's uplink out of the MAG's tunnel, with no DRF entry for its destination."""
        mn = self.anchored.for_source(punt.src) if table == Table.UPLINK and punt.src is not None else None
        if mn is None or punt.dst is None:
            self.stats.count("uplink_punt_ignored")
            return Effects()
        return self.drf.uplink_miss(mn, punt.dst, now)

    def resync(self, now: float) -> Effects:
        fx = super().resync(now).merge(self.anchored.resync())
        return fx.merge(self.drf.resync(now)).merge(self.dmf.resync())

    def tick(self, now: float) -> Effects:
        fx = super().tick(now)
        resend, lost = self.updates.tick(now)
        fx.merge(resend)
        for update in lost:  # no answer from the LMF: the DMF is told without a previous location
            fx.merge(self.anchored.located(update, "", [], now))
        return fx.merge(self.drf.tick(now)).merge(self.dmf.tick(now))

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), **self.anchored.to_json()}

    def drf_json(self) -> dict[str, object] | None:
        return {**self.drf.to_json(), **self.dmf.to_json()}

    # its DRF and DMF are stored like an eMAG's (the location updates and anchors are not: the
    # next binding refresh sends them again)
    def _tracked(self) -> list[object]:
        return [*super()._tracked(), self.drf, self.dmf]

    def _mark_all(self) -> None:
        super()._mark_all()
        self.drf.mark_all()
        self.dmf.mark_all()

    def _part_changes(self, epoch: float) -> list[Change]:
        return super()._part_changes(epoch) + daf_changes(self, self.drf, self.dmf, epoch)

    def restore(self, kind: str, ident: str, rec: Any, epoch: float) -> bool:
        return daf_restore(self.drf, self.dmf, kind, ident, rec, epoch) or super().restore(kind, ident, rec, epoch)


class LmfNode(Node):
    """An independent LMF (§7.1, §7.4)."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.lmf = IndependentLmf(view, self.stats, self.seq)

    def handle(self, msg: Message, now: float) -> Effects:
        fx = self.lmf.handle(msg, now)
        return fx if fx is not None else self.reject(msg, "an LMF accepts LUR, PBQR and relayed LUA, PBQA")

    def tick(self, now: float) -> Effects:
        return self.lmf.tick(now)

    def to_json(self) -> dict[str, object]:
        return self.lmf.to_json()


class AreaRouterNode(FixedHostsDafNode):
    """The border gateway or an anycast router with DRF (§7.1, §7.3): traffic toward the ePMIP area
    meets its DRF entries; fixed hosts behind it (the border gateway's CNs outside the area) are
    DRF endpoints as behind a §5.2 access router."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.hosts = FixedHosts(view)
        self.endpoints = AreaEndpoints(self.hosts)
        self.drf = Drf(view, self.endpoints, self.stats, self.seq, self.cids)
        self.dmf = Dmf(view, self.drf, self.endpoints, NoDepartures(), self.stats, self.seq)
        self.held = HeldPackets(view, self.stats)

    def handle(self, msg: Message, now: float) -> Effects:
        daf = daf_handle(self.drf, self.dmf, msg, now)
        if daf is None:
            return self.reject(msg, "a router with DRF accepts PBQA, PBCI and PBCA")
        self.held.release(self.drf.sessions, daf)
        return daf

    def punt(self, punt: Punt, port: int, table: int | None, now: float) -> Effects:
        if table != Table.UPLINK or punt.src is None or punt.dst is None:
            self.stats.count("uplink_punt_ignored")
            return Effects()
        key = self.hosts.key_for_prefix(ipaddress.IPv6Network(f"{punt.src}/128"))
        host = self.hosts.endpoint(key) if key is not None else None
        if not self.view.in_area(punt.dst):  # a fixed host's packet leaving the area: headers only
            return self.drf.uplink_miss(host, punt.dst, now) if host is not None else Effects()
        ep = host if host is not None else self.endpoints.transit
        # sent on later from where it entered: the host's port, or any trunk (the trunk flow cleared
        # in_port, so the packet-in cannot say which; every trunk leads to UPLINK the same way)
        self.held.hold(ep.key, punt.dst, host.port if host is not None else self.view.trunk_port, punt.data, now)
        fx = self.drf.uplink_miss(ep, punt.dst, now)
        self.held.release(self.drf.sessions, fx)
        return fx

    def tick(self, now: float) -> Effects:
        fx = self.drf.tick(now).merge(self.dmf.tick(now))
        self.held.release(self.drf.sessions, fx)
        self.held.expire(now)
        return fx

    def drf_json(self) -> dict[str, object] | None:
        return {**self.drf.to_json(), **self.dmf.to_json(), "transit": TRANSIT_KEY}


def _holds(prefixes: list[ipaddress.IPv6Network], address: ipaddress.IPv6Address) -> bool:
    """``any(address in p for p in prefixes)`` without a generator (on every uplink punt)."""
    for p in prefixes:
        if address in p:
            return True
    return False


def daf_handle(drf: Drf, dmf: Dmf, msg: Message, now: float) -> Effects | None:
    """The DRF's and DMF's messages (an eMAG's and an access router's alike); None for others."""
    if isinstance(msg, PBQA):
        return drf.on_pbqa(msg, now)
    if isinstance(msg, PBCI):
        return dmf.on_pbci(msg, now)
    if isinstance(msg, PBCA):
        return dmf.on_pbca(msg, now)
    return None


def make_node(view: View) -> Node:
    role = view.me.role
    if role in ("emag", "mag"):
        return EmagNode(view)
    if role in ("elma", "lma"):
        return LmaNode(view)
    if role == "ar_drf":
        return ArNode(view)
    if role == "elma_drf":
        return ElmaDrfNode(view)
    if role == "lmf":
        return LmfNode(view)
    if role in ("bg_drf", "router_drf"):
        return AreaRouterNode(view)
    return Node(view)
