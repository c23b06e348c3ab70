"""The policy store (RFC 5213 §2.2): MN policy profiles, and the LMA each MN is anchored at.

An MN's profile may name its LMA or its HNPs (the domain file).  When it names neither, the first
MAG the MN attaches to chooses the LMA (§4.1: its own eLMA) and the store records that choice, so
the anchor - and with it the HNPs and the HoA - is the MN's, not the MAG's: any MAG the MN moves to
asks the store (PPQ/PPA) and registers the MN with the same LMA, as RFC 5779's AAA server does
with the LMA it assigned.  The store is a node of its own, reached by name (``policy``) on the
signalling bus.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from controller.config import MobileNode
from controller.effects import Effects, Stats
from controller.messages import PPA, PPQ, Message, Status

LOG = logging.getLogger("epmip.policy")
NAME = "policy"


class PolicyStore:
    def __init__(self, profiles: Mapping[str, MobileNode], lmas: frozenset[str]) -> None:
        self.profiles = profiles
        self.lmas = lmas
        self.stats = Stats()
        self.anchors: dict[str, str] = {}  # mn_id -> LMA chosen at its first attachment
        self.changed: set[str] = set()  # for the store: anchors chosen since it last saw them

    @property
    def name(self) -> str:
        return NAME

    def handle(self, msg: Message, now: float) -> Effects:
        fx = Effects()
        if not isinstance(msg, PPQ):
            self.stats.count("unexpected_message")
            LOG.error("policy store dropped %s from %s: it accepts only PPQ", msg.TYPE, msg.src)
            return fx
        mn = self.profiles.get(msg.mn_id)
        lma = self.anchors.get(msg.mn_id) or (mn.lma if mn is not None else None)
        if mn is None or not mn.allowed:
            status = Status.PROXY_REG_NOT_ENABLED
        elif lma is None and msg.lma not in self.lmas:
            status = Status.NOT_LMA_FOR_THIS_MOBILE_NODE
        else:
            status = Status.ACCEPTED
            if lma is None:
                lma = self.anchors[msg.mn_id] = msg.lma
                self.changed.add(msg.mn_id)
                self.stats.count("policy_anchor_chosen")
        self.stats.count("policy_query")
        fx.send(PPA(src=NAME, dst=msg.src, seq=msg.seq, mn_id=msg.mn_id, status=int(status), lma=lma or ""))
        return fx
