"""RFC 6705 localized routing (mode ``lr``), the baseline the draft compares itself with (§9).

LMA side (``LrLma``): the LMA sees the traffic - its binding flows also punt a copy of each
packet's headers.  When both ends of a conversation are MNs it anchors, attached to different
MAGs, it sends each MAG an LRI naming the peer's HNP and MAG; each MAG installs a MAG-MAG tunnel
entry and answers an LRA.  After a handoff the LMA, on the new PBU, sends LRIs again to the MN's
new MAG and to the peer's MAG - the peer's MAG keeps sending to the old MAG until its LRI arrives.
MNs anchored at different LMAs (scenario A22) are never localized: PMIPv6 has no interface
between LMAs.

MAG side (``lr_entries``): the flows a MAG installs for an LRI - the same entries as a DRF's.
"""

from __future__ import annotations

import ipaddress
import logging

from controller.binding_cache import ACTIVE, BindingCache, BindingCacheEntry
from controller.effects import Effects, Numbering, Sequence, Stats
from controller.messages import LRA, LRI, Status
from controller.view import View, prefix_of
from openflow_rules import flows
from openflow_rules.intents import FlowMod
from openflow_rules.pipeline import Fn

LOG = logging.getLogger("epmip.lr")


class LrLma:
    def __init__(self, view: View, cache: BindingCache, stats: Stats) -> None:
        self.view = view
        self.cache = cache
        self.stats = stats
        self.seq = Sequence()
        self.pairs: dict[frozenset[str], str] = {}  # {mn_a, mn_b} -> "initiated" | "established"
        self.quiet: dict[str, set[ipaddress.IPv6Network]] = {}  # dst mn -> source /64s not punted
        self.cids = Numbering()  # source prefix -> number in LR flow cookies

    def on_punt(self, src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, now: float) -> Effects:
        fx = Effects()
        dst_bce = self.cache.lookup(dst)
        if dst_bce is None or dst_bce.state != ACTIVE:
            return fx
        src_bce = self.cache.lookup(src)
        self._quiet(dst_bce, prefix_of(src), fx)  # one punt per source prefix and destination is enough
        if src_bce is None or src_bce.state != ACTIVE or src_bce.coa == dst_bce.coa:
            self.stats.count("lr_not_applicable")
            return fx
        if not all(self._is_mag(b) for b in (src_bce, dst_bce)):
            return fx
        pair = frozenset((src_bce.mn_id, dst_bce.mn_id))
        if pair in self.pairs:
            return fx
        self.pairs[pair] = "initiated"
        self.stats.count("lr_initiated")
        return fx.merge(self._initiate(src_bce, dst_bce))

    def _is_mag(self, bce: BindingCacheEntry) -> bool:
        peer = self.view.peer_at(bce.coa)
        return peer is not None and peer.is_mag

    def _initiate(self, a: BindingCacheEntry, b: BindingCacheEntry) -> Effects:
        fx = Effects()
        for mn, peer in ((a, b), (b, a)):
            mag = self.view.peer_at(mn.coa)
            if mag is None:
                continue
            fx.send(
                LRI(src=self.view.name, dst=mag.name, seq=self.seq.next(), mn_id=mn.mn_id,
                    hnps=[str(h) for h in mn.hnps], peer_mn_id=peer.mn_id, peer_hnps=[str(h) for h in peer.hnps],
                    peer_mag=str(peer.coa), lifetime=mn.lifetime)
            )  # fmt: skip
        return fx

    def on_lra(self, msg: LRA, now: float) -> Effects:
        pair = frozenset((msg.mn_id, msg.peer_mn_id))
        if pair in self.pairs and msg.status == Status.ACCEPTED:
            self.pairs[pair] = "established"
        elif pair in self.pairs:
            del self.pairs[pair]  # refused: the traffic stays on the LMA path
        return Effects()

    def on_moved(self, bce: BindingCacheEntry) -> Effects:
        """RFC 6705 after a handoff: re-establish every localized route of the MN that moved."""
        fx = Effects()
        for pair in [p for p in self.pairs if bce.mn_id in p]:
            (peer_id,) = pair - {bce.mn_id}
            peer = self.cache.get(peer_id)
            if peer is None or peer.state != ACTIVE:
                del self.pairs[pair]
                continue
            # (on the same MAG the LRIs name that MAG itself: it delivers locally, and the pair is
            # kept so that the next move localizes it again)
            self.pairs[pair] = "initiated"
            self.stats.count("lr_reestablished")
            fx.merge(self._initiate(bce, peer))
        return fx

    def departing(self, bce: BindingCacheEntry) -> Effects:
        """The MN was de-registered and its binding now drops: so must the per-source flows
        (they are above the binding flow and would still tunnel to the old MAG, which routes the
        packets back here - a loop).  The pairs are kept for a re-registration."""
        fx = Effects()
        obj = self.view.mn_index[bce.mn_id]
        for src_prefix in sorted(self.quiet.pop(bce.mn_id, set())):
            for hnp in bce.hnps:
                fx.flow(flows.delete_lr_quiet(self.view.dpid, obj, self.cids.of(src_prefix), src_prefix, hnp))
        return fx

    def forget(self, mn_id: str) -> Effects:
        """The MN's binding is gone."""
        for pair in [p for p in self.pairs if mn_id in p]:
            del self.pairs[pair]
        self.quiet.pop(mn_id, None)
        fx = Effects()
        fx.flow(flows.delete_drf_of_mn(self.view.dpid, self.view.mn_index[mn_id], Fn.LR))
        return fx

    # ------------------------------------------------------------ LMA flows

    def _quiet(self, dst: BindingCacheEntry, src_prefix: ipaddress.IPv6Network, fx: Effects) -> None:
        known = self.quiet.setdefault(dst.mn_id, set())
        if src_prefix not in known:
            known.add(src_prefix)
            fx.flow(*self._quiet_flows(dst, src_prefix))

    def _quiet_flows(self, dst: BindingCacheEntry, src_prefix: ipaddress.IPv6Network) -> list[FlowMod]:
        mag = self.view.peer_at(dst.coa)
        if mag is None or mag.port is None:
            return []
        obj = self.view.mn_index[dst.mn_id]
        cid = self.cids.of(src_prefix)
        return [
            flows.install_lr_quiet(self.view.dpid, obj, cid, src_prefix, hnp, mag.label, mag.port) for hnp in dst.hnps
        ]

    def reprogram(self, bce: BindingCacheEntry) -> Effects:
        """The MN's CoA changed: its quiet flows must tunnel to the new MAG too."""
        fx = Effects()
        for src_prefix in self.quiet.get(bce.mn_id, ()):
            fx.flow(*self._quiet_flows(bce, src_prefix))
        return fx


def lr_entries(
    view: View, obj: int, hnps: list[ipaddress.IPv6Network], peer_hnps: list[ipaddress.IPv6Network],
    peer_name: str, cids: Numbering,
) -> list[FlowMod]:  # fmt: skip
    """The MAG side of an LRI: ``hnps``' traffic for ``peer_hnps`` straight to the peer's MAG."""
    label, port = view.tunnel_to(peer_name)
    out = []
    for hnp in hnps:
        for peer_hnp in peer_hnps:
            out.append(flows.install_drf(view.dpid, obj, cids.of(peer_hnp), hnp, peer_hnp, label, port))
    return out


def accept_lri(view: View, msg: LRI) -> tuple[str, list[ipaddress.IPv6Network]] | None:
    """(peer MAG name, peer HNPs) of a well-formed LRI naming a MAG of this domain; else None."""
    peer = view.peer_at(msg.peer_mag)
    try:
        peer_hnps = [ipaddress.IPv6Network(h) for h in msg.peer_hnps]
    except ValueError:
        return None
    if peer is None or not peer.is_mag or not peer_hnps:
        return None
    return peer.name, peer_hnps


def lra(view: View, msg: LRI, ok: bool) -> LRA:
    status = Status.ACCEPTED if ok else Status.NOT_LMA_FOR_THIS_MOBILE_NODE
    return LRA(src=view.name, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, peer_mn_id=msg.peer_mn_id, status=int(status))
