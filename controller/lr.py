"""RFC 6705 localized routing (mode ``lr``), the baseline the draft compares itself with (§9).

The LMA sees the traffic: its binding flows also punt a copy of each packet's headers.  When both
ends of a conversation are MNs it anchors, attached to different MAGs, it sends each MAG an LRI
naming the peer's HNP and MAG; each MAG installs a MAG-MAG tunnel entry and answers an LRA.  After
a handoff the LMA, on the new PBU, sends LRIs again to the MN's new MAG and to the peer's MAG - the
peer's MAG keeps sending to the old MAG until its LRI arrives.  MNs anchored at different LMAs
(scenario A22) are never localized: PMIPv6 has no interface between LMAs.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from controller.binding_cache import ACTIVE, BindingCacheEntry
from controller.messages import LRA, LRI, Status
from openflow_rules import flows
from openflow_rules.pipeline import Fn

if TYPE_CHECKING:
    from controller.lma import LmaFunction

LOG = logging.getLogger("epmip.lr")


class LrLma:
    def __init__(self, lma: LmaFunction) -> None:
        self.lma = lma
        self.ctl = lma.ctl
        self.pairs: dict[frozenset[str], str] = {}  # {mn_a, mn_b} -> "initiated" | "established"
        self.quiet: dict[str, set[ipaddress.IPv6Network]] = {}  # dst mn -> source /64s not punted

    def on_punt(self, src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, now: float) -> None:
        dst_bce = self.lma.cache.lookup(dst)
        if dst_bce is None or dst_bce.state != ACTIVE:
            return
        src_bce = self.lma.cache.lookup(src)
        src_prefix = ipaddress.IPv6Network((int(src) >> 64 << 64, 64))
        self._quiet(dst_bce, src_prefix)  # one punt per source prefix and destination is enough
        if src_bce is None or src_bce.state != ACTIVE or src_bce.coa == dst_bce.coa:
            self.ctl.counters["lr_not_applicable"] += 1
            return
        if not all(self._is_mag(b) for b in (src_bce, dst_bce)):
            return
        pair = frozenset((src_bce.mn_id, dst_bce.mn_id))
        if pair in self.pairs:
            return
        self.pairs[pair] = "initiated"
        self.ctl.counters["lr_initiated"] += 1
        self._initiate(src_bce, dst_bce, now)

    def _is_mag(self, bce: BindingCacheEntry) -> bool:
        sw = self.ctl.domain.switch_by_address(bce.coa)
        return sw is not None and sw.is_mag

    def _initiate(self, a: BindingCacheEntry, b: BindingCacheEntry, now: float) -> None:
        for mn, peer in ((a, b), (b, a)):
            mag = self.ctl.domain.switch_by_address(mn.coa)
            self.ctl.bus.send(
                LRI(src=self.lma.name, dst=mag.name, seq=self.ctl.bus.next_seq(), mn_id=mn.mn_id,
                    hnps=[str(h) for h in mn.hnps], peer_mn_id=peer.mn_id, peer_hnps=[str(h) for h in peer.hnps],
                    peer_mag=str(peer.coa), lifetime=mn.lifetime),
                now,
            )  # fmt: skip

    def on_lra(self, msg: LRA, now: float) -> None:
        pair = frozenset((msg.mn_id, msg.peer_mn_id))
        if pair in self.pairs and msg.status == Status.ACCEPTED:
            self.pairs[pair] = "established"
        elif pair in self.pairs:
            del self.pairs[pair]  # refused: the traffic stays on the LMA path

    def on_moved(self, bce: BindingCacheEntry, now: float) -> None:
        """RFC 6705 after a handoff: re-establish every localized route of the MN that moved."""
        for pair in [p for p in self.pairs if bce.mn_id in p]:
            (peer_id,) = pair - {bce.mn_id}
            peer = self.lma.cache.get(peer_id)
            if peer is None or peer.state != ACTIVE:
                del self.pairs[pair]
                continue
            # (on the same MAG the LRIs name that MAG itself: it delivers locally, and the pair is
            # kept so that the next move localizes it again)
            self.pairs[pair] = "initiated"
            self.ctl.counters["lr_reestablished"] += 1
            self._initiate(bce, peer, now)

    def departing(self, bce: BindingCacheEntry) -> None:
        """The MN was de-registered and its binding now drops: so must the per-source flows
        (they are above the binding flow and would still tunnel to the old MAG, which routes the
        packets back here - a loop).  The pairs are kept for a re-registration."""
        if self.quiet.pop(bce.mn_id, None):
            self.ctl.emit(flows.delete_drf_of_mn(self.lma.switch.dpid, self.ctl.mn_index[bce.mn_id], Fn.LR))

    def forget(self, mn_id: str) -> None:
        for pair in [p for p in self.pairs if mn_id in p]:
            del self.pairs[pair]
        self.quiet.pop(mn_id, None)

    # ------------------------------------------------------------ LMA flows

    def _quiet(self, dst: BindingCacheEntry, src_prefix: ipaddress.IPv6Network) -> None:
        known = self.quiet.setdefault(dst.mn_id, set())
        if src_prefix not in known:
            known.add(src_prefix)
            self._emit_quiet(dst, src_prefix)

    def _emit_quiet(self, dst: BindingCacheEntry, src_prefix: ipaddress.IPv6Network) -> None:
        mag = self.ctl.domain.switch_by_address(dst.coa)
        port = self.ctl.topo.port_toward(self.lma.name, mag.name)
        obj = self.ctl.mn_index[dst.mn_id]
        cid = self.ctl.correspondent_id(src_prefix)
        for hnp in dst.hnps:
            self.ctl.emit(flows.install_lr_quiet(self.lma.switch.dpid, obj, cid, src_prefix, hnp, mag.label, port))

    def reprogram(self, bce: BindingCacheEntry) -> None:
        """The MN's CoA changed: its quiet flows must tunnel to the new MAG too."""
        for src_prefix in self.quiet.get(bce.mn_id, ()):
            self._emit_quiet(bce, src_prefix)
