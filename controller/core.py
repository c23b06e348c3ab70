"""The epmip controller core: framework-free, driven by events and an injected ``now``.

The Ryu app (``apps/epmip_app.py``) calls ``switch_up``, ``port_added``, ``port_removed``,
``packet_in`` and ``tick`` and sends whatever intents they return.  Signalling between the MAG and
LMA functions goes through the dispatcher; every event drains it, so one call returns the whole
reaction (flows and packets) to that event.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import statistics
from collections import Counter, defaultdict, deque
from dataclasses import dataclass

from controller import hbh, ndp
from controller.ar import ArFunction
from controller.buffer import HandoffBuffers
from controller.config import Domain, FixedNode, MobileNode, Switch
from controller.dispatcher import Dispatcher
from controller.lma import LmaFunction
from controller.mag import BOUND, MagFunction
from controller.messages import AuthenticationError, Message
from controller.topology import Topology
from openflow_rules import flows
from openflow_rules.intents import OFPP_CONTROLLER, OFPP_TABLE, Barrier, Intent, PacketOut
from openflow_rules.pipeline import Table

LOG = logging.getLogger("epmip.core")


@dataclass(frozen=True)
class PortInfo:
    port_no: int
    hw_addr: str
    name: str = ""


class EpmipController:
    def __init__(self, domain: Domain, epoch: float = 0.0) -> None:
        self.domain = domain
        self.topo = Topology(domain)
        self.bus = Dispatcher(key=domain.signalling_key)
        self.counters: Counter[str] = Counter()
        self.latencies: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=1000))
        self.epoch = epoch  # added to `now` for PBU timestamps (wall-clock like)
        self.mn_index = {mn_id: i for i, mn_id in enumerate(domain.mobile_nodes)}
        self.fixed_index = {name: i for i, name in enumerate(domain.fixed_nodes)}
        self.lmas: dict[str, LmaFunction] = {}
        self.mags: dict[str, MagFunction] = {}
        self.ars: dict[str, ArFunction] = {}
        for sw in domain.switches.values():
            if sw.is_lma:
                self.lmas[sw.name] = LmaFunction(sw, self)
                self.bus.register(sw.name, self.lmas[sw.name].handle)
            elif sw.is_mag:
                self.mags[sw.name] = MagFunction(sw, self)
                self.bus.register(sw.name, self.mags[sw.name].handle)
            elif sw.role == "ar_drf":
                self.ars[sw.name] = ArFunction(sw, self)
                self.bus.register(sw.name, self.ars[sw.name].handle)
        self.connected: dict[int, dict[int, PortInfo]] = {}
        self.now = 0.0  # the time of the event being handled
        self.buffers = HandoffBuffers(self)
        self.handoff_started: dict[str, float] = {}  # mn_id -> attach time at its n-eMAG
        self._correspondent_ids: dict[ipaddress.IPv6Network, int] = {}
        self._out: list[Intent] = []

    # ------------------------------------------------------------ helpers for the functions

    def emit(self, intent: Intent) -> None:
        self._out.append(intent)

    def _flush(self) -> list[Intent]:
        self.bus.drain()
        out, self._out = self._out, []
        return [i for i in out if i.dpid in self.connected]

    def timestamp(self, now: float) -> float:
        return self.epoch + now

    def record_latency(self, what: str, seconds: float) -> None:
        self.latencies[what].append(seconds)

    def reject_message(self, node: str, msg: Message, why: str) -> None:
        self.counters["unexpected_message"] += 1
        LOG.error("%s dropped %s from %s: %s", node, msg.TYPE, msg.src, why)

    def profile_lma(self, mn: MobileNode) -> str | None:
        """The LMA an MN's profile binds it to (its HNP's owner, or a named LMA), if any."""
        if mn.hnp is not None:
            owner = self.domain.prefix_owner(mn.hnp.network_address)
            return owner.name if owner else None
        return mn.lma

    def find_lmf(self, address: ipaddress.IPv6Address) -> str | None:
        """§4.4.1: the LMF that knows ``address`` by the prefix configuration - the eLMA whose
        prefixes hold it, or for a fixed network the LMF co-located with its access router
        (§5.2); None when the owner is a legacy LMA or nobody (§5.1)."""
        owner = self.domain.prefix_owner(address)
        if owner is not None:
            return owner.name if owner.role == "elma" else None
        for net in self.domain.fixed_networks:
            if address in net.prefix and net.lmf and net.router in self.ars:
                return net.router
        return None

    def preferred_lmf(self, switch: Switch) -> str | None:
        """§4.4.3: the eLMA a DRF sends every query to (its own eLMA, else the first eLMA)."""
        if switch.lma is not None and self.domain.switches[switch.lma].role == "elma":
            return switch.lma
        return next((s.name for s in self.domain.switches.values() if s.role == "elma"), None)

    def send_hbh_query(self, switch: Switch, msg, now: float) -> None:
        """§4.4.2: the PBQR leaves ``switch`` as an IPv6 packet to the queried address with a
        Hop-by-Hop option, through the switch's own tables (normal routing)."""
        frame = hbh.build(msg, str(switch.address), self.domain.router_mac, self.domain.router_mac, self.bus.key)
        self.bus.record(msg, now)
        self.emit(PacketOut(switch.dpid, OFPP_TABLE, frame, in_port=OFPP_CONTROLLER))

    def correspondent_id(self, prefix: ipaddress.IPv6Network) -> int:
        """A small stable number for a correspondent prefix (part of DRF flow cookies)."""
        cid = self._correspondent_ids.get(prefix)
        if cid is None:
            cid = self._correspondent_ids[prefix] = len(self._correspondent_ids) + 1
        return cid

    def select_lma(self, mn: MobileNode, mag: Switch) -> str:
        """§4.1: the profile's LMA if it has one (a legacy LMA then disables DAF), else the MAG's
        configured LMA, else the first eLMA of the domain (an eLMA is preferred)."""
        bound = self.profile_lma(mn)
        if bound is not None:
            return bound
        if mag.lma is not None:
            return mag.lma
        elmas = [s.name for s in self.domain.switches.values() if s.role == "elma"]
        return elmas[0] if elmas else next(s.name for s in self.domain.switches.values() if s.is_lma)

    # ------------------------------------------------------------ OpenFlow events

    def switch_up(self, dpid: int, ports: list[PortInfo], now: float) -> list[Intent]:
        self.now = now
        sw = self.domain.by_dpid.get(dpid)
        if sw is None:
            self.counters["unknown_switch"] += 1
            LOG.error("switch with dpid %#x is not in the domain file %s; ignoring it", dpid, self.domain.source)
            return []
        self.connected[dpid] = {}
        self.counters["switch_up"] += 1
        self.emit(flows.delete_all_ours(dpid))
        for fm in self._base_flows(sw):
            self.emit(fm)
        if sw.name in self.lmas:
            self.lmas[sw.name].resync()
        if sw.name in self.mags:
            self.mags[sw.name].resync()
        if sw.name in self.ars:
            self.ars[sw.name].resync()
        for port in ports:
            self._port_up(sw, port, now)
        return self._flush()

    def switch_down(self, dpid: int, now: float) -> list[Intent]:
        self.now = now
        if self.connected.pop(dpid, None) is not None:
            self.counters["switch_down"] += 1
        return []

    def port_added(self, dpid: int, port: PortInfo, now: float) -> list[Intent]:
        self.now = now
        sw = self.domain.by_dpid.get(dpid)
        if sw is None or dpid not in self.connected:
            return []
        self._port_up(sw, port, now)
        return self._flush()

    def port_removed(self, dpid: int, port_no: int, now: float) -> list[Intent]:
        self.now = now
        sw = self.domain.by_dpid.get(dpid)
        if sw is None or dpid not in self.connected:
            return []
        info = self.connected[dpid].pop(port_no, None)
        if sw.name in self.mags:
            self.mags[sw.name].detach(port_no, now)
        if sw.name in self.ars:
            self.ars[sw.name].host_down(port_no, now)
            return self._flush()
        if info is not None:
            host = self.domain.host_for_port_mac(info.hw_addr)
            if isinstance(host, FixedNode):
                for fm in flows.delete_fixed_host(
                    dpid, self.fixed_index[host.name], port_no, str(host.address), host.mac,
                    self.domain.router_mac,
                ):  # fmt: skip
                    self.emit(fm)
        return self._flush()

    def packet_in(self, dpid: int, in_port: int, data: bytes, now: float, table: int | None = None) -> list[Intent]:
        self.now = now
        sw = self.domain.by_dpid.get(dpid)
        if sw is None or dpid not in self.connected:
            self.counters["packet_in_unknown_switch"] += 1
            return []
        if table == Table.UPLINK:
            return self._uplink_miss(sw, in_port, data, now)
        if table == Table.ROUTE and sw.name in self.mags:
            return self._buffered(sw, data, now)
        if table == Table.ROUTE:
            return self._lma_punt(sw, data, now)
        if table == Table.CLASSIFY and sw.name in self.mags and not _is_nd(data):
            return self._early_uplink(sw, in_port, data, now)
        if len(data) >= 54 and data[12:14] == b"\x86\xdd" and data[20] == hbh.NH_HBH:
            return self._hbh_query(sw, data, now)
        try:
            nd = ndp.parse(data)
        except ndp.PacketError as exc:
            self.counters["packet_in_rejected"] += 1
            LOG.warning("%s port %d: ignored packet: %s", sw.name, in_port, exc)
            return []
        self.counters[f"packet_in_{nd.kind}"] += 1
        d = self.domain
        if nd.kind == "ns":
            if nd.target != str(d.router_link_local):
                return []
            frame = ndp.neighbour_advertisement(
                d.router_mac, str(d.router_link_local), nd.eth_src, nd.ipv6_src, solicited=nd.ipv6_src != "::"
            )
            self.emit(PacketOut(dpid, in_port, frame))
            return self._flush()
        # Router Solicitation
        mn = d.mobile_node_by_mac(nd.eth_src)
        if mn is None or sw.name not in self.mags:
            self.counters["rs_ignored"] += 1
            LOG.debug("%s port %d: RS from %s ignored (not a known MN on an (e)MAG)", sw.name, in_port, nd.eth_src)
            return []
        self.mags[sw.name].host_seen(mn, in_port, now, rs_from=nd.ipv6_src)
        return self._flush()

    def tick(self, now: float) -> list[Intent]:
        self.now = now
        for lma in self.lmas.values():
            lma.tick(now)
        for mag in self.mags.values():
            mag.tick(now)
        for ar in self.ars.values():
            ar.daf.tick(now)
        self.buffers.tick(now)
        return self._flush()

    def receive_signalling(self, dst: str, data: bytes, now: float) -> list[Intent]:
        """Signalling bytes from outside this process (or a test): decoded, checked, dispatched."""
        self.now = now
        self.bus.receive_bytes(dst, data, now)
        return self._flush()

    # ------------------------------------------------------------ internals

    def _buffered(self, sw: Switch, data: bytes, now: float) -> list[Intent]:
        """A downlink packet for an MN whose delivery was switched to the controller."""
        addresses = _ipv6_addresses(data)
        if addresses is None:
            self.counters["route_punt_ignored"] += 1
            return []
        dst = addresses[1]
        mn_id = next((m for m, b in self.buffers.buffers.items() if self._mn_has(m, dst)), None)
        if mn_id is None:
            self.counters["buffer_packet_without_buffer"] += 1
            return []
        self.buffers.packet(mn_id, bytes(data), now)
        return self._flush()

    def _mn_has(self, mn_id: str, address: ipaddress.IPv6Address) -> bool:
        for lma in self.lmas.values():
            bce = lma.cache.get(mn_id)
            if bce is not None:
                return any(address in h for h in bce.hnps)
        return False

    def _early_uplink(self, sw: Switch, in_port: int, data: bytes, now: float) -> list[Intent]:
        """IPv6 from an access port that matched no flow: a host on its new link, before its
        registration installed its flows.  Kept (global unicast only) and re-injected later."""
        addresses = _ipv6_addresses(data)
        if addresses is None or in_port in self.domain.trunk_ports(sw.name):
            self.counters["access_miss_ignored"] += 1
            return []
        src, dst = addresses
        att = self.mags[sw.name].mn_on_port(in_port)
        if src.is_link_local or src.is_unspecified or dst.is_multicast or (att is not None and att.state == BOUND):
            self.counters["access_miss_ignored"] += 1
            return []
        self.buffers.early_uplink(sw.dpid, in_port, bytes(data), now)
        return []

    def link_going_down(self, mn_id: str, now: float) -> tuple[dict, list[Intent]]:
        """Predictive handoff hint: the MN's link is about to break; buffer its downlink now.
        Raises LookupError (unknown or unattached MN) or ValueError (buffering not enabled)."""
        self.now = now
        if self.domain.handoff_buffer != "predictive":
            raise ValueError(f"handoff_buffer is {self.domain.handoff_buffer!r}; hints need 'predictive'")
        where = self.attachment_of(mn_id)
        if where is None:
            raise LookupError(f"mobile node {mn_id!r} is not attached anywhere")
        mag = self.mags[where[0]]
        self.buffers.start(mag, mag.attachments[mn_id], "predictive", now)
        self.emit(Barrier(mag.dpid))
        return {"mn_id": mn_id, "mag": mag.name, "buffering": True}, self._flush()

    def _lma_punt(self, sw: Switch, data: bytes, now: float) -> list[Intent]:
        """RFC 6705 mode: a packet the LMA tunnelled to one of its MNs; who is talking to whom?"""
        lma = self.lmas.get(sw.name)
        addresses = _ipv6_addresses(data)
        if lma is None or lma.lr is None or addresses is None:
            self.counters["route_punt_ignored"] += 1
            return []
        lma.lr.on_punt(*addresses, now)
        return self._flush()

    def _hbh_query(self, sw: Switch, data: bytes, now: float) -> list[Intent]:
        """§4.4.2: a Hop-by-Hop PBQR reached an eLMA or access router: answer it if the queried
        address is this node's to answer for, else send it on along the normal routes."""
        try:
            msg = hbh.parse(data, self.bus.key)
            address = ipaddress.IPv6Address(msg.address)
        except AuthenticationError as exc:
            self.bus.errors["unauthenticated"] += 1
            LOG.error("%s: unauthenticated Hop-by-Hop query dropped: %s", sw.name, exc)
            return []
        except (hbh.HbhError, ValueError) as exc:
            self.counters["packet_in_rejected"] += 1
            LOG.warning("%s: ignored Hop-by-Hop packet: %s", sw.name, exc)
            return []
        lma = self.lmas.get(sw.name)
        ar = self.ars.get(sw.name)
        if lma is not None and lma.has_lmf and any(address in p for p in sw.prefixes):
            self.counters["hbh_query_intercepted"] += 1
            lma.on_pbqr(msg, now)
        elif ar is not None and ar.answers_for(address):
            self.counters["hbh_query_intercepted"] += 1
            ar.on_pbqr(msg, now)
        else:
            self.counters["hbh_query_forwarded"] += 1
            self.emit(PacketOut(sw.dpid, OFPP_TABLE, bytes(data), in_port=OFPP_CONTROLLER))
        return self._flush()

    def _uplink_miss(self, sw: Switch, in_port: int, data: bytes, now: float) -> list[Intent]:
        """A DAF-enabled MN's (or, on an access router, a fixed host's) packet matched no DRF
        entry: its copy was punted, the packet itself went on via the LMA (or plain routing)."""
        mag = self.mags.get(sw.name) or self.ars.get(sw.name)
        att = mag.mn_on_port(in_port) if mag is not None else None
        addresses = _ipv6_addresses(data)
        if att is None or mag.daf is None or addresses is None or not any(addresses[0] in h for h in att.hnps):
            self.counters["uplink_punt_ignored"] += 1
            return []
        mag.daf.uplink_miss(att, addresses[1], now)
        return self._flush()

    def _port_up(self, sw: Switch, port: PortInfo, now: float) -> None:
        self.connected[sw.dpid][port.port_no] = port
        if port.port_no in self.domain.trunk_ports(sw.name):
            return
        host = self.domain.host_for_port_mac(port.hw_addr)
        if host is None:
            return
        if isinstance(host, FixedNode):
            if sw.name != host.attach:
                LOG.error("fixed node %s appeared on %s, expected on %s", host.name, sw.name, host.attach)
                return
            if sw.name in self.ars:
                self.ars[sw.name].host_up(host, port.port_no, now)
                return
            for fm in flows.install_fixed_host(
                sw.dpid, self.fixed_index[host.name], port.port_no, str(host.address), host.mac,
                self.domain.router_mac,
            ):  # fmt: skip
                self.emit(fm)
            return
        if sw.name not in self.mags:
            self.counters["mn_on_non_mag"] += 1
            LOG.error("mobile node %s appeared on %s, which is not an (e)MAG", host.id, sw.name)
            return
        self.mags[sw.name].host_seen(host, port.port_no, now)

    def _base_flows(self, sw: Switch) -> list:
        d = self.domain
        out = list(flows.install_punts(sw.dpid, str(d.router_link_local)))
        out.append(flows.install_from_controller(sw.dpid))
        if sw.is_mag and d.handoff_buffer != "off":
            out.append(flows.install_access_miss(sw.dpid))
        if sw.role in ("elma", "ar_drf"):
            out.append(flows.install_mh_punt(sw.dpid))
        out.append(flows.install_mpls_classify(sw.dpid))
        for port in d.trunk_ports(sw.name):
            out.append(flows.install_trunk(sw.dpid, port))
        out.append(flows.install_local_label(sw.dpid, sw.label))
        for other in d.switches.values():
            if other.name != sw.name:
                out.append(flows.install_transit(sw.dpid, other.label, self.topo.port_toward(sw.name, other.name)))
        routes = [(p, o.name) for o in d.switches.values() for p in o.prefixes]
        routes += [(n.prefix, n.router) for n in d.fixed_networks]
        for prefix, owner in routes:
            if owner != sw.name:
                out.append(flows.install_prefix_route(sw.dpid, prefix, self.topo.port_toward(sw.name, owner)))
        return out

    # ------------------------------------------------------------ queries (REST, demo, tests)

    def bindings(self) -> list[dict]:
        return [bce.to_json(lma.name) for lma in self.lmas.values() for bce in lma.cache]

    def binding(self, mn_id: str) -> dict | None:
        for lma in self.lmas.values():
            bce = lma.cache.get(mn_id)
            if bce is not None:
                return bce.to_json(lma.name)
        return None

    def locate(self, address: ipaddress.IPv6Address) -> dict:
        """The LMF's answer for an address: which (e)LMA manages it and, if bound, the CoA."""
        owner = self.domain.prefix_owner(address)
        fixed = next((n for n in self.domain.fixed_networks if address in n.prefix), None)
        answer: dict = {
            "address": str(address),
            "lma": owner.name if owner else None,
            "lmf": bool(owner and owner.role == "elma"),
            "mn_id": None,
            "coa": None,
            "coa_switch": None,
            "hnp": None,
            "fixed_network": str(fixed.prefix) if fixed else None,
        }
        if owner is not None:
            bce = self.lmas[owner.name].locate(address)
            if bce is not None:
                sw = self.domain.switch_by_address(bce.coa)
                answer.update(
                    mn_id=bce.mn_id,
                    coa=str(bce.coa),
                    coa_switch=sw.name if sw else None,
                    hnp=str(bce.hnps[0]),
                )
        elif fixed is not None:
            router = self.domain.switches[fixed.router]
            answer.update(coa=str(router.address), coa_switch=router.name)
        return answer

    def switches(self) -> list[dict]:
        out = []
        for sw in self.domain.switches.values():
            entry = {
                "name": sw.name,
                "dpid": sw.dpid,
                "role": sw.role,
                "address": str(sw.address),
                "label": sw.label,
                "connected": sw.dpid in self.connected,
                "prefixes": [str(p) for p in sw.prefixes],
            }
            if sw.name in self.mags:
                entry["attached"] = [a.to_json() for a in self.mags[sw.name].attachments.values()]
            if sw.name in self.lmas:
                entry["bindings"] = len(self.lmas[sw.name].cache)
            out.append(entry)
        return out

    def add_prefix(self, lma: str, prefix: str, now: float) -> tuple[dict, list[Intent]]:
        """§4.4.1 at run time: an (e)LMA starts managing another prefix.  Every switch gets the
        route toward it and every DRF maps it to that LMA from now on (they all read the same
        prefix table).  Raises LookupError (no such LMA) or ValueError (bad or overlapping)."""
        self.now = now
        sw = self.domain.switches.get(lma)
        if sw is None or not sw.is_lma:
            raise LookupError(f"{lma!r} is not an elma or lma of this domain")
        try:
            net = ipaddress.IPv6Network(prefix, strict=True)
        except ValueError:
            raise ValueError(f"prefix {prefix!r} is not an IPv6 prefix without host bits") from None
        if net.prefixlen > 64:
            raise ValueError(f"prefix {prefix!r} is longer than /64")
        owned = [(p, o.name) for o in self.domain.switches.values() for p in o.prefixes]
        owned += [(n.prefix, n.router) for n in self.domain.fixed_networks]
        for other, owner in owned:
            if net.overlaps(other):
                raise ValueError(f"prefix {net} overlaps {other} of {owner}")
        updated = dataclasses.replace(sw, prefixes=(*sw.prefixes, net))
        self.domain.switches[lma] = updated
        self.domain.by_dpid[updated.dpid] = updated
        self.lmas[lma].switch = updated
        for other in self.domain.switches.values():
            if other.name != lma:
                self.emit(flows.install_prefix_route(other.dpid, net, self.topo.port_toward(other.name, lma)))
        self.counters["prefix_added"] += 1
        LOG.info("%s now manages %s", lma, net)
        return {"lma": lma, "prefixes": [str(p) for p in updated.prefixes]}, self._flush()

    def drf(self, name: str) -> dict | None:
        node = self.mags.get(name) or self.ars.get(name)
        if node is None or node.daf is None:
            return None
        return node.daf.to_json()

    def stats(self) -> dict:
        lat = {}
        for what, values in self.latencies.items():
            vals = sorted(values)
            lat[what] = {
                "count": len(vals),
                "median_ms": statistics.median(vals) * 1000,
                "max_ms": vals[-1] * 1000,
                "last_ms": values[-1] * 1000,
            }
        return {
            "messages": dict(sorted(self.bus.sent.items())),
            "messages_total": sum(self.bus.sent.values()),
            "signalling_bytes": self.bus.bytes_sent,
            "signalling_errors": dict(self.bus.errors),
            "events": dict(sorted(self.counters.items())),
            "latency": lat,
        }

    def attachment_of(self, mn_id: str) -> tuple[str, int] | None:
        for mag in self.mags.values():
            att = mag.attachments.get(mn_id)
            if att is not None and att.state == BOUND:
                return mag.name, att.port
        return None

    def path(self, src_mn: str, dst: ipaddress.IPv6Address) -> list[str]:
        """The switches a packet from ``src_mn`` to ``dst`` crosses under the installed state
        (a DRF direct tunnel if there is one; else PMIP: reverse tunnel to the source's LMA,
        routing to the destination's anchor, tunnel to its MAG).  Used by the demo; tests check
        the real path with flow counters."""
        where = self.attachment_of(src_mn)
        if where is None:
            raise LookupError(f"{src_mn} is not attached")
        mag = self.mags[where[0]]
        att = mag.attachments[src_mn]
        if mag.daf is not None:
            prefix = ipaddress.IPv6Network((int(dst) >> 64 << 64, 64))
            loc = mag.daf.location.get(prefix)
            if mag.daf.sessions.get(src_mn, {}).get(prefix) == "direct" and loc is not None:
                return self.topo.path(mag.name, loc.switch)  # DRF direct tunnel (§4.2)
        hops = self.topo.path(mag.name, att.lma)
        owner = self.domain.prefix_owner(dst)
        fixed = next((n for n in self.domain.fixed_networks if dst in n.prefix), None)
        if owner is not None:
            if owner.name != att.lma:
                hops += self.topo.path(att.lma, owner.name)[1:]
            bce = self.lmas[owner.name].locate(dst)
            if bce is not None:
                coa_sw = self.domain.switch_by_address(bce.coa)
                hops += self.topo.path(owner.name, coa_sw.name)[1:]
        elif fixed is not None:
            hops += self.topo.path(att.lma, fixed.router)[1:]
        return hops


def _ipv6_addresses(data: bytes) -> tuple[ipaddress.IPv6Address, ipaddress.IPv6Address] | None:
    """(source, destination) of a punted Ethernet + IPv6 frame; None if it is not one."""
    if len(data) < 54 or data[12:14] != b"\x86\xdd":
        return None
    return ipaddress.IPv6Address(bytes(data[22:38])), ipaddress.IPv6Address(bytes(data[38:54]))


def _is_nd(data: bytes) -> bool:
    """An ICMPv6 RS or NS right after the IPv6 header (what the punt rules send up)."""
    return len(data) >= 55 and data[12:14] == b"\x86\xdd" and data[20] == 58 and data[54] in (133, 135)
