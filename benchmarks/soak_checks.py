"""Figures and checks of the Mininet soak (``benchmarks/soak.py``): pure functions, no I/O.

* ``plan_walk``: the seeded random walk of the MNs over the access switches.
* ``direction_figures``: one direction of a UDP stream across the walk - packets lost inside the
  link-layer gaps of its two ends (sent between a move's start and the moment the moved port is on
  its new switch, the attribution ``benchmarks/handoff.py`` uses) and outside them, and the
  longest time without an arrival away from any move of its ends.
* ``stale_flows``: per-MN flows (cookie function ACCESS, DRF, REDIRECT, BUFFER) on a switch the MN
  is not attached to, and DRF/redirect/binding flows that tunnel toward a switch the MN they lead to
  is not attached to, from ``ovs-ofctl dump-flows`` as ``mininet_topos.harness.dump_flows`` parses it.
* ``path_figures``: the switches a burst crossed (table-0 counters) against the shortest path.

Times are ``time.time()`` seconds, as everywhere in the benchmarks (``benchmarks/analysis.py``).
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from controller.config import Domain
from openflow_rules.pipeline import DRF_ENDPOINT, MN_FIELD, Fn, Prio, split_cookie

Record = tuple[int, float, float]  # seq, send_time, recv_time (benchmarks/udpstream.py)
FIXED_OBJ_BASE = 0x8000  # controller/ar.py: DRF endpoints above this are fixed hosts, not MNs
PER_MN_FNS = (Fn.ACCESS, Fn.DRF, Fn.REDIRECT, Fn.BUFFER)
DRF_ROLES = ("emag", "ar_drf")
LMA_ROLES = ("elma", "lma")


# --------------------------------------------------------------------------- the walk


@dataclass(frozen=True)
class Move:
    mn: str
    source: str
    target: str

    def kind(self, domain: Domain) -> str:
        """legacy (to or from a legacy MAG), area (between eMAGs of different eLMAs) or local."""
        a, b = domain.switches[self.source], domain.switches[self.target]
        if "mag" in (a.role, b.role):
            return "legacy"
        return "area" if a.lma != b.lma else "local"


def access_switches(domain: Domain) -> list[str]:
    return sorted(s.name for s in domain.switches.values() if s.is_mag)


def plan_walk(domain: Domain, moves: int, seed: int, movers: Sequence[str] | None = None) -> list[Move]:
    """``moves`` random moves (seeded): each picks an MN and another access switch, uniformly.  So
    that even a short walk covers them, a move to a legacy MAG, a move away from one and a move
    between eLMA areas are forced when only as many moves are left as such cases are missing.
    An MN's first switch is its profile's ``attach``."""
    rng = random.Random(seed)
    names = list(movers or domain.mobile_nodes)
    where = {mn: domain.mobile_nodes[mn].attach for mn in names}
    targets = access_switches(domain)
    legacy = [s for s in targets if domain.switches[s].role == "mag"]
    emags = [s for s in targets if domain.switches[s].role == "emag"]
    goals = ["to_legacy", "from_legacy", "area"] if legacy else ["area"]
    if moves < len(goals):
        goals = goals[:moves]
    met: set[str] = set()
    walk: list[Move] = []
    for k in range(moves):
        missing = [g for g in goals if g not in met]
        forced = missing[0] if missing and moves - k <= len(missing) else None
        on_legacy = [m for m in names if where[m] in legacy]
        if forced == "from_legacy" and not on_legacy:
            forced = "to_legacy"
        if forced == "to_legacy":
            mn = rng.choice([m for m in names if where[m] not in legacy])
            target = rng.choice(legacy)
        elif forced == "from_legacy":
            mn = rng.choice(on_legacy)
            target = rng.choice(emags)
        elif forced == "area":
            mn = rng.choice([m for m in names if where[m] in emags])
            here = domain.switches[where[mn]].lma
            target = rng.choice([s for s in emags if domain.switches[s].lma != here])
        else:
            mn = rng.choice(names)
            target = rng.choice([s for s in targets if s != where[mn]])
        move = Move(mn, where[mn], target)
        kind = move.kind(domain)
        if kind == "area":
            met.add("area")
        elif target in legacy:
            met.add("to_legacy")
        elif move.source in legacy:
            met.add("from_legacy")
        where[mn] = target
        walk.append(move)
    return walk


# --------------------------------------------------------------------------- one stream direction


@dataclass
class DirectionFigures:
    sent: int
    received: int
    lost: int
    lost_in_gaps: int
    lost_outside_gaps: int
    lost_in_sender_gaps: int  # of lost_in_gaps: sent while the sender's own link was moved
    duplicates: int
    reordered: int
    longest_gap_outside_moves_ms: float | None
    longest_gap_at_moves_ms: float | None
    longest_gap_away_from_all_moves_ms: float | None = None
    longest_gap_away_from_all_moves_at: float | None = None  # when it began (time.time())
    outside_losses: list[dict] = field(default_factory=list)  # the first few, for diagnosis

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _overlaps(a: float, b: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(lo <= b and a <= hi for lo, hi in windows)


def _within(t: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(lo <= t <= hi for lo, hi in windows)


def direction_figures(
    records: Iterable[Record],
    sent_log: Iterable[Record],
    gaps: Sequence[tuple[float, float]],
    move_windows: Sequence[tuple[float, float]],
    sent_count: int | None = None,
    keep: int = 20,
    all_move_windows: Sequence[tuple[float, float]] = (),
    sender_gaps: Sequence[tuple[float, float]] = (),
) -> DirectionFigures:
    """Loss and interruptions of one direction.

    ``sent_log``: the sender's (seq, send time, 0) records; ``sent_count`` (the sender's summary)
    covers a torn end of the log.  ``gaps``: the link-layer gaps of the two ends, (move start, port on
    the new switch); a lost packet sent inside one is a link-layer loss, any other is "outside".
    ``move_windows``: the wider (hint or move start, binding seen) intervals; a time without
    arrivals that overlaps none of them is "outside moves"; ``all_move_windows`` (every MN's moves:
    in the userspace datapath a port change pauses every bridge) gives the longest one away from
    any move as well.  Arrival times of the first copy of each
    sequence number, plus the first and last send time as end points (a stream that stops dead
    shows the outage up to its end).  ``sender_gaps``: those of ``gaps`` that are the sender's own
    moves (its packets never reach a switch), to tell them from the receiver's."""
    sends = {seq: t for seq, t, _ in sent_log}
    count = max(sent_count or 0, max(sends, default=-1) + 1)
    first_arrival: dict[int, float] = {}
    duplicates = reordered = 0
    highest = -1
    for seq, sent_at, got in sorted(records, key=lambda r: r[2]):
        if not 0 <= seq < count:
            continue
        sends.setdefault(seq, sent_at)
        if seq in first_arrival:
            duplicates += 1
            continue
        first_arrival[seq] = got
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    lost = [s for s in range(count) if s not in first_arrival]
    in_gap = [s for s in lost if s in sends and _within(sends[s], gaps)]
    outside = [s for s in lost if s not in set(in_gap)]
    by_sender = [s for s in in_gap if _within(sends[s], sender_gaps)]
    detail = []
    for s in outside[:keep]:
        t = sends.get(s)
        near = min(gaps, key=lambda g: min(abs(t - g[0]), abs(t - g[1])), default=None) if t is not None else None
        detail.append({
            "seq": s, "sent_at": t,
            "nearest_gap_ms": None if near is None or t is None else round(
                1000 * (t - near[0] if t < near[0] else t - near[1]), 3),
        })  # fmt: skip
    points = sorted(first_arrival.values())
    if sends:
        points = sorted(points + [min(sends.values()), max(sends.values())])
    outside_gap = at_moves = away = away_at = None
    for a, b in zip(points, points[1:], strict=False):
        ms = 1000 * (b - a)
        if _overlaps(a, b, move_windows):
            at_moves = ms if at_moves is None else max(at_moves, ms)
        else:
            outside_gap = ms if outside_gap is None else max(outside_gap, ms)
        if not _overlaps(a, b, all_move_windows) and (away is None or ms > away):
            away, away_at = ms, a
    return DirectionFigures(
        sent=count, received=len(first_arrival), lost=len(lost), lost_in_gaps=len(in_gap),
        lost_outside_gaps=len(outside), lost_in_sender_gaps=len(by_sender), duplicates=duplicates, reordered=reordered,
        longest_gap_outside_moves_ms=outside_gap, longest_gap_at_moves_ms=at_moves,
        longest_gap_away_from_all_moves_ms=away, longest_gap_away_from_all_moves_at=away_at, outside_losses=detail,
    )  # fmt: skip


# --------------------------------------------------------------------------- flows left behind


LABEL_RE = re.compile(r"set_field:(\d+)->mpls_label")


def tunnel_label(actions: str) -> int | None:
    m = LABEL_RE.search(actions)
    return int(m.group(1)) if m else None


@dataclass
class Owners:
    """Who a prefix or cookie number belongs to, and where everyone is now."""

    mn_by_index: Mapping[int, str]  # cookie object -> MN id (controller/view.py: position in the file)
    fixed_by_index: Mapping[int, str]
    attachment: Mapping[str, str | None]  # MN or fixed host -> its switch now
    prefixes: Mapping[ipaddress.IPv6Network, str]  # HNP or fixed network (or fixed /128) -> its host

    def owner_of(self, text: str | None) -> str | None:
        if not text:
            return None
        try:
            net = ipaddress.IPv6Network(text, strict=False)
        except ValueError:
            return None
        for prefix, who in self.prefixes.items():
            if net.subnet_of(prefix) or prefix.subnet_of(net):
                return who
        return None


def stale_flows(domain: Domain, dumps: Mapping[str, list[dict]], owners: Owners) -> list[dict]:
    """Flows left behind, one dict per flow: ``switch``, ``fn``, ``mn``, ``why``, ``match``, ``actions``.

    * an ACCESS, REDIRECT, BUFFER or DRF flow whose MN (the cookie's MN, or the DRF entry's local
      endpoint) is not attached to that switch (a REDIRECT by design names an MN that left: after
      the settle time none should be left);
    * a DRF, REDIRECT or BINDING flow that tunnels toward a switch (its MPLS label) other than the
      one the host it leads to (the owner of its ``ipv6_dst``) is attached to, or a DRF entry that
      delivers locally (no label) for a host attached elsewhere;
    * a DRF fallback entry (PMIP routing through the anchors) toward a host that is attached to a
      DRF-capable switch (an eMAG or an access router with DRF): the direct route is possible.
    Drops (a de-registered binding) lead nowhere and are left out."""
    out: list[dict] = []
    by_label = {sw.label: sw.name for sw in domain.switches.values()}
    role = {sw.name: sw.role for sw in domain.switches.values()}
    for switch, flows in dumps.items():
        for f in flows:
            fn, obj = split_cookie(f["cookie"])
            if fn is None:
                continue
            why = []
            mn = None
            if fn in PER_MN_FNS:
                index = DRF_ENDPOINT.get(obj) if fn == Fn.DRF else MN_FIELD.get(obj)
                if fn == Fn.DRF and index >= FIXED_OBJ_BASE:
                    mn = owners.fixed_by_index.get(index - FIXED_OBJ_BASE)
                else:
                    mn = owners.mn_by_index.get(index)
                if mn is None or owners.attachment.get(mn) != switch:
                    why.append(f"{mn or f'object {index}'} is not attached to {switch}")
            if fn in (Fn.DRF, Fn.REDIRECT, Fn.BINDING):
                target = owners.owner_of(f["match"].get("ipv6_dst"))
                label = tunnel_label(f["actions"])
                to = by_label.get(label) if label is not None else None
                at = owners.attachment.get(target) if target else None
                if target is None or at is None or (label is None and "goto_table" not in f["actions"]):
                    pass  # a destination that is nobody's now, or a drop
                elif fn == Fn.DRF and f["priority"] == Prio.DRF_FALLBACK:
                    if role.get(at) in DRF_ROLES:
                        why.append(f"falls back to the anchors for {target}, which is on {at} (DRF-capable)")
                elif label is None and at != switch:
                    why.append(f"delivers {target} locally, but {target} is on {at}")
                elif label is not None and to != at:
                    why.append(f"tunnels toward {to} for {target}, which is on {at}")
                if fn == Fn.BINDING:
                    mn = target
            if why:
                out.append({
                    "switch": switch, "fn": fn.name, "mn": mn, "why": "; ".join(why), "table": f["table"],
                    "priority": f["priority"], "match": f["match"], "actions": f["actions"],
                    "cookie": f"{f['cookie']:#x}", "n_packets": f["n_packets"],
                })  # fmt: skip
    return out


def drf_entries(flows: Iterable[dict], sources: Sequence[str], dst: str, by_label: Mapping[int, str]) -> list[dict]:
    """The DRF entries among ``flows`` (one switch's) from any of ``sources`` (a host's addresses)
    to ``dst``: ``kind`` direct / fallback, ``to`` (the tunnel's end, None: routed here), ``n_packets``."""
    srcs = [ipaddress.IPv6Address(a) for a in sources]
    b = ipaddress.IPv6Address(dst)
    out = []
    for f in flows:
        fn, _ = split_cookie(f["cookie"])
        s, t = f["match"].get("ipv6_src"), f["match"].get("ipv6_dst")
        if fn != Fn.DRF or not s or not t or b not in ipaddress.IPv6Network(t):
            continue
        if not any(a in ipaddress.IPv6Network(s) for a in srcs):
            continue
        label = tunnel_label(f["actions"])
        kind = "fallback" if f["priority"] == Prio.DRF_FALLBACK else "direct"
        out.append({"kind": kind, "to": by_label.get(label) if label is not None else None,
                    "n_packets": f["n_packets"]})  # fmt: skip
    return out


def count_flows(dumps: Mapping[str, list[dict]]) -> dict[str, dict[str, int]]:
    """Per switch: flows by cookie function (and ``total``)."""
    out: dict[str, dict[str, int]] = {}
    for switch, flows in dumps.items():
        c: dict[str, int] = {"total": len(flows)}
        for f in flows:
            fn, _ = split_cookie(f["cookie"])
            name = fn.name if fn is not None else "other"
            c[name] = c.get(name, 0) + 1
        out[switch] = c
    return out


# --------------------------------------------------------------------------- paths


def expected_visits(paths: Iterable[tuple[Sequence[str], int]]) -> dict[str, int]:
    """Per switch, the packets that enter it if every burst (path, packets) takes its path."""
    out: dict[str, int] = {}
    for path, n in paths:
        for sw in path:
            out[sw] = out.get(sw, 0) + n
    return out


def crossed(growth: Mapping[str, int], packets: int, stray: int) -> list[str]:
    """The switches whose table-0 counters grew by about ``packets`` or more (a burst crossed them)."""
    return sorted(sw for sw, g in growth.items() if g >= packets - stray)


def summarize_losses(directions: Sequence[Mapping]) -> dict[str, int]:
    keys = (
        "sent",
        "received",
        "lost",
        "lost_in_gaps",
        "lost_in_sender_gaps",
        "lost_outside_gaps",
        "duplicates",
        "reordered",
    )
    return {k: sum(int(d.get(k) or 0) for d in directions) for k in keys}
