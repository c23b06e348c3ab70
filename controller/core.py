"""The composition root: one node per switch, the signalling bus between them, OpenFlow events in,
flow intents out.  Framework-free, driven by events and an injected ``now``.

The Ryu app (``apps/epmip_app.py``) calls ``switch_up``, ``port_added``, ``port_removed``,
``packet_in`` and ``tick`` and sends whatever intents they return.  Each event goes to the node of
its switch (``controller/nodes.py``), whose handler returns its ``Effects``; the root posts the
messages on the bus, which delivers them to their receivers and collects what those return, until
nothing is left - so one call returns the whole reaction (flows and packets) to that event.

This module is also the management plane: REST queries read the nodes' public state, and a
run-time configuration change (a prefix added to an (e)LMA) is pushed into every node's view.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import statistics
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller import frames, ndp
from controller.binding_cache import ACTIVE
from controller.config import Domain, FixedNode, MobileNode, Switch
from controller.dispatcher import Dispatcher
from controller.effects import LATENCY_SAMPLES, Effects, PortTable, Stats
from controller.nodes import ArNode, EmagNode, LmaNode, Node, make_node
from controller.policy import PolicyStore
from controller.store import Change, Store, StoreError
from controller.topology import Topology
from controller.view import Shared, View, prefix_of
from openflow_rules import flows
from openflow_rules.intents import Barrier, FlowMod, Intent
from openflow_rules.pipeline import GEN_BIT, Table

LOG = logging.getLogger("epmip.core")
ND_RATE = 5.0  # RS/NS per second and access port the controller answers
ND_BURST = 10
MARKS_KEPT = 256  # events between clearings of the change marks when no store takes them
PUNT_TABLES = (Table.UPLINK, Table.ROUTE)  # a packet-in from these is a data packet for the node's punt
MAX_RUNTIME_PREFIX = 32  # a prefix added at run time may be no wider than this (a /32 or longer)


@dataclass(frozen=True, slots=True)
class PortInfo:
    port_no: int
    hw_addr: str
    name: str = ""


# What the port table keeps for a port: the host whose access link it is (the domain's object) or,
# for any other port, its PortInfo.  A host's port is one per MN: a PortInfo and its MAC string
# there were ~120 B per MN (memory per MN, issue 13), a reference to the host is 8 B.
PortEntry = PortInfo | MobileNode | FixedNode


class EpmipController:
    def __init__(self, domain: Domain, epoch: float = 0.0, store: Store | None = None) -> None:
        self.domain = domain
        domain.index_hosts()  # not inside the first port event
        self.store = store  # where state survives a restart (controller/store.py); None: nowhere
        self._unsaved: dict[tuple[str, str], object] = {}  # changes a failed write still owes the store
        self._root_changes: list[Change] = []  # the root's own records (run-time prefixes)
        self._configured_prefixes = {sw.name: sw.prefixes for sw in domain.switches.values()}
        self.topo = Topology(domain)
        self.bus = Dispatcher(key=domain.signalling_key)
        self.stats_ = Stats()  # the root's own events (switches, punts it could not classify)
        self.latencies: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=LATENCY_SAMPLES))
        self.epoch = epoch  # added to `now` for timestamps (wall-clock like)
        shared = Shared(domain)
        self.mn_index = shared.mn_index  # cookie numbers (tests and the demo read them)
        self.nodes: dict[str, Node] = {}
        for sw in domain.switches.values():
            view = View(domain, self.topo, sw.name, shared)
            view.epoch = epoch
            node = make_node(view)
            self.nodes[sw.name] = node
            if type(node) is not Node:
                self.bus.register(sw.name, node.handle)
        self.policy = PolicyStore(
            shared.profiles, frozenset(n for n, x in self.nodes.items() if isinstance(x, LmaNode))
        )
        self.bus.register(self.policy.name, self.policy.handle)
        self.mags: dict[str, EmagNode] = {n: x for n, x in self.nodes.items() if isinstance(x, EmagNode)}
        self.lmas: dict[str, LmaNode] = {n: x for n, x in self.nodes.items() if isinstance(x, LmaNode)}
        self.ars: dict[str, ArNode] = {n: x for n, x in self.nodes.items() if isinstance(x, ArNode)}
        self.connected: dict[int, PortTable[PortEntry]] = {}  # by dpid, then port (one per MN: compact)
        self.generation: dict[int, int] = {}  # dpid -> cookie generation of its flows (make-before-break)
        self._nd_tokens: dict[tuple[int, int], tuple[float, float]] = {}  # (dpid, port) -> (tokens, when)
        self.now = 0.0  # the time of the event being handled
        # built once: the nodes and their parts are made here and never replaced
        self._stats: list[Stats] = [node.stats for node in self.nodes.values()] + [self.policy.stats]
        for stats in self._stats:  # latency samples go straight here, in the order they are taken
            stats.latencies = self.latencies
        self._marks: list[set[Any]] = [m for node in self.nodes.values() for m in node.mark_sets()]
        self._unmarked = 0  # events since the marks were last cleared (no store)

    # ------------------------------------------------------------ counters

    @property
    def counters(self) -> Counter[str]:
        """Every node's event counters and the root's, added up (a fresh Counter: read-only)."""
        total: Counter[str] = Counter(self.stats_.counters)
        for stats in self._stats:
            total.update(stats.counters)
        return total

    def find_lmf(self, address: ipaddress.IPv6Address) -> str | None:
        """§4.4.1 as the domain's configuration says today (REST and tests; a DRF asks its view)."""
        return View(self.domain, self.topo, next(iter(self.domain.switches))).find_lmf(address)

    def count(self, what: str, n: int = 1) -> None:
        self.stats_.count(what, n)

    # ------------------------------------------------------------ running effects

    def _run(self, fx: Effects, now: float) -> list[Intent]:
        """Send what ``fx`` says, deliver every message it causes; all flow intents, in order, for
        the switches that are connected."""
        intents = list(self.bus.post(fx, now))
        self.bus.release_due(now)
        _, more = self.bus.deliver()
        intents += more
        out = []
        generation, connected = self.generation, self.connected
        for intent in intents:
            dpid = intent.dpid
            gen = generation.get(dpid)
            if gen is None or dpid not in connected:
                continue
            # generation 0 is what every builder makes: such an add needs no call to stay as it is
            if isinstance(intent, FlowMod) and (gen or intent.cookie & GEN_BIT):
                intent = flows.in_generation(intent, gen)
            out.append(intent)
        self._persist()  # before the intents leave: what the switches get, the store has
        return out

    # ------------------------------------------------------------ persistence

    def _persist(self) -> None:
        """Write what this event changed, in one transaction: every node's changed records (each
        part marks the keys it touched, so the cost follows the event, not the state's size), the
        policy store's new anchors and the root's own (run-time prefixes).  A failed write is
        logged and counted, and its changes are written with the next event's."""
        if self.store is None:
            # nobody takes the marks: they are dropped every MARKS_KEPT events, not after each one
            # (36 sets in the reference domain: a look at each was 5% of a route set-up, issue 13)
            self._unmarked += 1
            if self._unmarked >= MARKS_KEPT:
                self._unmarked = 0
                self._root_changes.clear()
                self.policy.changed.clear()
                for found in self._marks:
                    if found:
                        found.clear()
            return
        changes = list(self._root_changes)
        self._root_changes.clear()
        for node in self.nodes.values():
            changes += node.changes(self.epoch)
        policy = self.policy
        changes += [("policy", mn_id, policy.anchors.get(mn_id)) for mn_id in policy.changed]
        policy.changed.clear()
        if not changes and not self._unsaved:
            return
        pending = self._unsaved
        for kind, key, value in changes:
            pending[(kind, key)] = value
        try:
            self.store.write((kind, key, value) for (kind, key), value in pending.items())
        except StoreError as exc:
            self.count("store_write_failed")
            LOG.error("state store write failed (%d records kept for the next write): %s", len(pending), exc)
            return
        self._unsaved = {}
        self.count("store_writes")

    def snapshot(self) -> list[Change]:
        """Every record of the controller's state, as the store would hold it (O(state): a store
        attached to a running controller, tests comparing a restored controller)."""
        out: list[Change] = []
        for sw in self.domain.switches.values():
            configured = self._configured_prefixes.get(sw.name, ())
            out += [("prefix", f"{sw.name} {p}", {}) for p in sw.prefixes if p not in configured]
            out += [("prefix", f"{sw.name} {p}", {"removed": True}) for p in configured if p not in sw.prefixes]
        for node in self.nodes.values():
            out += node.snapshot(self.epoch)
        out += [("policy", mn_id, lma) for mn_id, lma in self.policy.anchors.items()]
        self.policy.changed.clear()
        return out

    def restore(self, now: float) -> dict[str, int]:
        """Take the stored state back (a restart): run-time prefixes first (views and the domain
        as ``add_prefix`` leaves them), then every node's records and the policy store's anchors.
        Times come back from the wall clock through this instance's ``epoch``; timers resume at
        their stored times, so what fell due while the controller was down happens at the first
        tick.  No flow is sent: switches get the restored state when they connect (``_resync``).
        Returns how many records of each kind were taken."""
        self.now = now
        if self.store is None:
            return {}
        records = self.store.load_all()
        taken: Counter[str] = Counter()
        for key, rec in sorted(records.get("prefix", {}).items()):
            lma, _, text = key.partition(" ")
            try:
                net = self._check_runtime_prefix(lma, text)
            except (LookupError, ValueError) as exc:
                LOG.error("stored run-time prefix %r ignored: %s", key, exc)
                continue
            owned = net in self.domain.switches[lma].prefixes
            if isinstance(rec, dict) and rec.get("removed"):
                if owned and self.domain.switches[lma].prefixes[0] != net:
                    self._unapply_prefix(lma, net)
            elif not owned:
                self._apply_prefix(lma, net)
            taken["prefix"] += 1
        for mn_id, lma in records.get("policy", {}).items():
            self.policy.anchors[mn_id] = str(lma)
            taken["policy"] += 1
        for kind, recs in sorted(records.items()):
            if kind in ("prefix", "policy"):
                continue
            for key, rec in recs.items():
                name, _, ident = key.partition(" ")
                node = self.nodes.get(name)
                try:
                    ok = node is not None and node.restore(kind, ident, rec, self.epoch)
                except (AttributeError, KeyError, TypeError, ValueError) as exc:  # MessageError too
                    LOG.error("stored %s record %r ignored: %s", kind, key, exc)
                    ok = False
                if ok:
                    taken[kind] += 1
                else:
                    self.count("store_record_ignored")
        for node in self.nodes.values():  # restoring is not a change
            node.changes(self.epoch)
        self.count("store_restored", sum(taken.values()))
        LOG.info("restored from the state store: %s", dict(sorted(taken.items())) or "nothing")
        return dict(taken)

    def _node(self, dpid: int) -> Node | None:
        sw = self.domain.by_dpid.get(dpid)
        if sw is None or dpid not in self.connected:
            return None
        return self.nodes[sw.name]

    # ------------------------------------------------------------ OpenFlow events

    def switch_up(self, dpid: int, ports: list[PortInfo], now: float) -> list[Intent]:
        self.now = now
        sw = self.domain.by_dpid.get(dpid)
        if sw is None:
            self.count("unknown_switch")
            LOG.error("switch with dpid %#x is not in the domain file %s; ignoring it", dpid, self.domain.source)
            return []
        self.connected[dpid] = PortTable()
        self.count("switch_up")
        node = self.nodes[sw.name]
        fx = self._gone_while_away(node, ports, now)
        for port in ports:  # hosts first: a restored DRF entry of a fixed host needs its host
            fx.merge(self._port_up(node, port, now))
        desired: list[Intent] = [*self._base_flows(node.view), *node.resync(now).intents]
        out = self._resync(dpid, desired)
        return out + self._run(fx, now)

    def _gone_while_away(self, node: Node, ports: list[PortInfo], now: float) -> Effects:
        """MNs a (e)MAG holds (restored, or from before the switch went away) whose access port is
        not there any more, or now carries another host: they left while we could not see it."""
        fx = Effects()
        if not isinstance(node, EmagNode):
            return fx
        present = {p.port_no: p for p in ports}
        for att in list(node.mag.attachments.values()):
            port = present.get(att.port)
            owner = self.domain.host_for_port_mac(port.hw_addr) if port is not None else None
            if port is None or (owner is not None and getattr(owner, "id", None) != att.mn.id):
                LOG.info("%s: %s left port %d while the switch was away", node.name, att.mn.id, att.port)
                self.count("detached_while_away")
                fx.merge(node.port_down(att.port, now))
        return fx

    def _resync(self, dpid: int, desired: list[Intent]) -> list[Intent]:
        """Make before break: every flow the switch should have, in a new cookie generation (an
        ADD of an existing flow replaces it in place and keeps its counters), a barrier, then the
        flows of the other generation are deleted - whatever is left of them is stale.  On the
        first connection in this process the switch may hold an earlier instance's flows of
        either generation, so it is done twice."""
        first = dpid not in self.generation
        gen = 0 if first else 1 - self.generation[dpid]
        self.generation[dpid] = gen
        rounds = (1 - gen, gen) if first else (gen,)
        out: list[Intent] = []
        for g in rounds:
            out += [flows.in_generation(i, g) if isinstance(i, FlowMod) else i for i in desired]
            out += [Barrier(dpid), flows.delete_stale(dpid, g)]
        return out

    def switch_down(self, dpid: int, now: float) -> list[Intent]:
        self.now = now
        if self.connected.pop(dpid, None) is not None:
            self.count("switch_down")
        return []

    def port_added(self, dpid: int, port: PortInfo, now: float) -> list[Intent]:
        self.now = now
        node = self._node(dpid)
        if node is None:
            return []
        return self._run(self._port_up(node, port, now), now)

    def port_removed(self, dpid: int, port_no: int, now: float) -> list[Intent]:
        self.now = now
        node = self._node(dpid)
        if node is None:
            return []
        self.connected[dpid].pop(port_no, None)
        return self._run(node.port_down(port_no, now), now)

    def packet_in(self, dpid: int, in_port: int, data: bytes, now: float, table: int | None = None) -> list[Intent]:
        self.now = now
        node = self._node(dpid)
        if node is None:
            self.count("packet_in_unknown_switch")
            return []
        punt = frames.classify(data)
        if table in PUNT_TABLES or (table == Table.CLASSIFY and isinstance(node, EmagNode) and not punt.is_nd):
            return self._run(node.punt(punt, in_port, table, now), now)
        if punt.kind == "hbh":
            return self._run(node.hbh_query(punt, now), now)
        try:
            nd = ndp.parse(punt.data)
        except ndp.PacketError as exc:
            self.count("packet_in_rejected")
            LOG.warning("%s port %d: ignored packet: %s", node.name, in_port, exc)
            return []
        self.count(f"packet_in_{nd.kind}")
        if not self._nd_budget(dpid, in_port, now):
            self.count(f"{nd.kind}_rate_limited")
            return []
        if nd.kind == "ns":
            return self._run(node.neighbour_solicitation(nd, in_port), now)
        mn = self.domain.mobile_node_by_mac(nd.eth_src)
        if mn is None or not isinstance(node, EmagNode):
            self.count("rs_ignored")
            LOG.debug("%s port %d: RS from %s ignored (not a known MN on an (e)MAG)", node.name, in_port, nd.eth_src)
            return []
        port = self.connected[dpid].get(in_port)
        owner = self._owner(port)
        if port is not None and (owner is None or getattr(owner, "id", None) != mn.id):
            # The MN's link-layer id on a port that is not its own: a spoofed RS (RFC 4861 gives a
            # router no way to tell) must not move, or register, the MN here.
            self.count("rs_port_mismatch")
            LOG.warning("%s port %d: RS claiming %s (%s) refused: the port is %s's", node.name, in_port, mn.id,
                        nd.eth_src, getattr(owner, "id", getattr(owner, "name", "no known host")))  # fmt: skip
            return []
        return self._run(node.mobile_node_up(mn, in_port, now, rs_from=nd.ipv6_src), now)

    def _nd_budget(self, dpid: int, port: int, now: float) -> bool:
        """A token bucket per access port for the RS/NS the controller answers (RFC 4861 asks
        hosts for at most 3 RS; NS for the router are rare): ``ND_RATE`` per second, bursts of
        ``ND_BURST``."""
        tokens, last = self._nd_tokens.get((dpid, port), (float(ND_BURST), now))
        tokens = min(float(ND_BURST), tokens + (now - last) * ND_RATE)
        if tokens < 1.0:
            self._nd_tokens[(dpid, port)] = (tokens, now)
            return False
        self._nd_tokens[(dpid, port)] = (tokens - 1.0, now)
        return True

    def tick(self, now: float) -> list[Intent]:
        self.now = now
        fx = Effects()
        for node in self.nodes.values():
            fx.merge(node.tick(now))
        return self._run(fx, now)

    def receive_signalling(self, dst: str, data: bytes, now: float) -> list[Intent]:
        """Signalling bytes from outside this process (or a test): decoded, checked, dispatched."""
        self.now = now
        self.bus.receive_bytes(dst, data, now)
        return self._run(Effects(), now)

    def _owner(self, port: PortEntry | None) -> MobileNode | FixedNode | None:
        """The host whose access link a port of the port table is, if any."""
        if port is None or not isinstance(port, PortInfo):
            return port
        return self.domain.host_for_port_mac(port.hw_addr)

    def _port_up(self, node: Node, port: PortInfo, now: float) -> Effects:
        table = self.connected[node.view.dpid]
        if port.port_no in self.domain.trunk_ports(node.name):
            table[port.port_no] = port
            return Effects()
        host = self.domain.host_for_port_mac(port.hw_addr)
        table[port.port_no] = port if host is None else host
        if host is None:
            return Effects()
        if isinstance(host, FixedNode):
            if node.name != host.attach:
                LOG.error("fixed node %s appeared on %s, expected on %s", host.name, node.name, host.attach)
                return Effects()
            return node.fixed_node_up(host, port.port_no, now)
        return node.mobile_node_up(host, port.port_no, now)

    def _base_flows(self, view: View) -> list[FlowMod]:
        """The 'routing system' of one switch: punts, trunk classification, label switching toward
        every tunnel endpoint, and a route toward every (e)LMA prefix and fixed network."""
        d = self.domain
        dpid = view.dpid
        out = list(flows.install_punts(dpid, view.router_ll))
        out.append(flows.install_from_controller(dpid))
        if view.me.is_mag and view.handoff_buffer != "off":
            out.append(flows.install_access_miss(dpid))
        if view.me.role in ("elma", "ar_drf"):
            out.append(flows.install_mh_punt(dpid))
        out.append(flows.install_mpls_classify(dpid))
        # §7: an eLMA(DRF)'s MNs' uplink out of the MAGs' tunnels, and traffic crossing a router with
        # DRF, meet their DRF entries in UPLINK first; a router holds what it cannot send yet
        role = view.me.role
        area_router = role in ("bg_drf", "router_drf")
        for port in d.trunk_ports(view.name):
            out.append(flows.install_trunk(dpid, port, goto=Table.UPLINK if area_router else Table.ROUTE))
        out.append(flows.install_local_label(dpid, view.me.label, Table.UPLINK if role == "elma_drf" else Table.ROUTE))
        if role in ("elma_drf", "bg_drf", "router_drf"):
            out.append(flows.install_uplink_miss(dpid))
        if area_router:
            out += [flows.install_area_punt(dpid, prefix) for prefix in view.area_prefixes]
        for peer in view.peers.values():
            if peer.name != view.name and peer.port is not None:
                out.append(flows.install_transit(dpid, peer.label, peer.port))
        routes = list(view.lma_prefixes) + [(n.prefix, n.router) for n in view.fixed_networks]
        if view.deployment == "lma_daf" and view.area_router is not None:
            # §7.1: the eLMAs announce nothing; the area goes to the nearest announcer (anycast, §7.3)
            routes = [(p, view.area_router) for p in view.area_prefixes]
            routes += [(n.prefix, n.router) for n in view.fixed_networks]
        for prefix, owner in routes:
            toward = view.peer(owner).port
            if owner != view.name and toward is not None:
                out.append(flows.install_prefix_route(dpid, prefix, toward))
        return out

    # ------------------------------------------------------------ management: REST, demo, tests

    def bindings(self) -> list[dict[str, object]]:
        return [bce.to_json(lma.name) for lma in self.lmas.values() for bce in lma.cache]

    def binding(self, mn_id: str) -> dict[str, object] | None:
        """The MN's binding; an active one first (§7: the eLMA it left may still hold a
        de-registered entry while the one it moved to holds the active one)."""
        found = [(lma.name, bce) for lma in self.lmas.values() if (bce := lma.cache.get(mn_id)) is not None]
        found.sort(key=lambda nb: nb[1].state != ACTIVE)
        return found[0][1].to_json(found[0][0]) if found else None

    def locate(self, address: ipaddress.IPv6Address) -> dict[str, object]:
        """The LMF's answer for an address: which (e)LMA manages it and, if bound, the CoA."""
        owner = self.domain.prefix_owner(address)
        fixed = next((n for n in self.domain.fixed_networks if address in n.prefix), None)
        answer: dict[str, object] = {
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
            bce = self.lmas[owner.name].cache.lookup(address)
            if bce is not None and bce.state == ACTIVE:
                sw = self.domain.switch_by_address(bce.coa)
                answer.update(mn_id=bce.mn_id, coa=str(bce.coa), coa_switch=sw.name if sw else None,
                              hnp=str(bce.hnps[0]))  # fmt: skip
        elif fixed is not None:
            router = self.domain.switches[fixed.router]
            answer.update(coa=str(router.address), coa_switch=router.name)
        return answer

    def switches(self) -> list[dict[str, object]]:
        out = []
        for sw in self.domain.switches.values():
            entry: dict[str, object] = {
                "name": sw.name,
                "dpid": sw.dpid,
                "role": sw.role,
                "address": str(sw.address),
                "label": sw.label,
                "connected": sw.dpid in self.connected,
                "prefixes": [str(p) for p in sw.prefixes],
            }
            entry.update(self.nodes[sw.name].to_json())
            out.append(entry)
        return out

    def _check_runtime_prefix(self, lma: str, prefix: str) -> ipaddress.IPv6Network:
        sw = self.domain.switches.get(lma)
        if sw is None or not sw.is_lma:
            raise LookupError(f"{lma!r} is not an elma or lma of this domain")
        if not isinstance(prefix, str) or "%" in prefix:
            raise ValueError(f"prefix {prefix!r} is not an IPv6 prefix without host bits")
        try:
            net = ipaddress.IPv6Network(prefix, strict=True)
        except ValueError:
            raise ValueError(f"prefix {prefix!r} is not an IPv6 prefix without host bits") from None
        if net.prefixlen > 64:
            raise ValueError(f"prefix {prefix!r} is longer than /64")
        if net.prefixlen < MAX_RUNTIME_PREFIX:
            raise ValueError(f"prefix {prefix!r} is wider than /{MAX_RUNTIME_PREFIX}")
        return net

    def add_prefix(self, lma: str, prefix: str, now: float) -> tuple[dict[str, object], list[Intent]]:
        """§4.4.1 at run time: an (e)LMA starts managing another prefix.  Every switch gets the
        route toward it and every node's view maps it to that LMA from now on (a configuration
        push).  Raises LookupError (no such LMA) or ValueError (bad, too wide or overlapping);
        nothing changes then."""
        self.now = now
        net = self._check_runtime_prefix(lma, prefix)
        owned = [(p, o.name) for o in self.domain.switches.values() for p in o.prefixes]
        owned += [(n.prefix, n.router) for n in self.domain.fixed_networks]
        for other, owner in owned:
            if net.overlaps(other):
                raise ValueError(f"prefix {net} overlaps {other} of {owner}")
        fx = self._prefix_routes(lma, net, flows.install_prefix_route)
        updated = self._apply_prefix(lma, net)
        configured = net in self._configured_prefixes.get(lma, ())  # back after a removal: nothing to keep
        self._root_changes.append(("prefix", f"{lma} {net}", None if configured else {}))
        self.count("prefix_added")
        LOG.info("%s now manages %s", lma, net)
        return {"lma": lma, "prefixes": [str(p) for p in updated.prefixes]}, self._run(fx, now)

    def _apply_prefix(self, lma: str, net: ipaddress.IPv6Network) -> Switch:
        """``lma`` manages ``net`` from now on: in the domain and in every node's view."""
        sw = self.domain.switches[lma]
        updated = dataclasses.replace(sw, prefixes=(*sw.prefixes, net))
        self.domain.switches[lma] = updated
        self.domain.by_dpid[updated.dpid] = updated
        for node in self.nodes.values():
            node.view.add_prefix(net, lma)
        return updated

    def _unapply_prefix(self, lma: str, net: ipaddress.IPv6Network) -> Switch:
        sw = self.domain.switches[lma]
        updated = dataclasses.replace(sw, prefixes=tuple(p for p in sw.prefixes if p != net))
        self.domain.switches[lma] = updated
        self.domain.by_dpid[updated.dpid] = updated
        for node in self.nodes.values():
            node.view.remove_prefix(net)
        return updated

    def _prefix_routes(
        self, lma: str, net: ipaddress.IPv6Network, build: Callable[[int, ipaddress.IPv6Network, int], FlowMod]
    ) -> Effects:
        """``build`` (install or delete) the route toward ``lma`` for ``net`` on every other switch."""
        fx = Effects()
        for node in self.nodes.values():
            port = node.view.peer(lma).port
            if node.name != lma and port is not None:
                fx.flow(build(node.view.dpid, net, port))
        return fx

    def remove_prefix(self, lma: str, prefix: str, now: float) -> tuple[dict[str, object], list[Intent]]:
        """Undo ``add_prefix``: the routes toward the prefix are deleted on every switch.  Only a
        prefix that no bound MN's HNP lies in may go (LookupError/ValueError otherwise)."""
        self.now = now
        net = self._check_runtime_prefix(lma, prefix)
        sw = self.domain.switches[lma]
        if net not in sw.prefixes:
            raise LookupError(f"{lma} does not manage {net}")
        if sw.prefixes[0] == net:
            raise ValueError(f"{net} is {lma}'s first prefix (its HNP pool); it cannot be removed")
        in_use = [bce.mn_id for bce in self.lmas[lma].cache if any(h.subnet_of(net) for h in bce.hnps)]
        if in_use:
            raise ValueError(f"{net} holds the HNP of {', '.join(sorted(in_use))}")
        fx = self._prefix_routes(lma, net, flows.delete_prefix_route)
        updated = self._unapply_prefix(lma, net)
        # a prefix added at run time is forgotten; one from the domain file is remembered as removed
        configured = net in self._configured_prefixes.get(lma, ())
        self._root_changes.append(("prefix", f"{lma} {net}", {"removed": True} if configured else None))
        self.count("prefix_removed")
        return {"lma": lma, "prefixes": [str(p) for p in updated.prefixes]}, self._run(fx, now)

    def link_going_down(self, mn_id: str, now: float) -> tuple[dict[str, object], list[Intent]]:
        """Predictive handoff hint: the MN's link is about to break; buffer its downlink now.
        Raises LookupError (unknown or unattached MN) or ValueError (buffering not enabled)."""
        self.now = now
        if self.domain.handoff_buffer != "predictive":
            raise ValueError(f"handoff_buffer is {self.domain.handoff_buffer!r}; hints need 'predictive'")
        where = self.attachment_of(mn_id)
        if where is None:
            raise LookupError(f"mobile node {mn_id!r} is not attached anywhere")
        node = self.mags[where[0]]
        fx = node.mag.link_going_down(mn_id, now)
        return {"mn_id": mn_id, "mag": node.name, "buffering": True}, self._run(fx, now)

    def cancel_link_going_down(self, mn_id: str, now: float) -> tuple[dict[str, object], list[Intent]]:
        """Withdraw a predictive hint: the MN stays where it is and gets its downlink (with what was
        kept) on its port again.  Raises LookupError (unknown, unattached or not buffered MN)."""
        self.now = now
        where = self.attachment_of(mn_id)
        if where is None:
            raise LookupError(f"mobile node {mn_id!r} is not attached anywhere")
        node = self.mags[where[0]]
        fx = node.mag.cancel_link_going_down(mn_id)
        return {"mn_id": mn_id, "mag": node.name, "buffering": False}, self._run(fx, now)

    def drf(self, name: str) -> dict[str, object] | None:
        node = self.nodes.get(name)
        return node.drf_json() if node is not None else None

    def stats(self) -> dict[str, object]:
        lat = {}
        for what, values in self.latencies.items():
            if not values:
                continue
            vals = sorted(values)
            lat[what] = {
                "count": len(vals),
                "median_ms": statistics.median(vals) * 1000,
                "max_ms": vals[-1] * 1000,
                "last_ms": values[-1] * 1000,
            }
        counters = self.counters
        errors = Counter(self.bus.errors)
        if counters.get("hbh_unauthenticated"):
            errors["unauthenticated"] += counters["hbh_unauthenticated"]
        return {
            "messages": dict(sorted(self.bus.sent.items())),
            "messages_total": sum(self.bus.sent.values()),
            "signalling_bytes": self.bus.bytes_sent,
            "signalling_errors": dict(errors),
            "events": dict(sorted(counters.items())),
            "latency": lat,
        }

    def attachment_of(self, mn_id: str) -> tuple[str, int] | None:
        for node in self.mags.values():
            att = node.mag.bound(mn_id)
            if att is not None:
                return node.name, att.port
        return None

    def path(self, src_mn: str, dst: ipaddress.IPv6Address) -> list[str]:
        """The switches a packet from ``src_mn`` to ``dst`` crosses under the installed state
        (a DRF direct tunnel if there is one; else PMIP: reverse tunnel to the source's LMA,
        routing to the destination's anchor, tunnel to its MAG).  Used by the demo; tests check
        the real path with flow counters."""
        where = self.attachment_of(src_mn)
        if where is None:
            raise LookupError(f"{src_mn} is not attached")
        node = self.mags[where[0]]
        att = node.mag.attachments[src_mn]
        if node.drf is not None:
            prefix = prefix_of(dst)
            loc = node.drf.location.get(prefix)
            if node.drf.sessions.get(src_mn, {}).get(prefix) == "direct" and loc is not None:
                return self.topo.path(node.name, loc.switch)  # DRF direct tunnel (§4.2)
        hops = self.topo.path(node.name, att.lma)
        owner = self.domain.prefix_owner(dst)
        fixed = next((n for n in self.domain.fixed_networks if dst in n.prefix), None)
        if owner is not None:
            if owner.name != att.lma:
                hops += self.topo.path(att.lma, owner.name)[1:]
            bce = self.lmas[owner.name].cache.lookup(dst)
            if bce is not None and bce.state == ACTIVE:
                coa_sw = self.domain.switch_by_address(bce.coa)
                if coa_sw is not None:
                    hops += self.topo.path(owner.name, coa_sw.name)[1:]
        elif fixed is not None:
            hops += self.topo.path(att.lma, fixed.router)[1:]
        return hops
