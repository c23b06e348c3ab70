"""Distributed Anchoring Function of an eMAG: DRF (§4.2) and DMF (§4.3).

DRF: the first packet an MN sends to a correspondent the eMAG has no entry for is punted (it still
goes on via the LMA).  The DRF looks in its location cache; on a miss it sends a PBQR to the eLMA
whose prefixes hold the address (§4.4.1) and, on the PBQA, installs a direct tunnel to the
correspondent's eMAG for that MN.  No location (legacy LMA, unknown prefix, no answer): a fallback
entry keeps PMIP routing for that pair without punting again (§5.1).

DMF, at the three eMAGs of a handoff of MN1 from p-eMAG to n-eMAG:
* n-eMAG, on the PBA that carries MN1's previous CoA: PBCI (new location) to p-eMAG.
* p-eMAG, on that PBCI: redirect MN1's HNP to n-eMAG, PBCA to n-eMAG with the locations of MN1's
  correspondents, PBCI to each correspondent's eMAG; the redirect is removed once they all
  acknowledged (plus a hold time for packets in flight).
* correspondent's eMAG, on PBCI: re-point every local MN's tunnel toward MN1 to n-eMAG, PBCA back.
  If its own MN has moved on meanwhile (both moved at once, RFC 6279 §3.2), it relays the PBCI
  to that MN's new eMAG, so no tunnel is left pointing at a stale location.
* n-eMAG, on the PBCA: MN1's uplink to each correspondent goes straight to its eMAG.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.messages import PBCA, PBCI, PBQA, PBQR, Message, Status
from openflow_rules import flows

if TYPE_CHECKING:
    from controller.mag import Attachment, MagFunction

LOG = logging.getLogger("epmip.daf")

Net = ipaddress.IPv6Network
Addr = ipaddress.IPv6Address
REDIRECT_HOLD = 1.0  # seconds a redirect stays after every correspondent acknowledged
PBCA_WAIT = 2.0  # seconds p-eMAG waits for correspondents' PBCAs before removing the redirect anyway
DEPARTED_KEEP = 30.0  # seconds p-eMAG remembers an MN's correspondents after it left
PBCI_WAIT = 1.0  # seconds p-eMAG waits for a PBCI before telling correspondents the MN is gone (§6)
HBH = "(hop-by-hop)"  # the "LMF" of a query sent toward the correspondent's address (§4.4.2)


def prefix_of(address: Addr) -> Net:
    return ipaddress.IPv6Network((int(address) >> 64 << 64, 64))


@dataclass
class Location:
    coa: Addr
    switch: str
    source: str  # pbqa | pbca | pbci | local
    updated_at: float


@dataclass
class Query:
    prefix: Net
    address: Addr
    lmf: str
    seq: int
    sent_at: float
    started_at: float
    retries: int = 0
    waiting: set[str] = field(default_factory=set)


@dataclass
class Redirect:
    mn_id: str
    hnps: list[Net]
    to_switch: str
    installed_at: float
    awaiting: set[str] = field(default_factory=set)
    remove_at: float = 0.0


@dataclass
class Departed:
    mn_id: str
    hnps: list[Net]
    correspondents: dict[Net, Location]
    departed_at: float
    new_switch: str | None = None
    withdrawn: bool = False


class Daf:
    def __init__(self, mag: MagFunction) -> None:
        self.mag = mag
        self.ctl = mag.ctl
        self.location: dict[Net, Location] = {}
        self.sessions: dict[str, dict[Net, str]] = {}  # mn_id -> prefix -> direct | fallback
        self.queries: dict[Net, Query] = {}
        self.redirects: dict[str, Redirect] = {}
        self.departed: dict[str, Departed] = {}
        self.fallback_since: dict[tuple[str, Net], float] = {}
        self._direct_to: dict[Net, set[str]] = {}  # correspondent prefix -> local MNs with a direct entry

    @property
    def name(self) -> str:
        return self.mag.name

    # ------------------------------------------------------------ DRF

    def uplink_miss(self, att: Attachment, dst: Addr, now: float) -> None:
        """The MN sent a packet to ``dst`` and no DRF entry matched (§4.2)."""
        if not att.daf or dst.is_multicast or dst.is_link_local or dst.is_unspecified:
            return
        prefix = prefix_of(dst)
        if prefix in self.sessions.get(att.mn.id, {}):
            return  # the entry is being installed; this packet was already on its way
        self.ctl.counters["drf_miss"] += 1
        loc = self.location.get(prefix)
        if loc is not None:
            self.ctl.counters["drf_cache_hit"] += 1
            self._direct(att, prefix, loc)
            return
        query = self.queries.get(prefix)
        if query is not None:
            query.waiting.add(att.mn.id)
            return
        method = self.ctl.domain.lmf_discovery
        if method == "hbh":
            lmf: str | None = HBH  # §4.4.2: sent toward the address itself
        elif method == "relay":
            lmf = self.ctl.preferred_lmf(self.mag.switch)  # §4.4.3: any eLMA will do
        else:
            lmf = self.ctl.find_lmf(dst)  # §4.4.1: by the prefix configuration
        if lmf is None:
            self.ctl.counters["drf_no_lmf"] += 1
            self._fallback(att, prefix)
            return
        query = Query(prefix, dst, lmf, self.ctl.bus.next_seq(), now, now, waiting={att.mn.id})
        self.queries[prefix] = query
        self._send_query(query, now)

    def _send_query(self, q: Query, now: float) -> None:
        q.sent_at = now
        msg = PBQR(
            src=self.name,
            dst="" if q.lmf == HBH else q.lmf,
            seq=q.seq,
            address=str(q.address),
            requester=str(self.mag.switch.address),
        )
        if q.lmf == HBH:
            self.ctl.send_hbh_query(self.mag.switch, msg, now)
        else:
            self.ctl.bus.send(msg, now)

    def on_pbqa(self, msg: PBQA, now: float) -> None:
        query = next((q for q in self.queries.values() if q.seq == msg.seq), None)
        if query is None:
            return  # late answer to a query that timed out
        del self.queries[query.prefix]
        self.ctl.record_latency("location_query", now - query.started_at)
        loc = None
        if msg.status == Status.ACCEPTED:
            loc = self._location_from(msg.coa, "pbqa", now)
        if loc is None:
            self.ctl.counters["drf_no_location"] += 1
        else:
            self.location[query.prefix] = loc
        for mn_id in query.waiting:
            att = self.mag.attachments.get(mn_id)
            if att is None or not att.daf:
                continue
            if loc is None:
                self._fallback(att, query.prefix)
            else:
                self._direct(att, query.prefix, loc)

    def _location_from(self, coa: str, source: str, now: float) -> Location | None:
        try:
            address = ipaddress.IPv6Address(coa)
        except ValueError:
            return None
        sw = self.ctl.domain.switch_by_address(address)
        if sw is None or sw.role not in ("emag", "ar_drf"):
            return None  # only a DRF can terminate a direct tunnel
        return Location(address, sw.name, source, now)

    def _direct(self, att: Attachment, prefix: Net, loc: Location) -> None:
        label, port = self._tunnel_to(loc.switch)
        obj = self.mag.obj_of(att.mn.id)
        cn_id = self.ctl.correspondent_id(prefix)
        for hnp in att.hnps:
            self.ctl.emit(flows.install_drf(self.mag.dpid, obj, cn_id, hnp, prefix, label, port))
        self.sessions.setdefault(att.mn.id, {})[prefix] = "direct"
        self._direct_to.setdefault(prefix, set()).add(att.mn.id)
        self.ctl.counters["drf_direct_installed"] += 1

    def _fallback(self, att: Attachment, prefix: Net) -> None:
        """No location: PMIP routing via the MN's LMA (an access router: plain routing) for this
        pair, without punting, until ``timers.fallback_retry`` when the DRF may ask again."""
        obj = self.mag.obj_of(att.mn.id)
        cn_id = self.ctl.correspondent_id(prefix)
        for hnp in att.hnps:
            if att.lma is None:
                fm = flows.install_drf_fallback_route(self.mag.dpid, obj, cn_id, hnp, prefix)
            else:
                lma = self.ctl.domain.switches[att.lma]
                port = self.ctl.topo.port_toward(self.name, lma.name)
                fm = flows.install_drf_fallback(self.mag.dpid, obj, cn_id, hnp, prefix, lma.label, port)
            self.ctl.emit(fm)
        self.sessions.setdefault(att.mn.id, {})[prefix] = "fallback"
        self._direct_to.get(prefix, set()).discard(att.mn.id)
        self.fallback_since[(att.mn.id, prefix)] = self.ctl.now
        self.ctl.counters["drf_fallback_installed"] += 1

    def _tunnel_to(self, switch: str) -> tuple[int | None, int | None]:
        if switch == self.name:
            return None, None
        return self.ctl.domain.switches[switch].label, self.ctl.topo.port_toward(self.name, switch)

    def _repoint(self, prefix: Net, loc: Location) -> int:
        """Point every local MN's direct entry toward ``prefix`` at ``loc``; returns how many."""
        n = 0
        for mn_id in list(self._direct_to.get(prefix, ())):
            att = self.mag.attachments.get(mn_id)
            if att is not None and self.sessions.get(mn_id, {}).get(prefix) == "direct":
                self._direct(att, prefix, loc)
                n += 1
        return n

    def _drop_direct(self, prefix: Net) -> None:
        """Remove every local MN's direct entry toward ``prefix``: their next packet asks again."""
        for mn_id in self._direct_to.pop(prefix, set()):
            sessions = self.sessions.get(mn_id, {})
            if sessions.get(prefix) == "direct":
                del sessions[prefix]
                self.ctl.emit(
                    flows.delete_drf(self.mag.dpid, self.mag.obj_of(mn_id), self.ctl.correspondent_id(prefix))
                )

    def forget_endpoint(self, mn_id: str) -> dict[Net, str]:
        """Drop a local endpoint's sessions (it left); returns them."""
        sessions = self.sessions.pop(mn_id, {})
        for prefix in sessions:
            self._direct_to.get(prefix, set()).discard(mn_id)
        return sessions

    # ------------------------------------------------------------ DMF: attach / detach

    def on_bound(self, att: Attachment, previous_coa: str, now: float) -> None:
        """An MN registered here (PBA accepted).  If it came from another eMAG, tell that one."""
        me = Location(self.mag.switch.address, self.name, "local", now)
        for hnp in att.hnps:
            self.location[hnp] = me
            self._repoint(hnp, me)  # local MNs that talked to it now deliver locally
        redirect = self.redirects.pop(att.mn.id, None)
        if redirect is not None:  # it came back before our redirect was removed
            self._remove_redirect(redirect)
        self.departed.pop(att.mn.id, None)
        if not att.daf or not previous_coa:
            return
        prev = self.ctl.domain.switch_by_address(ipaddress.IPv6Address(previous_coa))
        if prev is None or prev.name == self.name or prev.role != "emag":
            return
        self.ctl.handoff_started[att.mn.id] = att.attached_at
        self.ctl.bus.send(
            PBCI(src=self.name, dst=prev.name, seq=self.ctl.bus.next_seq(), mn_id=att.mn.id,
                 hnps=[str(h) for h in att.hnps], new_coa=str(self.mag.switch.address),
                 timestamp=self.ctl.timestamp(now)),
            now,
        )  # fmt: skip

    def on_detach(self, att: Attachment, now: float) -> None:
        sessions = self.forget_endpoint(att.mn.id)
        correspondents = {
            p: self.location[p] for p, kind in sessions.items() if kind == "direct" and p in self.location
        }
        self.ctl.emit(flows.delete_drf_of_mn(self.mag.dpid, self.mag.obj_of(att.mn.id)))
        for hnp in att.hnps:
            if self.location.get(hnp, None) is not None and self.location[hnp].switch == self.name:
                del self.location[hnp]
        if att.daf:
            self.departed[att.mn.id] = Departed(att.mn.id, list(att.hnps), correspondents, now)

    # ------------------------------------------------------------ DMF: PBCI / PBCA

    def on_pbci(self, msg: PBCI, now: float) -> None:
        if msg.new_coa == "":
            self._withdrawn(msg, now)
            return
        loc = self._location_from(msg.new_coa, "pbci", now)
        try:
            hnps = [ipaddress.IPv6Network(h) for h in msg.hnps]
        except ValueError:
            hnps = []
        att = self.mag.attachments.get(msg.mn_id)
        if loc is None or not hnps or (loc.switch == self.name and att is None):
            # the last: "now here" for an MN not attached here (would redirect it to ourselves)
            self.ctl.reject_message(self.name, msg, "PBCI without a valid new CoA or HNP")
            self._ack(msg, now, Status.MISSING_HOME_NETWORK_PREFIX_OPTION)
            return
        if att is not None and loc.switch != self.name:
            # The MN is still attached here as far as we know (its port event is late): it left.
            self.mag.detach(att.port, now, deregister=False)
        if msg.mn_id in self.departed:
            self._as_previous(msg, hnps, loc, now)
        else:
            self._as_correspondent(msg, hnps, loc, now)

    def _as_previous(self, msg: PBCI, hnps: list[Net], loc: Location, now: float) -> None:
        """p-eMAG: redirect, tell n-eMAG the correspondents, tell the correspondents."""
        dep = self.departed[msg.mn_id]
        dep.new_switch = loc.switch
        obj = self.mag.obj_of(msg.mn_id)
        label, port = self._tunnel_to(loc.switch)
        for hnp in hnps:
            self.ctl.emit(flows.install_redirect(self.mag.dpid, obj, hnp, label, port))
            self.location[hnp] = loc
            self._repoint(hnp, loc)
        redirect = Redirect(msg.mn_id, hnps, loc.switch, now)
        self.redirects[msg.mn_id] = redirect
        self.ctl.counters["dmf_redirect_installed"] += 1
        self.ctl.bus.send(
            PBCA(src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=int(Status.ACCEPTED),
                 correspondents=[{"prefix": str(p), "coa": str(c.coa)} for p, c in dep.correspondents.items()]),
            now,
        )  # fmt: skip
        for switch in sorted({c.switch for c in dep.correspondents.values()}):
            if switch in (self.name, loc.switch):
                continue
            redirect.awaiting.add(switch)
            self.ctl.bus.send(
                PBCI(src=self.name, dst=switch, seq=self.ctl.bus.next_seq(), mn_id=msg.mn_id,
                     hnps=msg.hnps, new_coa=msg.new_coa, timestamp=msg.timestamp),
                now,
            )  # fmt: skip
        redirect.remove_at = now + (PBCA_WAIT if redirect.awaiting else REDIRECT_HOLD)

    def _as_correspondent(self, msg: PBCI, hnps: list[Net], loc: Location, now: float) -> None:
        """A correspondent's eMAG: re-point, relay for local MNs that moved on, acknowledge."""
        repointed = 0
        for hnp in hnps:
            self.location[hnp] = loc
            repointed += self._repoint(hnp, loc)
            for dep in self.departed.values():
                if hnp in dep.correspondents:
                    dep.correspondents[hnp] = loc
                    if dep.new_switch is not None and dep.new_switch != loc.switch:
                        self.ctl.counters["dmf_pbci_relayed"] += 1
                        self.ctl.bus.send(
                            PBCI(src=self.name, dst=dep.new_switch, seq=self.ctl.bus.next_seq(),
                                 mn_id=msg.mn_id, hnps=msg.hnps, new_coa=msg.new_coa, timestamp=msg.timestamp),
                            now,
                        )  # fmt: skip
        started = self.ctl.handoff_started.get(msg.mn_id)
        if repointed and started is not None:
            self.ctl.record_latency("handoff_reroute", now - started)
        self.ctl.counters["dmf_correspondent_updated"] += 1
        self._ack(msg, now, Status.ACCEPTED)

    def _withdrawn(self, msg: PBCI, now: float) -> None:
        """The MN's p-eMAG lost it and heard of no new eMAG (it moved to a legacy MAG, §6, or
        left): forget its location, so local MNs fall back to PMIP routing and ask again."""
        try:
            hnps = [ipaddress.IPv6Network(h) for h in msg.hnps]
        except ValueError:
            hnps = []
        if not hnps:
            self.ctl.reject_message(self.name, msg, "PBCI withdrawal without an HNP")
            self._ack(msg, now, Status.MISSING_HOME_NETWORK_PREFIX_OPTION)
            return
        for hnp in hnps:
            loc = self.location.get(hnp)
            if loc is not None and loc.switch == self.name:
                continue  # the MN is attached here by now: the withdrawal is stale
            if loc is not None:
                del self.location[hnp]
            self._drop_direct(hnp)
        self.ctl.counters["dmf_location_withdrawn"] += 1
        self._ack(msg, now, Status.ACCEPTED)

    def _ack(self, msg: PBCI, now: float, status: Status) -> None:
        self.ctl.bus.send(PBCA(src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=int(status)), now)

    def on_pbca(self, msg: PBCA, now: float) -> None:
        redirect = self.redirects.get(msg.mn_id)
        if redirect is not None and msg.src in redirect.awaiting:
            redirect.awaiting.discard(msg.src)
            if not redirect.awaiting:
                redirect.remove_at = now + REDIRECT_HOLD
            return
        att = self.mag.attachments.get(msg.mn_id)
        if att is None or not att.daf:
            return
        started = self.ctl.handoff_started.get(msg.mn_id)
        if started is not None:
            self.ctl.record_latency("handoff_pbca", now - started)
        for entry in msg.correspondents:
            try:
                prefix = ipaddress.IPv6Network(entry.get("prefix", ""))
            except ValueError:
                continue
            known = self.location.get(prefix)
            loc = known if known is not None and known.source in ("pbci", "local") else None
            loc = loc or self._location_from(entry.get("coa", ""), "pbca", now)
            if loc is None:
                continue
            if loc is not known:  # the cache (REST view, resync, other MNs' entries) follows the flow
                self.location[prefix] = loc
                self._repoint(prefix, loc)
            self._direct(att, prefix, loc)

    # ------------------------------------------------------------ timers and state

    def _remove_redirect(self, redirect: Redirect) -> None:
        obj = self.mag.obj_of(redirect.mn_id)
        for hnp in redirect.hnps:
            self.ctl.emit(flows.delete_redirect(self.mag.dpid, obj, hnp))
        self.ctl.counters["dmf_redirect_removed"] += 1

    def tick(self, now: float) -> None:
        for prefix, q in list(self.queries.items()):
            if now - q.sent_at < self.ctl.domain.timers.query_timeout:
                continue
            if q.retries < self.ctl.domain.timers.query_retries:
                q.retries += 1
                self.ctl.counters["drf_query_retry"] += 1
                self._send_query(q, now)
                continue
            del self.queries[prefix]
            self.ctl.counters["drf_query_timeout"] += 1
            for mn_id in q.waiting:
                att = self.mag.attachments.get(mn_id)
                if att is not None and att.daf:
                    self._fallback(att, prefix)
        for mn_id, redirect in list(self.redirects.items()):
            if redirect.remove_at <= now:
                del self.redirects[mn_id]
                self._remove_redirect(redirect)
        for mn_id, dep in list(self.departed.items()):
            if now - dep.departed_at > DEPARTED_KEEP and mn_id not in self.redirects:
                del self.departed[mn_id]
            elif dep.new_switch is None and not dep.withdrawn and now - dep.departed_at >= PBCI_WAIT:
                dep.withdrawn = True
                for switch in sorted({c.switch for c in dep.correspondents.values()} - {self.name}):
                    self.ctl.bus.send(
                        PBCI(src=self.name, dst=switch, seq=self.ctl.bus.next_seq(), mn_id=mn_id,
                             hnps=[str(h) for h in dep.hnps], new_coa="", timestamp=self.ctl.timestamp(now)),
                        now,
                    )  # fmt: skip
                for hnp in dep.hnps:
                    if hnp in self.location and self.location[hnp].switch == self.name:
                        del self.location[hnp]
                    self._drop_direct(hnp)
        retry = self.ctl.domain.timers.fallback_retry
        for (mn_id, prefix), since in list(self.fallback_since.items()):
            sessions = self.sessions.get(mn_id, {})
            if sessions.get(prefix) != "fallback":
                del self.fallback_since[(mn_id, prefix)]
            elif now - since >= retry:
                del self.fallback_since[(mn_id, prefix)]
                del sessions[prefix]
                self.ctl.emit(
                    flows.delete_drf(self.mag.dpid, self.mag.obj_of(mn_id), self.ctl.correspondent_id(prefix))
                )
                self.ctl.counters["drf_fallback_expired"] += 1

    def resync(self) -> None:
        for mn_id, sessions in self.sessions.items():
            att = self.mag.attachments.get(mn_id)
            if att is None:
                continue
            for prefix, kind in sessions.items():
                if kind == "direct" and prefix in self.location:
                    self._direct(att, prefix, self.location[prefix])
                else:
                    self._fallback(att, prefix)
        for redirect in self.redirects.values():
            label, port = self._tunnel_to(redirect.to_switch)
            for hnp in redirect.hnps:
                self.ctl.emit(flows.install_redirect(self.mag.dpid, self.mag.obj_of(redirect.mn_id), hnp, label, port))

    def handle(self, msg: Message, now: float) -> bool:
        if isinstance(msg, PBQA):
            self.on_pbqa(msg, now)
        elif isinstance(msg, PBCI):
            self.on_pbci(msg, now)
        elif isinstance(msg, PBCA):
            self.on_pbca(msg, now)
        else:
            return False
        return True

    def to_json(self) -> dict:
        return {
            "switch": self.name,
            "location_cache": [
                {"prefix": str(p), "coa": str(loc.coa), "switch": loc.switch, "source": loc.source,
                 "updated_at": loc.updated_at}
                for p, loc in sorted(self.location.items(), key=lambda kv: str(kv[0]))
            ],
            "tunnels": [
                {"mn_id": mn_id, "correspondent": str(p), "kind": kind,
                 "to": self.location[p].switch if kind == "direct" and p in self.location else None}
                for mn_id, sessions in sorted(self.sessions.items()) for p, kind in sessions.items()
            ],
            "pending_queries": [
                {"prefix": str(q.prefix), "lmf": q.lmf, "retries": q.retries, "waiting": sorted(q.waiting)}
                for q in self.queries.values()
            ],
            "redirects": [
                {"mn_id": r.mn_id, "hnps": [str(h) for h in r.hnps], "to": r.to_switch,
                 "awaiting_pbca": sorted(r.awaiting), "remove_at": r.remove_at}
                for r in self.redirects.values()
            ],
            "departed": [
                {"mn_id": d.mn_id, "new_switch": d.new_switch, "correspondents": [str(p) for p in d.correspondents]}
                for d in self.departed.values()
            ],
        }  # fmt: skip
