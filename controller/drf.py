"""Distributed Routing Function (draft §4.2), part of every eMAG and of an access router (§5.2).

The first packet a local endpoint sends to a correspondent the DRF has no entry for is punted (it
still goes on via the LMA, or plain routing on an access router).  The DRF looks in its location
cache; on a miss it sends a PBQR - to the eLMA whose prefixes hold the address (§4.4.1), toward the
address itself as a Hop-by-Hop packet (§4.4.2), or to its preferred eLMA (§4.4.3) - and, on the
PBQA, installs a direct tunnel to the correspondent's DRF for that endpoint.  No location (legacy
LMA, unknown prefix, no answer): a fallback entry keeps PMIP routing for that pair without
punting again (§5.1), until ``timers.fallback_retry`` when the DRF may ask again.

The location cache is also written by the DMF of the same node (PBCI/PBCA, ``controller/dmf.py``)
through ``learn``/``repoint``/``drop_direct``.
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from controller import hbh
from controller.effects import Effects, Numbering, Sequence, Stats
from controller.interfaces import Endpoint, Endpoints
from controller.messages import HBH_PEER, PBQA, PBQR, Status, pair_key
from controller.view import View, prefix_of
from openflow_rules import flows, text
from openflow_rules.intents import OFPP_CONTROLLER, OFPP_TABLE, PacketOut

LOG = logging.getLogger("epmip.drf")

Net = ipaddress.IPv6Network
Addr = ipaddress.IPv6Address
HBH = "(hop-by-hop)"  # the "LMF" of a query sent toward the correspondent's address (§4.4.2)
DIRECT = "direct"
FALLBACK = "fallback"
NO_SESSIONS: Mapping[Net, str] = MappingProxyType({})  # an endpoint without entries
REFRESH_AT = 0.8  # a location in use is asked for again at this fraction of its lifetime


@dataclass(slots=True)  # one per MN: no __dict__ (memory per MN, issue 13)
class Location:
    coa: Addr
    switch: str
    source: str  # pbqa | pbca | pbci | local
    updated_at: float
    expires_at: float = math.inf  # a PBQA's lifetime; PBCI/PBCA: the binding lifetime; local: never

    @property
    def refresh_at(self) -> float:
        return self.updated_at + REFRESH_AT * (self.expires_at - self.updated_at)


class LocationCache:
    """The DRF's location cache, prefix -> Location, used as a dict (``get``, ``[]``, ``in``,
    ``pop``, ``items``, iteration).  A location of this DRF's own that never expires - what the DMF
    learns for every MN bound here (source "local") - is kept as its time alone, the float the
    MAG's attachment holds already, and made into a Location when asked for: one Location per MN
    was 72 B (memory per MN, issue 13).  What comes out is equal to what went in; only
    its identity is new on every lookup."""

    __slots__ = ("_entries", "_address", "_switch")

    def __init__(self, address: Addr, switch: str) -> None:
        self._entries: dict[Net, Location | float] = {}
        self._address = address
        self._switch = switch

    def _location(self, entry: Location | float) -> Location:
        if isinstance(entry, float):
            return Location(self._address, self._switch, "local", entry)
        return entry

    def get(self, prefix: Net) -> Location | None:
        entry = self._entries.get(prefix)
        return None if entry is None else self._location(entry)

    def __getitem__(self, prefix: Net) -> Location:
        return self._location(self._entries[prefix])

    def __setitem__(self, prefix: Net, loc: Location) -> None:
        local = (
            loc.source == "local" and loc.expires_at == math.inf and loc.switch == self._switch
            and (loc.coa is self._address or loc.coa == self._address) and type(loc.updated_at) is float
        )  # fmt: skip
        self._entries[prefix] = loc.updated_at if local else loc

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._entries

    def __iter__(self) -> Iterator[Net]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def pop(self, prefix: Net, default: Location | None = None) -> Location | None:
        entry = self._entries.pop(prefix, None)
        return default if entry is None else self._location(entry)

    def items(self) -> Iterator[tuple[Net, Location]]:
        for prefix, entry in self._entries.items():
            yield prefix, self._location(entry)


@dataclass(slots=True)
class Query:
    prefix: Net
    address: Addr
    lmf: str
    seq: int
    sent_at: float
    started_at: float
    retries: int = 0
    waiting: set[str] = field(default_factory=set)
    refresh: bool = False  # asked again before a location in use expires
    overtaken: bool = False  # a PBCI/PBCA or withdrawal told us of the prefix while it was out
    address_text: str = field(init=False, repr=False)  # as the PBQR carries it, and its PBQA must

    def __post_init__(self) -> None:
        self.address_text = text.address(self.address)


def _routable(address: Addr) -> bool:
    """Not multicast (ff00::/8), link-local (fe80::/10) or unspecified: ``ipaddress``'s three
    properties as int tests (each property is a network membership test; issue 13)."""
    ip = int(address)
    return ip != 0 and ip >> 120 != 0xFF and ip >> 118 != 0x3FA


def location_record(loc: Location, epoch: float) -> dict[str, Any]:
    """A location as a store record (times on the wall clock; no expiry: null)."""
    return {
        "coa": str(loc.coa), "switch": loc.switch, "source": loc.source, "updated_at": loc.updated_at + epoch,
        "expires_at": None if loc.expires_at == math.inf else loc.expires_at + epoch,
    }  # fmt: skip


def location_from_record(rec: dict[str, Any], epoch: float) -> Location:
    expires = rec.get("expires_at")
    return Location(
        ipaddress.IPv6Address(rec["coa"]),
        str(rec["switch"]),
        str(rec["source"]),
        float(rec["updated_at"]) - epoch,
        math.inf if expires is None else float(expires) - epoch,
    )


class Drf:
    def __init__(self, view: View, endpoints: Endpoints, stats: Stats, seq: Sequence, cids: Numbering) -> None:
        self.view = view
        self.endpoints = endpoints
        self.stats = stats
        self.seq = seq
        self.cids = cids
        self.location = LocationCache(view.address, view.name)
        self.sessions: dict[str, dict[Net, str]] = {}  # endpoint -> prefix -> direct | fallback
        self.queries: dict[Net, Query] = {}
        self._query_by_seq: dict[int, Query] = {}  # the same queries by sequence number (PBQA lookup)
        self.fallback_since: dict[tuple[str, Net], float] = {}
        self._direct_to: dict[Net, set[str]] = {}  # correspondent prefix -> endpoints with a direct entry
        self._fallback_to: dict[Net, set[str]] = {}  # correspondent prefix -> endpoints with a fallback entry
        self._expiry: list[tuple[float, Net]] = []  # (when to look at a location again, prefix)
        self.changed_locations: set[Net] = set()  # for the store: cached locations that changed
        self.changed_endpoints: set[str] = set()  # for the store: endpoints whose entries changed

    @property
    def name(self) -> str:
        return self.view.name

    # ------------------------------------------------------------ the miss

    def uplink_miss(self, ep: Endpoint, dst: Addr, now: float) -> Effects:
        """The endpoint sent a packet to ``dst`` and no DRF entry matched (§4.2)."""
        fx = Effects()
        if not ep.daf or not _routable(dst):
            return fx
        prefix = prefix_of(dst)
        key = ep.key
        if prefix in self.sessions.get(key, NO_SESSIONS):
            return fx  # the entry is being installed; this packet was already on its way
        self.stats.counters["drf_miss"] += 1
        loc = self.location.get(prefix)
        if loc is not None:
            self.stats.count("drf_cache_hit")
            self.direct(ep, prefix, loc, fx)
            return fx
        query = self.queries.get(prefix)
        if query is not None:
            query.waiting.add(key)
            return fx
        lmf = self._lmf_for(dst)
        if lmf is None:
            self.stats.count("drf_no_lmf")
            self.fallback(ep, prefix, now, fx)
            return fx
        query = Query(prefix, dst, lmf, self.seq.next(), now, now, waiting={key})
        self.queries[prefix] = query
        self._query_by_seq[query.seq] = query
        self._send_query(query, now, fx)
        return fx

    def _lmf_for(self, dst: Addr) -> str | None:
        method = self.view.lmf_discovery
        if method == "hbh":
            return HBH  # §4.4.2: sent toward the address itself
        if method == "relay":
            return self.view.preferred_lmf()  # §4.4.3: any eLMA will do
        return self.view.find_lmf(dst)  # §4.4.1: by the prefix configuration

    def _send_query(self, q: Query, now: float, fx: Effects) -> None:
        q.sent_at = now
        msg = PBQR(
            src=self.name, dst="" if q.lmf == HBH else q.lmf, seq=q.seq, address=q.address_text,
            requester=self.view.address_text,
        )  # fmt: skip
        if q.lmf == HBH:
            # §4.4.2: the PBQR leaves this switch as an IPv6 packet to the queried address with a
            # Hop-by-Hop option, through the switch's own tables (normal routing).
            view = self.view
            key = pair_key(view.key, self.name, HBH_PEER) if view.key is not None else None
            frame = hbh.build(msg, str(view.address), view.router_mac, view.router_mac, key)
            fx.carried.append(msg)
            fx.flow(PacketOut(view.dpid, OFPP_TABLE, frame, in_port=OFPP_CONTROLLER))
        else:
            fx.send(msg)

    def on_pbqa(self, msg: PBQA, now: float) -> Effects:
        fx = Effects()
        query = self._query_by_seq.get(msg.seq)
        if query is None or self.queries.get(query.prefix) is not query:
            return fx  # late answer to a query that timed out
        if msg.address != query.address_text or (query.lmf != HBH and msg.src != query.lmf):
            # an answer must match the question: its sequence number, address and LMF
            self.stats.count("rejected_unmatched_pbqa")
            LOG.warning("%s: PBQA from %s for %s does not answer query %d", self.name, msg.src, msg.address, msg.seq)
            return fx
        del self.queries[query.prefix]
        del self._query_by_seq[query.seq]
        self.stats.latency("location_query", now - query.started_at)
        lifetime = msg.lifetime if msg.lifetime > 0 else None
        loc = self.location_from(msg.coa, "pbqa", now, lifetime) if msg.status == Status.ACCEPTED else None
        if query.overtaken:
            # a move (PBCI/PBCA) or a withdrawal reached us while the question was out: the LMF
            # answered before it, so what the cache holds now is the newer word
            self.stats.count("drf_pbqa_overtaken")
            known = self.location.get(query.prefix)
            loc = known
            if query.refresh:
                return fx
        if query.refresh:
            if loc is None:  # the correspondent is gone: its entries go, the next packet asks again
                self.stats.count("drf_refresh_no_location")
                self.forget(query.prefix)
                self.drop_direct(query.prefix, fx)
            else:
                self.stats.count("drf_location_refreshed")
                self.learn(query.prefix, loc, fx)
            return fx
        if loc is None:
            self.stats.count("drf_no_location")
        elif not query.overtaken:  # else ``loc`` is what the cache holds already
            self.learn(query.prefix, loc, fx, repoint=False)
        for key in query.waiting:
            ep = self.endpoints.endpoint(key)
            if ep is None or not ep.daf:
                continue
            if loc is None:
                self.fallback(ep, query.prefix, now, fx)
            else:
                self.direct(ep, query.prefix, loc, fx, queued=not query.overtaken)
        return fx

    # ------------------------------------------------------------ entries

    def location_from(self, coa: str, source: str, now: float, lifetime: float | None = None) -> Location | None:
        """A location for a CoA from a message, if it names a DRF of this domain (only a DRF can
        terminate a direct tunnel); it lasts ``lifetime`` (default: the binding lifetime)."""
        peer = self.view.peer_at(coa)
        if peer is None or not peer.has_drf:
            return None
        if source == "local":
            return Location(peer.address, peer.name, source, now)
        return Location(peer.address, peer.name, source, now, now + (lifetime or self.view.timers.binding_lifetime))

    def direct(self, ep: Endpoint, prefix: Net, loc: Location, fx: Effects, queued: bool = False) -> None:
        """A direct entry from ``ep`` toward ``prefix`` at ``loc``; ``queued``: ``learn`` has just
        put the location's refresh on the timer heap."""
        label, port = self.view.tunnel_to(loc.switch)
        if label is not None and port is None:  # the configured view has no path to that DRF
            LOG.error("%s: no path to %s; %s stays on PMIP routing", self.name, loc.switch, prefix)
            self.fallback(ep, prefix, loc.updated_at, fx)
            return
        key = ep.key
        obj = self.endpoints.obj_of(key)
        cn_id = self.cids.of(prefix)
        dpid = self.view.dpid
        fx.intents.extend([flows.install_drf(dpid, obj, cn_id, hnp, prefix, label, port) for hnp in ep.hnps])
        sessions = self.sessions.get(key)
        if sessions is None:
            sessions = self.sessions[key] = {}
        sessions[prefix] = DIRECT
        self.changed_endpoints.add(key)
        users = self._direct_to.get(prefix)
        if users is None:
            users = self._direct_to[prefix] = set()
        if not users and not queued and loc.expires_at != math.inf:
            # in use from now on: if its refresh point passed while nobody used it, the next tick
            # asks again (the timer heap popped it then and, unused, only waited for its expiry)
            heapq.heappush(self._expiry, (loc.refresh_at, prefix))
        users.add(key)
        falling_back = self._fallback_to.get(prefix)
        if falling_back:
            falling_back.discard(key)
        self.stats.counters["drf_direct_installed"] += 1

    def fallback(self, ep: Endpoint, prefix: Net, now: float, fx: Effects) -> None:
        """No location: PMIP routing via the endpoint's LMA (an access router: plain routing) for
        this pair, without punting, until ``timers.fallback_retry`` when the DRF may ask again."""
        obj = self.endpoints.obj_of(ep.key)
        cn_id = self.cids.of(prefix)
        if self.sessions.get(ep.key, {}).get(prefix) == DIRECT:
            # a direct entry (same cookie, higher priority) would shadow the fallback: it goes first
            fx.flow(flows.delete_drf(self.view.dpid, obj, cn_id))
        for hnp in ep.hnps:
            if ep.lma is None:
                fx.flow(flows.install_drf_fallback_route(self.view.dpid, obj, cn_id, hnp, prefix))
            else:
                lma = self.view.peer(ep.lma)
                if lma.port is None:
                    continue
                fx.flow(flows.install_drf_fallback(self.view.dpid, obj, cn_id, hnp, prefix, lma.label, lma.port))
        self.sessions.setdefault(ep.key, {})[prefix] = FALLBACK
        self.changed_endpoints.add(ep.key)
        self._direct_to.get(prefix, set()).discard(ep.key)
        self._fallback_to.setdefault(prefix, set()).add(ep.key)
        self.fallback_since[(ep.key, prefix)] = now
        self.stats.count("drf_fallback_installed")

    def learn(self, prefix: Net, loc: Location, fx: Effects, repoint: bool = True) -> int:
        """``prefix`` is at ``loc`` now: cache it and re-point every local direct entry toward it."""
        self.location[prefix] = loc
        pending = self.queries.get(prefix)
        if pending is not None:
            pending.overtaken = True
        self.changed_locations.add(prefix)
        if loc.expires_at != math.inf:
            heapq.heappush(self._expiry, (loc.refresh_at, prefix))
        return self.repoint(prefix, loc, fx) if repoint else 0

    def repoint(self, prefix: Net, loc: Location, fx: Effects) -> int:
        """Point every local endpoint's direct entry toward ``prefix`` at ``loc``, and turn its
        fallback entries toward ``prefix`` (no location when it asked) into direct ones: a DRF
        location exists now.  Returns how many."""
        n = 0
        for key in list(self._direct_to.get(prefix, ())):
            ep = self.endpoints.endpoint(key)
            if ep is not None and self.sessions.get(key, {}).get(prefix) == DIRECT:
                self.direct(ep, prefix, loc, fx)
                n += 1
        for key in list(self._fallback_to.get(prefix, ())):
            ep = self.endpoints.endpoint(key)
            if ep is not None and self.sessions.get(key, {}).get(prefix) == FALLBACK:
                # same cookie, lower priority: remove the fallback so no dead flow stays behind it
                fx.flow(flows.delete_drf(self.view.dpid, self.endpoints.obj_of(key), self.cids.of(prefix)))
                self.fallback_since.pop((key, prefix), None)
                self.changed_endpoints.add(key)
                self.direct(ep, prefix, loc, fx)
                self.stats.count("drf_fallback_repointed")
                n += 1
        return n

    def drop_direct(self, prefix: Net, fx: Effects) -> None:
        """Remove every local endpoint's direct entry toward ``prefix``: their next packet asks again."""
        for key in self._direct_to.pop(prefix, set()):
            sessions = self.sessions.get(key, {})
            if sessions.get(prefix) == DIRECT:
                del sessions[prefix]
                self.changed_endpoints.add(key)
                fx.flow(flows.delete_drf(self.view.dpid, self.endpoints.obj_of(key), self.cids.of(prefix)))

    def forget(self, prefix: Net) -> None:
        """Drop a cached location (not the entries using it)."""
        self.location.pop(prefix, None)
        pending = self.queries.get(prefix)
        if pending is not None:
            pending.overtaken = True
        self.changed_locations.add(prefix)

    def forget_endpoint(self, key: str, fx: Effects) -> dict[Net, str]:
        """A local endpoint left: its entries go; returns its sessions (prefix -> kind)."""
        sessions = self.sessions.pop(key, {})
        self.changed_endpoints.add(key)
        for prefix in sessions:
            self._direct_to.get(prefix, set()).discard(key)
            self._fallback_to.get(prefix, set()).discard(key)
            self.fallback_since.pop((key, prefix), None)
        fx.flow(flows.delete_drf_of_mn(self.view.dpid, self.endpoints.obj_of(key)))
        return sessions

    def direct_correspondents(self, sessions: dict[Net, str]) -> dict[Net, Location]:
        return {p: self.location[p] for p, kind in sessions.items() if kind == DIRECT and p in self.location}

    # ------------------------------------------------------------ timers, resync

    def _expire(self, now: float, fx: Effects) -> None:
        """Locations past their refresh time: asked again if in use, forgotten when expired."""
        while self._expiry and self._expiry[0][0] <= now:
            _, prefix = heapq.heappop(self._expiry)
            loc = self.location.get(prefix)
            if loc is None or loc.expires_at == math.inf or loc.refresh_at > now:
                continue  # gone, local, or learnt again since (another heap entry covers it)
            if now >= loc.expires_at:
                self.stats.count("drf_location_expired")
                self.forget(prefix)
                self.drop_direct(prefix, fx)
                continue
            heapq.heappush(self._expiry, (loc.expires_at, prefix))
            address = prefix.network_address + 1  # any address of the prefix finds its LMF
            lmf = self._lmf_for(address)
            if self._direct_to.get(prefix) and prefix not in self.queries and lmf is not None:
                q = Query(prefix, address, lmf, self.seq.next(), now, now, refresh=True)
                self.queries[prefix] = q
                self._query_by_seq[q.seq] = q
                self.stats.count("drf_refresh_query")
                self._send_query(q, now, fx)

    def tick(self, now: float) -> Effects:
        fx = Effects()
        self._expire(now, fx)
        timers = self.view.timers
        for prefix, q in list(self.queries.items()):
            if now - q.sent_at < timers.query_timeout:
                continue
            if q.retries < timers.query_retries:
                q.retries += 1
                self.stats.count("drf_refresh_query" if q.refresh else "drf_query_retry")
                self._send_query(q, now, fx)
                continue
            del self.queries[prefix]
            if self._query_by_seq.get(q.seq) is q:
                del self._query_by_seq[q.seq]
            self.stats.count("drf_query_timeout")
            for key in q.waiting:
                ep = self.endpoints.endpoint(key)
                if ep is not None and ep.daf:
                    self.fallback(ep, prefix, now, fx)
        for (key, prefix), since in list(self.fallback_since.items()):
            sessions = self.sessions.get(key, {})
            if sessions.get(prefix) != FALLBACK:
                del self.fallback_since[(key, prefix)]
            elif now - since >= timers.fallback_retry:
                del self.fallback_since[(key, prefix)]
                self.changed_endpoints.add(key)
                del sessions[prefix]
                self._fallback_to.get(prefix, set()).discard(key)
                fx.flow(flows.delete_drf(self.view.dpid, self.endpoints.obj_of(key), self.cids.of(prefix)))
                self.stats.count("drf_fallback_expired")
        return fx

    def resync(self, now: float) -> Effects:
        fx = Effects()
        for key, sessions in list(self.sessions.items()):
            ep = self.endpoints.endpoint(key)
            if ep is None:
                continue
            for prefix, kind in list(sessions.items()):
                if kind == DIRECT and prefix in self.location:
                    self.direct(ep, prefix, self.location[prefix], fx)
                else:
                    since = self.fallback_since.get((key, prefix), now)
                    self.fallback(ep, prefix, now, fx)
                    self.fallback_since[(key, prefix)] = since
        return fx

    # ------------------------------------------------------------ persistence (controller/store.py)

    def mark_all(self) -> None:
        """Every record is to be written (a store attached to a running controller, tests)."""
        self.changed_locations.update(self.location)
        self.changed_endpoints.update(self.sessions)

    def dump_location(self, prefix: Net, epoch: float) -> dict[str, Any] | None:
        loc = self.location.get(prefix)
        return location_record(loc, epoch) if loc is not None else None

    def load_location(self, prefix: Net, rec: dict[str, Any], epoch: float) -> None:
        """A cached location back after a restart; its refresh (or expiry) resumes at the stored time."""
        loc = location_from_record(rec, epoch)
        self.location[prefix] = loc
        if loc.expires_at != math.inf:
            heapq.heappush(self._expiry, (loc.refresh_at, prefix))

    def dump_endpoint(self, key: str, epoch: float) -> dict[str, Any] | None:
        """A local endpoint's DRF entries: prefix -> direct | fallback (and since when, wall clock)."""
        sessions = self.sessions.get(key)
        if not sessions:
            return None
        since = {str(p): self.fallback_since[(key, p)] + epoch for p in sessions if (key, p) in self.fallback_since}
        return {"sessions": {str(p): kind for p, kind in sessions.items()}, "fallback_since": since}

    def load_endpoint(self, key: str, rec: dict[str, Any], epoch: float) -> None:
        sessions = {ipaddress.IPv6Network(p): str(kind) for p, kind in rec["sessions"].items()}
        self.sessions[key] = sessions
        for prefix, kind in sessions.items():
            (self._direct_to if kind == DIRECT else self._fallback_to).setdefault(prefix, set()).add(key)
        for p, since in rec.get("fallback_since", {}).items():
            self.fallback_since[(key, ipaddress.IPv6Network(p))] = float(since) - epoch

    def to_json(self) -> dict[str, object]:
        return {
            "switch": self.name,
            "location_cache": [
                {"prefix": str(p), "coa": str(loc.coa), "switch": loc.switch, "source": loc.source,
                 "updated_at": loc.updated_at, "expires_at": None if loc.expires_at == math.inf else loc.expires_at}
                for p, loc in sorted(self.location.items(), key=lambda kv: str(kv[0]))
            ],
            "tunnels": [
                {"mn_id": key, "correspondent": str(p), "kind": kind,
                 "to": self.location[p].switch if kind == DIRECT and p in self.location else None}
                for key, sessions in sorted(self.sessions.items()) for p, kind in sessions.items()
            ],
            "pending_queries": [
                {"prefix": str(q.prefix), "lmf": q.lmf, "retries": q.retries, "waiting": sorted(q.waiting)}
                for q in self.queries.values()
            ],
        }  # fmt: skip
