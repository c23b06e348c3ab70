"""Distributed Mobility Function (draft §4.3): sessions kept alive across a handoff.

At the three eMAGs of a handoff of MN1 from p-eMAG to n-eMAG:
* n-eMAG, on the PBA that carries MN1's previous CoA: PBCI (new location) to p-eMAG.
* p-eMAG, on that PBCI: redirect MN1's HNP to n-eMAG, PBCA to n-eMAG with the locations of MN1's
  correspondents, PBCI to each correspondent's eMAG; the redirect is removed once they all
  acknowledged (plus a hold time for packets in flight).
* correspondent's eMAG (or access router, §5.2), on PBCI: re-point every local tunnel toward MN1
  to n-eMAG, PBCA back.  If its own MN has moved on meanwhile (both moved at once, RFC 6279
  §3.2), it relays the PBCI to that MN's new eMAG, so no tunnel is left pointing at a stale
  location.
* n-eMAG, on the PBCA: MN1's uplink to each correspondent goes straight to its eMAG.
An MN that left and whose new eMAG never sends a PBCI (it moved to a legacy MAG, §6, or left the
domain) is withdrawn after ``PBCI_WAIT``: its correspondents fall back to PMIP routing.

Who must be told is not only the MN's own correspondents: every DRF that *holds* the MN's location
(it asked the LMF - the PBA lists them -, it was told in an earlier handoff, or it relays for its
own moving MN) is updated at a handoff and withdrawn at a departure, whatever the traffic
direction.  p-eMAG hands that holder set over to n-eMAG in its PBCA.  Every PBCI is sent again
until its PBCA arrives (``PBCA_TIMEOUT`` doubling, ``PBCI_TRIES`` sends); a duplicate PBCI is
answered again and changes nothing more.  If n-eMAG's PBCI is never answered, its MN's
correspondents keep reaching it through the LMA (the PBA re-pointed the binding) and re-learn the
location from the LMF when their entries expire; if a correspondent never answers, p-eMAG removes
its redirect after ``PBCA_WAIT``.

The DMF reads and writes its own node's DRF location cache (``controller/drf.py``); everything it
learns about other nodes comes in PBCI/PBCA messages.
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

from controller.drf import Drf, Location, location_from_record, location_record
from controller.effects import Effects, Outstanding, Sequence, Stats
from controller.interfaces import Departures, Endpoint, Endpoints
from controller.messages import PBCA, PBCI, Status
from controller.view import DMF_ROLES, View
from openflow_rules import flows, text

LOG = logging.getLogger("epmip.dmf")

Net = ipaddress.IPv6Network
REDIRECT_HOLD = 1.0  # seconds a redirect stays after every correspondent acknowledged
PBCA_WAIT = 2.0  # seconds p-eMAG waits for correspondents' PBCAs before removing the redirect anyway
DEPARTED_KEEP = 30.0  # seconds p-eMAG remembers an MN's correspondents after it left
PBCI_WAIT = 1.0  # seconds p-eMAG waits for a PBCI before telling correspondents the MN is gone (§6)
PBCA_TIMEOUT = 0.5  # first wait for a PBCA before a PBCI is sent again (doubled each time)
PBCI_TRIES = 4  # sends of one PBCI before it is given up


@dataclass
class Redirect:
    mn_id: str
    hnps: list[Net]
    to_switch: str
    installed_at: float
    awaiting: set[str] = field(default_factory=set)
    remove_at: float = 0.0
    told: set[str] = field(default_factory=set)  # every DRF told of the move (n-eMAG's holders)


@dataclass
class Departed:
    mn_id: str
    hnps: list[Net]
    correspondents: dict[Net, Location]
    departed_at: float
    holders: set[str] = field(default_factory=set)  # DRFs (names) holding its location
    new_switch: str | None = None
    withdrawn: bool = False
    withdrawn_from: set[str] = field(default_factory=set)  # DRFs (names) already told it is gone
    withdrawn_stamp: float = 0.0  # the withdrawals' timestamp: the departure (timestamp clock)
    previous: str | None = None  # the p-eMAG our PBCI went to when it arrived here (its PBCA may be late)
    told_of_move: set[str] = field(default_factory=set)  # DRFs we told it is at new_switch


class NoDepartures:
    """An access router's hosts never move: a PBCI that says otherwise changes nothing here."""

    def leave(self, key: str, now: float) -> Effects:
        return Effects()


class Dmf:
    def __init__(
        self, view: View, drf: Drf, endpoints: Endpoints, departures: Departures, stats: Stats, seq: Sequence
    ) -> None:
        self.view = view
        self.drf = drf
        self.endpoints = endpoints
        self.departures = departures
        self.stats = stats
        self.seq = seq
        self.redirects: dict[str, Redirect] = {}
        self.departed: dict[str, Departed] = {}
        # correspondent prefix -> departed MNs that had it (O(1) per PBCI instead of a scan of
        # every departure), and each departed MN's place in ``departed`` (the order they are handled)
        self._departed_by_prefix: dict[Net, set[str]] = {}
        self._departed_place: dict[str, int] = {}
        self._places = 0
        # (when, place, mn_id, departed_at, wait): when a departure may be due for withdrawal
        # (PBCI_WAIT) or forgetting (DEPARTED_KEEP) - the tick looks at those, not at every departure
        self._departed_due: list[tuple[float, int, str, float, float]] = []
        self.handoff_started: dict[str, float] = {}  # MNs that arrived here: attach time
        self.holders: dict[str, set[str]] = {}  # local endpoint -> DRFs (names) holding its location
        self.pbci_stamps: dict[str, float] = {}  # MN -> newest PBCI timestamp accepted for it
        # local MN -> its attach time here (timestamp clock), for an endpoint that does not carry it
        # itself: a MAG's attachment has ``attached_at`` (``_arrived``), so no entry per MN (issue 13)
        self.arrived_at: dict[str, float] = {}
        self.previous: dict[str, str] = {}  # MN that arrived here -> the p-eMAG its PBCI went to
        self.told: dict[str, set[str]] = {}  # MN that came from no eMAG -> holders told here, awaiting PBCA
        self.outstanding = Outstanding(PBCA_TIMEOUT, PBCI_TRIES)  # (mn_id, dst) -> PBCI awaiting its PBCA
        self.changed: set[str] = set()  # for the store: MNs (endpoints) whose DMF record changed

    @property
    def name(self) -> str:
        return self.view.name

    def _names(self, addresses: list[str]) -> set[str]:
        """The DRF nodes among ``addresses`` (this node excluded)."""
        peers = (self.view.peer_at(a) for a in addresses)
        return {p.name for p in peers if p is not None and p.has_drf and p.name != self.name}

    def _addresses(self, names: set[str]) -> list[str]:
        return sorted(text.address(self.view.peer(n).address) for n in names)

    def _send_pbci(self, msg: PBCI, now: float, fx: Effects) -> None:
        self.outstanding.add((msg.mn_id, msg.dst), msg, now)
        self.changed.add(msg.mn_id)
        fx.send(msg)

    def _ack(self, msg: PBCI, status: Status, fx: Effects) -> None:
        fx.send(PBCA(src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=int(status)))

    def _reject(self, msg: PBCI, why: str, fx: Effects) -> None:
        self.stats.count("unexpected_message")
        LOG.error("%s dropped %s from %s: %s", self.name, msg.TYPE, msg.src, why)
        self._ack(msg, Status.MISSING_HOME_NETWORK_PREFIX_OPTION, fx)

    # ------------------------------------------------------------ attach / detach here

    def on_holders(self, ep: Endpoint, holders: list[str]) -> None:
        """A PBA (registration or refresh) listed the DRFs the LMF gave the MN's location to."""
        self.changed.add(ep.key)
        if holders:  # no empty set per MN: most have no holder (memory per MN, issue 13)
            self.holders.setdefault(ep.key, set()).update(self._names(holders))

    def _arrived(self, key: str, here: Endpoint | None) -> float | None:
        """When the local endpoint ``key`` (``here``) arrived (timestamp clock), if known."""
        arrived = self.arrived_at.get(key)
        if arrived is None and here is not None:
            since = getattr(here, "attached_at", None)
            arrived = self.view.now_stamp(since) if isinstance(since, float) else None
        return arrived

    def on_departed_holders(self, key: str, holders: list[str]) -> None:
        """The PBA to a departed MN's de-registration listed the LMF's holders of its location."""
        self.changed.add(key)
        dep = self.departed.get(key)
        if dep is not None:
            dep.holders |= self._names(holders)
            if dep.withdrawn and dep.new_switch is None and not dep.holders <= dep.withdrawn_from:
                # the PBA came after the withdrawal went out (its first copy was lost): the holders
                # it names are told at the next tick
                dep.withdrawn = False
                self._recheck(dep)

    def on_bound(self, ep: Endpoint, previous_coa: str, holders: list[str], attached_at: float, now: float) -> Effects:
        """An MN registered here (PBA accepted).  If it came from another eMAG, tell that one."""
        fx = Effects()
        self.on_holders(ep, holders)  # marks ep.key changed
        if getattr(ep, "attached_at", None) != attached_at:
            self.arrived_at[ep.key] = self.view.now_stamp(attached_at)
        me = Location(self.view.address, self.name, "local", now)
        for hnp in ep.hnps:
            self.drf.learn(hnp, me, fx)  # local MNs that talked to it now deliver locally
        redirect = self.redirects.pop(ep.key, None)
        if redirect is not None:  # it came back before our redirect was removed
            self._remove_redirect(redirect, fx)
        back = self._pop_departed(ep.key)
        if back is not None:  # it came back before anyone was told it left: whom to tell stays known
            told = back.holders | {c.switch for c in back.correspondents.values()}
            self.holders.setdefault(ep.key, set()).update(told - {self.name})
        if not ep.daf:
            return fx
        prev = self.view.peer_at(previous_coa) if previous_coa else None
        if prev is None or prev.role not in DMF_ROLES:
            # No p-eMAG will tell the DRFs that hold the MN's location (it came from a legacy MAG,
            # §6, or from nowhere): tell them here, so that a fallback entry they installed while
            # the MN was out of reach becomes a direct one now.
            told = self.holders.get(ep.key, set()) - {self.name}
            if told:
                self.told[ep.key] = set(told)
            for switch in sorted(told):
                pbci = PBCI(
                    src=self.name, dst=switch, seq=self.seq.next(), mn_id=ep.key,
                    hnps=[text.prefix(h) for h in ep.hnps], new_coa=text.address(self.view.address),
                    timestamp=self.view.now_stamp(attached_at),
                )  # fmt: skip
                self._send_pbci(pbci, now, fx)
            return fx
        if prev.name == self.name:
            return fx
        self.handoff_started[ep.key] = attached_at
        self.previous[ep.key] = prev.name
        self.holders.setdefault(ep.key, set()).add(prev.name)  # our PBCI leaves the location in its cache
        pbci = PBCI(
            src=self.name, dst=prev.name, seq=self.seq.next(), mn_id=ep.key, hnps=[text.prefix(h) for h in ep.hnps],
            new_coa=text.address(self.view.address), timestamp=self.view.now_stamp(attached_at),
            holders=self._addresses(self.holders[ep.key]),
        )  # fmt: skip
        self._send_pbci(pbci, now, fx)
        return fx

    def on_detach(self, ep: Endpoint, now: float) -> Effects:
        fx = Effects()
        self.changed.add(ep.key)
        sessions = self.drf.forget_endpoint(ep.key, fx)
        correspondents = self.drf.direct_correspondents(sessions)
        for hnp in ep.hnps:
            loc = self.drf.location.get(hnp)
            if loc is not None and loc.switch == self.name:
                self.drf.forget(hnp)
        self.handoff_started.pop(ep.key, None)
        self.arrived_at.pop(ep.key, None)
        previous = self.previous.pop(ep.key, None)
        self.told.pop(ep.key, None)
        holders = self.holders.pop(ep.key, set())
        for key in [k for k in self.outstanding.pending if isinstance(k, tuple) and k[0] == ep.key]:
            self.outstanding.answered(key)  # its PBCI to p-eMAG no longer matters
        if ep.daf:
            self._set_departed(Departed(ep.key, list(ep.hnps), correspondents, now, holders, previous=previous))
        else:
            # no DAF: no PBCI will follow it (§4.1); local MNs' entries delivering its HNP here go,
            # and their next packet asks again
            for hnp in ep.hnps:
                self.drf.drop_direct(hnp, fx)
        return fx

    # ------------------------------------------------------------ PBCI / PBCA

    def on_pbci(self, msg: PBCI, now: float) -> Effects:
        fx = Effects()
        seen = self.pbci_stamps.get(msg.mn_id)
        last = 0.0 if seen is None else seen
        here = self.endpoints.endpoint(msg.mn_id)
        moved_away = msg.new_coa not in ("", text.address(self.view.address))
        # attached here (bound, or its registration not answered yet: its attach time is still
        # newer news than a move stamped before it - a late copy of an older PBCI must not detach it)
        arrived = self._arrived(msg.mn_id, here)
        if msg.timestamp < last or (
            here is not None and moved_away and arrived is not None and msg.timestamp < arrived
        ):
            # older than what we know of the MN (a replay, or overtaken): it must not undo a newer move
            self.stats.count("rejected_stale_pbci")
            LOG.warning("%s: stale PBCI for %s from %s dropped (timestamp %.3f)", self.name, msg.mn_id, msg.src,
                        msg.timestamp)  # fmt: skip
            return fx
        self.pbci_stamps[msg.mn_id] = msg.timestamp
        self.changed.add(msg.mn_id)
        if msg.new_coa == "":
            return self._withdrawn(msg, now, fx)
        loc = self.drf.location_from(msg.new_coa, "pbci", now)
        try:
            hnps = [ipaddress.IPv6Network(h) for h in msg.hnps]
        except ValueError:
            hnps = []
        here = self.endpoints.endpoint(msg.mn_id)
        if loc is None or not hnps or (loc.switch == self.name and here is None):
            # the last: "now here" for an MN not attached here (would redirect it to ourselves)
            self._reject(msg, "PBCI without a valid new CoA or HNP", fx)
            return fx
        if here is not None and loc.switch != self.name:
            # The MN is still attached here as far as we know (its port event is late): it left.
            fx.merge(self.departures.leave(msg.mn_id, now))
        # a PBCI of a move handled already (the same attach time) is not relayed again: eMAGs that
        # each hold a departed MN that talked to this one would pass it around forever (found by
        # `epmip bench load`)
        may_relay = seen is None or msg.timestamp > seen
        if msg.mn_id in self.departed:
            self._as_previous(msg, hnps, loc, now, fx, may_relay)
        else:
            # a PBCI of a move we have handled already (the same attach time): re-pointing again is
            # harmless, relaying again is not - two eMAGs that each hold a departed MN talking to
            # this MN would pass it back and forth forever (found by `epmip bench load`)
            self._as_correspondent(msg, hnps, loc, now, fx, may_relay)
        return fx

    def _as_previous(
        self, msg: PBCI, hnps: list[Net], loc: Location, now: float, fx: Effects, may_relay: bool = True
    ) -> None:
        """p-eMAG: redirect, tell n-eMAG the correspondents, tell every holder of the location."""
        dep = self.departed[msg.mn_id]
        redirect = self.redirects.get(msg.mn_id)
        if dep.new_switch == loc.switch and redirect is not None and redirect.to_switch == loc.switch:
            self.stats.count("dmf_pbci_duplicate")  # n-eMAG sent it again: our PBCA was lost
            fx.send(self._pbca_to_new(msg, dep, redirect))
            return
        dep.new_switch = loc.switch
        obj = self.endpoints.obj_of(msg.mn_id)
        label, port = self.view.tunnel_to(loc.switch)
        for hnp in hnps:
            if label is not None and port is not None:
                fx.flow(flows.install_redirect(self.view.dpid, obj, hnp, label, port))
            self.drf.learn(hnp, loc, fx)
        if redirect is not None and redirect.to_switch != loc.switch:
            self._remove_redirect(redirect, fx)
        redirect = Redirect(msg.mn_id, hnps, loc.switch, now)
        self.redirects[msg.mn_id] = redirect
        self.stats.count("dmf_redirect_installed")
        correspondents = {c.switch for c in dep.correspondents.values()}
        for prefix, c in dep.correspondents.items():
            now_at = self.drf.location.get(prefix)  # the PBCA hands on where it is now
            here = c.switch == self.name or (now_at is not None and now_at.switch == self.name)
            key = self.endpoints.key_for_prefix(prefix) if here else None
            if key is not None:  # a correspondent here: the MN's new eMAG now holds its location
                self.holders.setdefault(key, set()).add(loc.switch)
                self.changed.add(key)
        notify = (correspondents | dep.holders | self._names(msg.holders)) - {self.name, loc.switch}
        # this node may also hold the location for other local MNs that left meanwhile (the MN
        # was their correspondent here): their new eMAGs must hear of the move as well - and are
        # holders of the MN's location from now on, which n-eMAG learns from our PBCA
        relayed = self._relay_to_moved(msg, hnps, loc, now, fx, may_relay)
        redirect.told = notify | relayed | (correspondents & {loc.switch})
        dep.told_of_move |= notify | relayed
        fx.send(self._pbca_to_new(msg, dep, redirect))
        # After our withdrawal (its PBCI came late; with make-before-break the attach there can
        # precede the departure here) the news must not look older than the withdrawal it undoes.
        stamp = max(msg.timestamp, dep.withdrawn_stamp) if dep.withdrawn else msg.timestamp
        for switch in sorted(notify):
            redirect.awaiting.add(switch)
            holds = [text.prefix(p) for p, c in dep.correspondents.items() if c.switch == switch]
            pbci = PBCI(src=self.name, dst=switch, seq=self.seq.next(), mn_id=msg.mn_id, hnps=msg.hnps,
                        new_coa=msg.new_coa, timestamp=stamp, holds=holds)  # fmt: skip
            self._send_pbci(pbci, now, fx)
        redirect.remove_at = now + (PBCA_WAIT if redirect.awaiting else REDIRECT_HOLD)
        # the PBCI may come to us as a holder too, naming our endpoints the MN's new eMAG now holds
        self._record_holds(msg, loc)

    def _pbca_to_new(self, msg: PBCI, dep: Departed, redirect: Redirect) -> PBCA:
        """The MN's correspondents where they are *now* (this DRF's location cache, which PBCIs and
        local attachments kept up to date since the MN left), not as they were when it left; one
        whose location was withdrawn meanwhile is left out (n-eMAG asks when it needs it)."""
        now_at = {p: self.drf.location.get(p) for p in dep.correspondents}
        for p, c in now_at.items():
            key = self.endpoints.key_for_prefix(p) if c is not None and c.source == "local" else None
            ep = self.endpoints.endpoint(key) if key is not None else None
            if c is not None and c.source == "local" and (ep is None or not ep.daf):
                now_at[p] = None  # a local MN without DAF: no PBCI would follow it, so do not hand it on
        return PBCA(
            src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=int(Status.ACCEPTED),
            correspondents=[
                {"prefix": text.prefix(p), "coa": text.address(c.coa)} for p, c in now_at.items() if c is not None
            ],
            holders=self._addresses(redirect.told),
        )  # fmt: skip

    def _relay_to_moved(
        self, msg: PBCI, hnps: list[Net], loc: Location, now: float, fx: Effects, may_relay: bool = True
    ) -> set[str]:
        """Local MNs that moved on took the MN's location with them (our PBCA): their new eMAGs
        get the news too - once per move (``may_relay``: a PBCI of a move handled already is not
        relayed again, or eMAGs holding such MNs would pass it around forever).  Returns them (they
        hold the location from now on)."""
        relayed: set[str] = set()
        for hnp in hnps:
            for dep in self._departed_with(hnp):
                if dep.mn_id == msg.mn_id or hnp not in dep.correspondents:
                    continue
                dep.correspondents[hnp] = loc
                self.changed.add(dep.mn_id)
                if may_relay and dep.new_switch is not None and dep.new_switch not in (loc.switch, msg.src):
                    self.stats.count("dmf_pbci_relayed")
                    relay = PBCI(src=self.name, dst=dep.new_switch, seq=self.seq.next(), mn_id=msg.mn_id,
                                 hnps=msg.hnps, new_coa=msg.new_coa, timestamp=msg.timestamp)  # fmt: skip
                    self._send_pbci(relay, now, fx)
                    relayed.add(dep.new_switch)
        return relayed

    def _record_holds(self, msg: PBCI, loc: Location) -> None:
        """``holds``: the moving MN's new eMAG holds these local endpoints' locations from now on
        (they were its correspondents), so it is told when they move or leave."""
        for held in msg.holds:
            try:
                prefix = ipaddress.IPv6Network(held)
            except ValueError:
                continue
            if loc.switch == self.name:
                continue
            key = self.endpoints.key_for_prefix(prefix)
            if key is not None:
                self.holders.setdefault(key, set()).add(loc.switch)
                self.changed.add(key)
                continue
            for dep in self.departed.values():  # our endpoint has left: its withdrawal must reach it too
                if prefix in dep.hnps and dep.new_switch is None:
                    dep.holders.add(loc.switch)
                    self.changed.add(dep.mn_id)
                    if dep.withdrawn and loc.switch not in dep.withdrawn_from:
                        dep.withdrawn = False  # told at the next tick
                        self._recheck(dep)

    def _as_correspondent(
        self, msg: PBCI, hnps: list[Net], loc: Location, now: float, fx: Effects, may_relay: bool = True
    ) -> None:
        """A correspondent's DRF: re-point, relay for local MNs that moved on, acknowledge."""
        repointed = 0
        for hnp in hnps:
            repointed += self.drf.learn(hnp, loc, fx)
        relayed = self._relay_to_moved(msg, hnps, loc, now, fx, may_relay)
        self._record_holds(msg, loc)
        if repointed and msg.timestamp > 0:
            # the PBCI's timestamp is the MN's attach time at n-eMAG: attach -> correspondent updated
            self.stats.latency("handoff_reroute", max(self.view.now_stamp(now) - msg.timestamp, 0.0))
        self.stats.count("dmf_correspondent_updated")
        # the ack names the DRFs we relayed to: the MN's eMAG must tell them of its next move too
        fx.send(PBCA(src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=int(Status.ACCEPTED),
                     holders=self._addresses(relayed)))  # fmt: skip

    def _withdrawn(self, msg: PBCI, now: float, fx: Effects) -> Effects:
        """The MN's p-eMAG lost it and heard of no new eMAG (it moved to a legacy MAG, §6, or
        left): forget its location, so local MNs fall back to PMIP routing and ask again."""
        try:
            hnps = [ipaddress.IPv6Network(h) for h in msg.hnps]
        except ValueError:
            hnps = []
        if not hnps:
            self._reject(msg, "PBCI withdrawal without an HNP", fx)
            return fx
        relay_to: set[str] = set()
        dep = self.departed.get(msg.mn_id)
        if dep is not None and dep.new_switch == msg.src:
            # the eMAG we redirected the MN to lost it too: every DRF we told of that move (our
            # PBCIs) must forget it, and the redirect goes
            relay_to |= dep.told_of_move - {self.name, msg.src}
            redirect = self.redirects.pop(msg.mn_id, None)
            if redirect is not None:
                self._remove_redirect(redirect, fx)
            self.changed.add(msg.mn_id)
        for hnp in hnps:
            loc = self.drf.location.get(hnp)
            if loc is not None and loc.switch == self.name:
                continue  # the MN is attached here by now: the withdrawal is stale
            self.drf.forget(hnp)
            self.drf.drop_direct(hnp, fx)
            for dep in self._departed_with(hnp):
                # a local MN that moved on took this location with it (our PBCA handed it over):
                # its new eMAG must lose it too
                if hnp in dep.correspondents and dep.new_switch not in (None, self.name, msg.src):
                    relay_to.add(str(dep.new_switch))
        for switch in sorted(relay_to):
            self.stats.count("dmf_withdrawal_relayed")
            relay = PBCI(src=self.name, dst=switch, seq=self.seq.next(), mn_id=msg.mn_id, hnps=msg.hnps,
                         new_coa="", timestamp=msg.timestamp)  # fmt: skip
            self._send_pbci(relay, now, fx)
        self.stats.count("dmf_location_withdrawn")
        self._ack(msg, Status.ACCEPTED, fx)
        return fx

    def on_pbca(self, msg: PBCA, now: float) -> Effects:
        fx = Effects()
        self.changed.add(msg.mn_id)
        self.outstanding.answered((msg.mn_id, msg.src))
        redirect = self.redirects.get(msg.mn_id)
        if redirect is not None and msg.src in redirect.awaiting:
            redirect.awaiting.discard(msg.src)
            if not redirect.awaiting:
                redirect.remove_at = now + REDIRECT_HOLD
            return fx
        if msg.src in self.told.get(msg.mn_id, set()):
            self.told[msg.mn_id].discard(msg.src)  # a holder we told ourselves (no p-eMAG) acknowledged
            if msg.holders and self.endpoints.endpoint(msg.mn_id) is not None:
                self.holders.setdefault(msg.mn_id, set()).update(self._names(msg.holders))  # it relayed to them
                self.changed.add(msg.mn_id)
            return fx
        dep = self.departed.get(msg.mn_id)
        if dep is not None and dep.previous == msg.src and dep.new_switch is None:
            # the PBCA to our PBCI came after the MN left here again: the DRFs it names hold the
            # location we gave them (through p-eMAG), so they must be told it is gone too
            dep.holders |= self._names(msg.holders)
            if dep.withdrawn and not dep.holders <= dep.withdrawn_from:
                dep.withdrawn = False  # told at the next tick
                self._recheck(dep)
            return fx
        ep = self.endpoints.endpoint(msg.mn_id)
        if ep is None or not ep.daf:
            return fx
        if self.previous.get(msg.mn_id) != msg.src:
            # only the p-eMAG this node told of the move may hand it correspondents' locations
            self.stats.count("rejected_unexpected_pbca")
            return fx
        started = self.handoff_started.pop(msg.mn_id, None)
        if started is not None:
            self.stats.latency("handoff_pbca", now - started)
        self.holders.setdefault(ep.key, set()).update(self._names(msg.holders))
        for entry in msg.correspondents:
            try:
                prefix = ipaddress.IPv6Network(entry.get("prefix", ""))
            except ValueError:
                continue
            known = self.drf.location.get(prefix)
            loc = known if known is not None and known.source in ("pbci", "local") else None
            loc = loc or self.drf.location_from(entry.get("coa", ""), "pbca", now)
            if loc is None:
                continue
            if loc is not known:  # the cache (REST view, resync, other MNs' entries) follows the flow
                self.drf.learn(prefix, loc, fx)
            self.drf.direct(ep, prefix, loc, fx)
        return fx

    # ------------------------------------------------------------ timers and state

    def _set_departed(self, dep: Departed) -> None:
        old = self.departed.get(dep.mn_id)
        if old is None:
            self._places += 1
            self._departed_place[dep.mn_id] = self._places
        else:  # replaced in place: it keeps its place in the dict, and so in the index
            self._unindex(old)
        self.departed[dep.mn_id] = dep
        place = self._departed_place[dep.mn_id]
        for wait in (PBCI_WAIT, DEPARTED_KEEP):
            heapq.heappush(self._departed_due, (dep.departed_at + wait, place, dep.mn_id, dep.departed_at, wait))
        for prefix in dep.correspondents:
            self._departed_by_prefix.setdefault(prefix, set()).add(dep.mn_id)

    def _pop_departed(self, mn_id: str) -> Departed | None:
        dep = self.departed.pop(mn_id, None)
        if dep is not None:
            self._unindex(dep)
            del self._departed_place[mn_id]
        return dep

    def _unindex(self, dep: Departed) -> None:
        for prefix in dep.correspondents:
            ids = self._departed_by_prefix.get(prefix)
            if ids is not None:
                ids.discard(dep.mn_id)
                if not ids:
                    del self._departed_by_prefix[prefix]

    def _recheck(self, dep: Departed) -> None:
        """Have the next tick look at ``dep`` again (its withdrawal was undone: more to tell)."""
        place = self._departed_place[dep.mn_id]
        heapq.heappush(self._departed_due, (dep.departed_at + PBCI_WAIT, place, dep.mn_id, dep.departed_at, PBCI_WAIT))

    def _due_departures(self, now: float) -> list[tuple[str, Departed]]:
        """The departures whose withdrawal or forgetting may be due, in ``departed``'s order (the
        conditions are checked by the caller, exactly as when every departure was looked at)."""
        due: dict[str, Departed] = {}
        later = []
        heap = self._departed_due
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            _, place, mn_id, departed_at, wait = entry
            dep = self.departed.get(mn_id)
            if dep is None or dep.departed_at != departed_at or self._departed_place[mn_id] != place:
                continue  # gone, or replaced (the new record has its own entries)
            due[mn_id] = dep
            if wait == PBCI_WAIT:
                done = now - departed_at >= PBCI_WAIT  # (withdrawn now, or never: a PBCI came)
            else:
                done = now - departed_at > DEPARTED_KEEP and mn_id not in self.redirects
            if not done:
                later.append(entry)  # look again at the next tick
        for entry in later:
            heapq.heappush(heap, entry)
        return sorted(due.items(), key=lambda kv: self._departed_place[kv[0]])

    def _departed_with(self, prefix: Net) -> list[Departed]:
        """The departed MNs that had ``prefix`` as a correspondent, in ``departed``'s order."""
        ids = self._departed_by_prefix.get(prefix)
        if not ids:
            return []
        return [self.departed[m] for m in sorted(ids, key=self._departed_place.__getitem__)]

    def _remove_redirect(self, redirect: Redirect, fx: Effects) -> None:
        obj = self.endpoints.obj_of(redirect.mn_id)
        for hnp in redirect.hnps:
            fx.flow(flows.delete_redirect(self.view.dpid, obj, hnp))
        self.stats.count("dmf_redirect_removed")

    def tick(self, now: float) -> Effects:
        fx = Effects()
        for mn_id, redirect in list(self.redirects.items()):
            if redirect.remove_at <= now:
                del self.redirects[mn_id]
                self.changed.add(mn_id)
                self._remove_redirect(redirect, fx)
        for mn_id, dep in self._due_departures(now):
            if now - dep.departed_at > DEPARTED_KEEP and mn_id not in self.redirects:
                self._pop_departed(mn_id)
                self.changed.add(mn_id)
            elif dep.new_switch is None and not dep.withdrawn and now - dep.departed_at >= PBCI_WAIT:
                dep.withdrawn = True
                self.changed.add(mn_id)
                told = ({c.switch for c in dep.correspondents.values()} | dep.holders) - {self.name}
                told -= dep.withdrawn_from
                dep.withdrawn_from |= told
                # stamped with the departure, not now: a PBCI for the MN's next attachment (stamped
                # with its attach time) that comes late must still win over this withdrawal
                dep.withdrawn_stamp = self.view.now_stamp(dep.departed_at)
                for switch in sorted(told):
                    pbci = PBCI(
                        src=self.name, dst=switch, seq=self.seq.next(), mn_id=mn_id,
                        hnps=[str(h) for h in dep.hnps], new_coa="", timestamp=dep.withdrawn_stamp,
                    )  # fmt: skip
                    self._send_pbci(pbci, now, fx)
                for hnp in dep.hnps:
                    loc = self.drf.location.get(hnp)
                    if loc is not None and loc.switch == self.name:
                        self.drf.forget(hnp)
                    self.drf.drop_direct(hnp, fx)
        resend, gave_up = self.outstanding.due(now)
        for msg in resend:
            self.stats.count("dmf_pbci_resent")
            self.changed.add(getattr(msg, "mn_id", ""))
            fx.send(msg)
        for _, msg in gave_up:
            self.changed.add(getattr(msg, "mn_id", ""))
            self.stats.count("dmf_pbci_unanswered")
            LOG.warning("%s: no PBCA from %s for %s after %d tries", self.name, msg.dst, getattr(msg, "mn_id", ""),
                        PBCI_TRIES)  # fmt: skip
        return fx

    def resync(self) -> Effects:
        fx = Effects()
        for redirect in self.redirects.values():
            label, port = self.view.tunnel_to(redirect.to_switch)
            if label is None or port is None:
                continue
            for hnp in redirect.hnps:
                fx.flow(flows.install_redirect(self.view.dpid, self.endpoints.obj_of(redirect.mn_id), hnp, label, port))
        return fx

    def to_json(self) -> dict[str, object]:
        return {
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

    # ------------------------------------------------------------ persistence (controller/store.py)

    def mark_all(self) -> None:
        """Every record is to be written (a store attached to a running controller, tests)."""
        for keys in (self.redirects, self.departed, self.handoff_started, self.holders, self.pbci_stamps,
                     self.arrived_at, self.previous, self.told):  # fmt: skip
            self.changed.update(keys)
        self.changed.update(k[0] for k in self.outstanding.pending if isinstance(k, tuple))

    def dump(self, key: str, epoch: float) -> dict[str, Any] | None:
        """Everything this DMF keeps about one MN (or local endpoint): its redirect, its departure,
        the holders of its location, its PBCI replay window, its arrival.  Wall-clock times."""
        redirect = self.redirects.get(key)
        dep = self.departed.get(key)
        rec: dict[str, Any] = {
            "redirect": None if redirect is None else {
                "hnps": [str(h) for h in redirect.hnps], "to_switch": redirect.to_switch,
                "installed_at": redirect.installed_at + epoch, "awaiting": sorted(redirect.awaiting),
                "remove_at": redirect.remove_at + epoch, "told": sorted(redirect.told),
            },
            "departed": None if dep is None else {
                "hnps": [str(h) for h in dep.hnps],
                "correspondents": {str(p): location_record(c, epoch) for p, c in dep.correspondents.items()},
                "departed_at": dep.departed_at + epoch, "holders": sorted(dep.holders),
                "new_switch": dep.new_switch, "withdrawn": dep.withdrawn,
                "withdrawn_from": sorted(dep.withdrawn_from), "withdrawn_stamp": dep.withdrawn_stamp,
                "previous": dep.previous, "told_of_move": sorted(dep.told_of_move),
            },
            "handoff_started": self.handoff_started[key] + epoch if key in self.handoff_started else None,
            "holders": sorted(self.holders[key]) if key in self.holders else None,
            "pbci_stamp": self.pbci_stamps.get(key),  # timestamps are wall-clock already
            "arrived_at": self.arrived_at.get(key),
            "previous": self.previous.get(key),
            "told": sorted(self.told[key]) if key in self.told else None,
            # PBCIs about the MN awaiting their PBCA: sent again on their back-off after a restart
            "outstanding": self.outstanding.dump(lambda k: isinstance(k, tuple) and k[0] == key, epoch) or None,
        }  # fmt: skip
        return rec if any(v is not None for v in rec.values()) else None

    def load(self, key: str, rec: dict[str, Any], epoch: float) -> None:
        r = rec.get("redirect")
        if r is not None:
            self.redirects[key] = Redirect(
                key, [ipaddress.IPv6Network(h) for h in r["hnps"]], r["to_switch"], float(r["installed_at"]) - epoch,
                set(r["awaiting"]), float(r["remove_at"]) - epoch, set(r["told"]),
            )  # fmt: skip
        d = rec.get("departed")
        if d is not None:
            self._set_departed(Departed(
                key, [ipaddress.IPv6Network(h) for h in d["hnps"]],
                {ipaddress.IPv6Network(p): location_from_record(c, epoch) for p, c in d["correspondents"].items()},
                float(d["departed_at"]) - epoch, set(d["holders"]), d["new_switch"], bool(d["withdrawn"]),
                set(d.get("withdrawn_from", ())), float(d.get("withdrawn_stamp", 0.0)), d.get("previous"),
                set(d.get("told_of_move", ())),
            ))  # fmt: skip
        if rec.get("handoff_started") is not None:
            self.handoff_started[key] = float(rec["handoff_started"]) - epoch
        if rec.get("holders") is not None:
            self.holders[key] = set(rec["holders"])
        if rec.get("pbci_stamp") is not None:
            self.pbci_stamps[key] = float(rec["pbci_stamp"])
        if rec.get("arrived_at") is not None:
            self.arrived_at[key] = float(rec["arrived_at"])
        if rec.get("previous") is not None:
            self.previous[key] = str(rec["previous"])
        if rec.get("told") is not None:
            self.told[key] = set(rec["told"])
        if rec.get("outstanding"):
            self.outstanding.load(rec["outstanding"], epoch)
