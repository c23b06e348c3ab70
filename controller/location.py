"""An independent Location Management Function (draft §7.1, §7.2, §7.4): deployment ``lma_daf``.

In the §7 deployment the LMF is not part of an LMA.  Every eLMA(DRF) reports where its MNs are
with a Location Update Request (LUR: HNPs -> the eLMA's own address) and asks for a
correspondent's location with a PBQR, always to its *preferred* LMF.  The LMF responsible for an
HNP is chosen by consistent hashing of the HNP over every LMF of the domain (``controller/ring.py``);
a preferred LMF that is not responsible relays the request to the one that is and passes the answer
back (the interface between LMFs, §7.4), as an eLMA does for §4.4.3.

The responsible LMF keeps HNP -> (MN, eLMA address, lifetime).  Its answer to an update (LUA)
carries the location it held before - the eLMA the MN came from, whose DMF the new eLMA(DRF) then
informs (§7.2, as a PBA's previous CoA does in §4.3) - and the DRFs it gave the location to (the
*holders*, who must be told of the move).  An update older than the one it holds (timestamp) is
refused; a withdrawal (lifetime 0) counts only from the eLMA the location names, so a late one from
an eLMA the MN has left changes nothing.

For an address outside the ePMIP area's prefix set - or in a fixed network behind the border
gateway - the answer is the border gateway with DRF (§7.3: MN <-> MAG <-> eLMA <-> BG+DRF <-> CN).
For a fixed network inside the area there is no location to give (``NO_LOCATION``): the DRF keeps
plain routing toward it, and the CN's traffic toward an MN is attracted by the nearest router with
DRF that announces the area (anycast).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from controller.effects import Effects, Sequence, Stats
from controller.messages import LUA, LUR, PBQA, PBQR, Message, Status
from controller.ring import HashRing
from controller.view import View, prefix_of

LOG = logging.getLogger("epmip.location")
RELAY_HOLD = 5.0  # seconds a relayed request waits for the responsible LMF's answer

Net = ipaddress.IPv6Network


@dataclass
class Located:
    mn_id: str
    hnps: list[Net]
    coa: str  # the serving eLMA(DRF)'s address
    expires_at: float
    timestamp: float


@dataclass
class Relay:
    asker: str
    seq: int
    kind: str  # LUR | PBQR
    key: str  # mn_id or the queried address: the answer must match it
    sent_at: float


class IndependentLmf:
    def __init__(self, view: View, stats: Stats, seq: Sequence) -> None:
        self.view = view
        self.stats = stats
        self.seq = seq
        self.ring = HashRing(view.lmfs)
        self.located: dict[Net, Located] = {}  # HNP -> where its MN is
        self.holders: dict[str, dict[str, float]] = {}  # mn_id -> {DRF address: until}
        self.relays: dict[int, Relay] = {}  # our seq -> the request we relayed

    @property
    def name(self) -> str:
        return self.view.name

    def responsible(self, prefix: Net) -> str | None:
        return self.ring.owner_of_prefix(prefix)

    def handle(self, msg: Message, now: float) -> Effects | None:
        if isinstance(msg, LUR):
            return self.on_lur(msg, now)
        if isinstance(msg, PBQR):
            return self.on_pbqr(msg, now)
        if isinstance(msg, (LUA, PBQA)) and msg.seq in self.relays:
            return self._relay_back(msg)
        return None

    # ------------------------------------------------------------ relaying (§7.4)

    def _relay(self, msg: LUR | PBQR, owner: str, key: str, now: float, fx: Effects) -> None:
        seq = self.seq.next()
        self.relays[seq] = Relay(msg.src, msg.seq, msg.TYPE, key, now)
        self.stats.count("lmf_update_relayed" if isinstance(msg, LUR) else "lmf_query_relayed")
        if isinstance(msg, LUR):
            fx.send(LUR(src=self.name, dst=owner, seq=seq, mn_id=msg.mn_id, hnps=msg.hnps, coa=msg.coa,
                        lifetime=msg.lifetime, timestamp=msg.timestamp))  # fmt: skip
        else:
            fx.send(PBQR(src=self.name, dst=owner, seq=seq, address=msg.address, requester=msg.requester))

    def _relay_back(self, msg: LUA | PBQA) -> Effects:
        fx = Effects()
        relay = self.relays[msg.seq]
        key = msg.mn_id if isinstance(msg, LUA) else msg.address
        if relay.kind != msg.TYPE.replace("LUA", "LUR").replace("PBQA", "PBQR") or relay.key != key:
            self.stats.count("rejected_unmatched_relay_answer")
            return fx
        del self.relays[msg.seq]
        if isinstance(msg, LUA):
            fx.send(LUA(src=self.name, dst=relay.asker, seq=relay.seq, mn_id=msg.mn_id, status=msg.status,
                        previous_coa=msg.previous_coa, holders=msg.holders))  # fmt: skip
        else:
            fx.send(PBQA(src=self.name, dst=relay.asker, seq=relay.seq, address=msg.address, status=msg.status,
                         coa=msg.coa, hnps=msg.hnps, lifetime=msg.lifetime))  # fmt: skip
        return fx

    # ------------------------------------------------------------ location updates (§7.2)

    def on_lur(self, msg: LUR, now: float) -> Effects:
        fx = Effects()
        try:
            hnps = [ipaddress.IPv6Network(h) for h in msg.hnps]
        except ValueError:
            hnps = []
        if not hnps or not all(self.view.in_area(h) for h in hnps):
            return self._lua(msg, Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX, fx)
        owner = self.responsible(hnps[0])
        if owner is not None and owner != self.name:
            self._relay(msg, owner, msg.mn_id, now, fx)
            return fx
        known = self.located.get(hnps[0])
        if known is not None and known.mn_id == msg.mn_id and msg.timestamp < known.timestamp:
            self.stats.count("lmf_update_stale")
            return self._lua(msg, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED, fx)
        if msg.lifetime == 0:  # withdrawal: only from the eLMA the location names
            if known is not None and known.coa == msg.coa:
                for h in known.hnps:
                    self.located.pop(h, None)
                self.stats.count("lmf_location_withdrawn")
            return self._lua(msg, Status.ACCEPTED, fx)
        previous = known.coa if known is not None and known.mn_id == msg.mn_id and known.coa != msg.coa else ""
        entry = Located(msg.mn_id, hnps, msg.coa, now + msg.lifetime, msg.timestamp)
        for h in hnps:
            self.located[h] = entry
        self.stats.count("lmf_location_moved" if previous else "lmf_location_updated")
        return self._lua(msg, Status.ACCEPTED, fx, previous=previous, holders=self.holders_of(msg.mn_id, now))

    def _lua(
        self, msg: LUR, status: Status, fx: Effects, previous: str = "", holders: list[str] | None = None
    ) -> Effects:
        fx.send(LUA(src=self.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=int(status),
                    previous_coa=previous, holders=holders or []))  # fmt: skip
        return fx

    def holders_of(self, mn_id: str, now: float) -> list[str]:
        known = self.holders.get(mn_id, {})
        for address, until in list(known.items()):
            if until <= now:
                del known[address]
        return sorted(known)

    # ------------------------------------------------------------ queries (§7.2, §7.3)

    def on_pbqr(self, msg: PBQR, now: float) -> Effects:
        fx = Effects()
        try:
            address = ipaddress.IPv6Address(msg.address)
        except ValueError:
            return self._pbqa(msg, None, fx)
        view = self.view
        if not view.in_area(address):
            net = view.fixed_network_of(address)
            router = view.peer(net.router) if net is not None else None
            if router is not None and router.role != "bg_drf":
                self.stats.count("lmf_query_fixed_inside")
                return self._pbqa(msg, None, fx)  # inside, fixed: plain routing reaches it
            border = view.peer(view.border) if view.border is not None else None
            self.stats.count("lmf_query_outside")
            return self._pbqa(msg, str(border.address) if border else None, fx, lifetime=view.timers.binding_lifetime)
        prefix = prefix_of(address)
        owner = self.responsible(prefix)
        if owner is not None and owner != self.name:
            self._relay(msg, owner, msg.address, now, fx)
            return fx
        entry = self.located.get(prefix)
        if entry is None or entry.expires_at <= now:
            self.stats.count("lmf_query_no_location")
            return self._pbqa(msg, None, fx)
        self.stats.count("lmf_query")
        lifetime = entry.expires_at - now
        if msg.requester:
            self.holders.setdefault(entry.mn_id, {})[msg.requester] = entry.expires_at
        return self._pbqa(msg, entry.coa, fx, [str(h) for h in entry.hnps], lifetime)

    def _pbqa(
        self, msg: PBQR, coa: str | None, fx: Effects, hnps: list[str] | None = None, lifetime: float = 0.0
    ) -> Effects:
        fx.send(PBQA(src=self.name, dst=msg.src, seq=msg.seq, address=msg.address,
                     status=int(Status.ACCEPTED if coa else Status.NO_LOCATION), coa=coa or "",
                     hnps=hnps or [], lifetime=lifetime if coa else 0.0))  # fmt: skip
        return fx

    # ------------------------------------------------------------ timers, state

    def tick(self, now: float) -> Effects:
        for seq, relay in list(self.relays.items()):
            if now - relay.sent_at >= RELAY_HOLD:
                del self.relays[seq]
                self.stats.count("lmf_relay_expired")
        for prefix, entry in list(self.located.items()):
            if entry.expires_at <= now:
                del self.located[prefix]
                self.stats.count("lmf_location_expired")
        return Effects()

    def to_json(self) -> dict[str, object]:
        return {
            "locations": [
                {"hnp": str(p), "mn_id": e.mn_id, "coa": e.coa, "expires_at": e.expires_at}
                for p, e in sorted(self.located.items(), key=lambda kv: str(kv[0]))
            ],
        }
