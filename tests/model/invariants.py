"""Domain-wide consistency of mobility state, checked by walking packets through the fake tables
and reading the controller's REST views.

Each check returns ``Violation``s named ``<invariant>.<facet>``; the letters are the brief's:

a  every attached MN is registered and keeps its HoA
   a.bound    its MAG has it bound (registration completed) on the port it is plugged into
   a.hoa      its LMA and HNPs (so its HoA: first HNP + ::10) are those of its first registration
   a.binding  exactly one active binding, at the MAG's LMA, naming that MAG, with those HNPs
b  every two attached hosts reach each other (MNs and the fixed host, both ways)
   b.reach    the packet is delivered on the destination's port
   b.extra    it is (also) delivered somewhere else, or more than once
   b.loop     it loops
c  two DRF-capable ends, once the route was set up, talk straight (checked in a copy: time
   passes until no earlier "no location" answer stands (``fallback_retry``); one packet each way
   sets the route up, the queries settle, one more packet each way (traffic goes on), then a
   packet is walked each way at once)
   c.reach    delivered
   c.anchor   the path crosses no (e)LMA
   c.length   the path has as many switches as a shortest path of the topology
d  no state points at a MAG an MN has left (checked once redirects have had their time)
   d.tunnel   a flow that tunnels an MN's HNP (DRF entry, redirect, binding, or a DRF entry that
              delivers locally) names a MAG the MN is not plugged into
   d.local    a flow of the MN's own (access, DRF entries, buffer, redirect) on a switch it is not
              plugged into (a redirect after its hold is over)
   d.cache    a DRF's location cache names, for an MN's HNP, a switch the MN is not plugged into
e  once every MN has left and every timer has run, nothing of any MN is left
   e.flows    no flow of an MN (cookie functions ACCESS/BINDING/DRF/REDIRECT/BUFFER/LR) and no
              flow matching a prefix inside an (e)LMA's pool (an HNP) remains on any switch
   e.bindings no binding cache entry remains
   e.cache    no DRF location cache entry for an HNP
   e.drf      no DRF entry (tunnel) of or toward an MN, no pending query
   e.dmf      no redirect, no departed MN
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fakeof import ForwardingLoop, Trace, switches_crossed

from controller.ar import FIXED_OBJ_BASE
from controller.dmf import DEPARTED_KEEP, PBCA_WAIT, REDIRECT_HOLD
from controller.lmf import RELAY_HOLD
from controller.mag import PBA_TIMEOUT
from model.world import LONG_TICK, SETTLE_TICK, World
from openflow_rules.intents import SetField
from openflow_rules.pipeline import DRF_ENDPOINT, LR_MN, MN_FIELD, Fn, Prio, Table, split_cookie

Net = ipaddress.IPv6Network
# A redirect lives PBCA_WAIT + REDIRECT_HOLD at most after its PBCI, which a delayed copy may bring
# up to a second late; a lost PBU is sent again PBA_TIMEOUT later.
SETTLE = max(PBCA_WAIT + REDIRECT_HOLD + 1.0, 2 * PBA_TIMEOUT) + 1.0
INVARIANTS = (
    "a.bound", "a.hoa", "a.binding", "b.reach", "b.extra", "b.loop", "c.reach", "c.anchor", "c.length",
    "d.tunnel", "d.local", "d.cache", "e.flows", "e.bindings", "e.cache", "e.drf", "e.dmf",
)  # fmt: skip


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str
    trace: str = ""

    def describe(self) -> str:
        text = f"[{self.invariant}] {self.message}"
        return f"{text}\n{self.trace}" if self.trace else text


def _on(name: str, skip: frozenset[str]) -> bool:
    """Is the check ``name`` (e.g. ``d.cache``) switched on?  ``skip`` may hold ``d.cache``
    or the whole invariant ``d``."""
    return name not in skip and name.split(".")[0] not in skip


def _hosts(world: World) -> list[str]:
    return [*world.attached_mns(), world.md.fixed_host]


# ------------------------------------------------------------------ a


def check_a(world: World) -> list[Violation]:
    out = []
    ctl = world.fake.ctl
    for mn in world.attached_mns():
        switch, port = world.fake.where[mn]
        att = world.attachment(mn)
        if att is None or world.bound(mn) is None or att.port != port:
            state = "no attachment" if att is None else f"state {att.state} on port {att.port}"
            out.append(Violation("a.bound", f"{mn} is plugged into {switch} port {port}; its MAG has {state}"))
            continue
        first = world.memory.anchor.get(mn)
        if first is not None and first != (att.lma, tuple(att.hnps)):
            hoa, was = att.hnps[0].network_address + 0x10, first[1][0].network_address + 0x10
            out.append(
                Violation(
                    "a.hoa",
                    f"{mn} at {switch} has HoA {hoa} (LMA {att.lma}, HNPs {_nets(att.hnps)}); since its first "
                    f"registration it was {was} (LMA {first[0]}, HNPs {_nets(first[1])})",
                )
            )
        active = [b for b in ctl.bindings() if b["mn_id"] == mn and b["state"] == "active"]
        coa = str(world.domain.switches[switch].address)
        ok = (
            len(active) == 1
            and active[0]["lma"] == att.lma
            and active[0]["proxy_coa"] == coa
            and active[0]["hnps"] == [str(h) for h in att.hnps]
        )
        if not ok:
            seen = [(b["lma"], b["proxy_coa"], b["hnps"]) for b in active]
            out.append(
                Violation(
                    "a.binding",
                    f"{mn} is bound at {switch} ({coa}) with LMA {att.lma} and HNPs {[str(h) for h in att.hnps]}; "
                    f"active bindings (lma, coa, hnps): {seen}",
                )
            )
    return out


def _nets(nets: object) -> str:
    return " ".join(str(n) for n in nets)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ b


def _walk(world: World, src: str, dst: str, what: str) -> tuple[Trace | None, Violation | None]:
    try:
        return world.walk(src, dst), None
    except ForwardingLoop as exc:
        return None, Violation(f"{what}.loop" if what == "b" else f"{what}.reach", f"{src} -> {dst} loops", str(exc))


def delivery(world: World, trace: Trace, src: str, dst: str, what: str) -> Violation | None:
    """The packet was delivered exactly once, on ``dst``'s port."""
    switch, port = world.fake.where[dst]
    delivered = trace.delivered()
    here = [o for o in delivered if (o.switch, o.port) == (switch, port)]
    path = " ".join(switches_crossed(trace))
    if not here:
        return Violation(f"{what}.reach", f"{src} -> {dst} (at {switch} port {port}) not delivered; path {path}",
                         trace.describe())  # fmt: skip
    if len(delivered) > 1:
        where = [(o.switch, o.port, o.why) for o in delivered]
        return Violation(f"{what}.extra", f"{src} -> {dst} delivered {len(delivered)} times: {where}", trace.describe())
    return None


def check_b(world: World) -> list[Violation]:
    out = []
    hosts = [h for h in _hosts(world) if world.address(h) is not None]
    for src in hosts:
        for dst in hosts:
            if src == dst:
                continue
            trace, loop = _walk(world, src, dst, "b")
            if loop is not None:
                out.append(loop)
            elif trace is not None:
                v = delivery(world, trace, src, dst, "b")
                if v is not None:
                    out.append(v)
    return out


# ------------------------------------------------------------------ c (changes the world: run it on a copy)


def drf_pairs(world: World) -> list[tuple[str, str]]:
    ends = [h for h in _hosts(world) if world.daf(h)]
    return [(a, b) for i, a in enumerate(ends) for b in ends[i + 1 :]]


def _fallbacks(world: World) -> bool:
    """Does some DRF still hold a "no location" entry (PMIP routing until ``fallback_retry``)?"""
    return any(
        t["kind"] == "fallback"
        for name in _drf_switches(world)
        for t in (world.fake.ctl.drf(name) or {}).get("tunnels", [])  # type: ignore[union-attr]
    )


def check_c(world: World) -> list[Violation]:
    """Sends traffic and lets time pass in ``world``: give it a copy."""
    timers = world.timers
    deadline = world.now + timers.fallback_retry + 1.0
    while world.now < deadline and _fallbacks(world):
        world.advance(LONG_TICK, LONG_TICK)
    # a pair that already talks straight needs no set-up (and its DRFs would punt nothing)
    pairs = [(a, b) for a, b in drf_pairs(world) if _straight(world, a, b) is not None or _straight(world, b, a)]
    for a, b in pairs:  # the set-up: one packet each way, the queries settle
        world.send(a, b)
        world.send(b, a)
    world.advance(timers.query_timeout * (timers.query_retries + 1) + 1.0)
    for a, b in pairs:  # the traffic goes on (a location that expired meanwhile is asked again)
        world.send(a, b)
        world.send(b, a)
    out = []
    for a, b in pairs:
        for src, dst in ((a, b), (b, a)):
            v = _straight(world, src, dst)
            if v is not None:
                out.append(v)
    return out


def _straight(world: World, src: str, dst: str) -> Violation | None:
    """None if a packet from ``src`` reaches ``dst`` on a shortest path that crosses no (e)LMA."""
    trace, loop = _walk(world, src, dst, "c")
    if loop is not None:
        return loop
    assert trace is not None
    v = delivery(world, trace, src, dst, "c")
    if v is not None:
        return v
    path = switches_crossed(trace)
    shortest = world.fake.ctl.topo.path(world.where(src), world.where(dst))  # type: ignore[arg-type]
    crossed = sorted(n for n in set(path) if world.domain.switches[n].is_lma)
    if crossed:
        return Violation("c.anchor", f"{src} -> {dst} crosses {crossed}: {' '.join(path)}", trace.describe())
    if len(path) != len(shortest):
        return Violation(
            "c.length",
            f"{src} -> {dst} crosses {' '.join(path)}, a shortest path is {' '.join(shortest)}",
            trace.describe(),
        )
    return None


# ------------------------------------------------------------------ d


def _hnp_owners(world: World) -> dict[Net, str]:
    """Every HNP any MN could hold -> that MN."""
    return {h: mn for mn in world.md.mns for h in world.md.candidate_hnps(mn)}


def _label_target(world: World, actions: tuple) -> str | None:
    for a in actions:
        if isinstance(a, SetField) and a.field == "mpls_label":
            sw = world.domain.by_dpid.get(int(a.value))
            return sw.name if sw else f"label {a.value}"
    return None


def check_d(world: World) -> list[Violation]:
    out = []
    owners = _hnp_owners(world)
    mags = {n for n, s in world.domain.switches.items() if s.is_mag}
    index = world.fake.ctl.mn_index
    by_index = {i: mn for mn, i in index.items()}
    for name, sw in world.fake.net.switches.items():
        for flow in sw.flows():
            fn, obj = split_cookie(flow.cookie)
            dst = flow.match.get("ipv6_dst")
            mn = owners.get(Net(dst)) if dst else None
            if mn is not None:
                target = _label_target(world, flow.actions)
                if target is None and flow.table == Table.UPLINK and flow.priority == Prio.DRF:
                    target = name  # a DRF entry that delivers on this very switch
                if target in mags and target != world.where(mn):
                    out.append(
                        Violation(
                            "d.tunnel",
                            f"{name} sends {mn}'s HNP {dst} to {target}, but {mn} is "
                            f"{_at(world, mn)}: {flow.describe()}",
                        )
                    )
            owner: str | None = None
            if fn in (Fn.ACCESS, Fn.BUFFER, Fn.REDIRECT):
                owner = by_index.get(MN_FIELD.get(obj))
            elif fn == Fn.DRF and DRF_ENDPOINT.get(obj) < FIXED_OBJ_BASE:
                owner = by_index.get(DRF_ENDPOINT.get(obj))
            if owner is not None and (fn == Fn.REDIRECT or world.where(owner) != name):
                why = "after its hold" if fn == Fn.REDIRECT else f"while {owner} is {_at(world, owner)}"
                out.append(Violation("d.local", f"{name} keeps {fn.name} flow of {owner} {why}: {flow.describe()}"))
    for name in _drf_switches(world):
        view = world.fake.ctl.drf(name) or {}
        for entry in view.get("location_cache", []):  # type: ignore[union-attr]
            mn = owners.get(Net(entry["prefix"]))
            if mn is not None and entry["switch"] != world.where(mn):
                out.append(
                    Violation(
                        "d.cache",
                        f"{name}'s location cache puts {mn}'s HNP {entry['prefix']} at {entry['switch']} "
                        f"(source {entry['source']}, since t={entry['updated_at']:g}), but {mn} is {_at(world, mn)}",
                    )
                )
    return out


def _at(world: World, mn: str) -> str:
    sw = world.where(mn)
    return f"at {sw}" if sw else "detached"


def _drf_switches(world: World) -> list[str]:
    return [n for n, s in world.domain.switches.items() if s.role in ("emag", "ar_drf")]


# ------------------------------------------------------------------ e


def clean_up(world: World) -> None:
    """Every MN leaves; then every timer runs out (binding lifetimes, MinDelayBeforeBCEDelete,
    departed-keep, fallback retry, relayed queries)."""
    for mn in world.attached_mns():
        world.fake.detach(mn)
    t = world.timers
    wait = max(t.binding_lifetime, t.min_delay_before_bce_delete, DEPARTED_KEEP, t.fallback_retry, RELAY_HOLD)
    world.advance(wait + SETTLE, LONG_TICK)


def check_e(world: World) -> list[Violation]:
    """For a world where every MN has left and the timers have run (``clean_up``)."""
    out = []
    pools = world.md.lma_pools()
    mns = set(world.fake.ctl.mn_index.values())

    def per_mn(prefix: object) -> bool:
        net = Net(str(prefix))
        return any(net.subnet_of(p) and net.prefixlen > p.prefixlen for p in pools)

    for name, sw in world.fake.net.switches.items():
        for flow in sw.flows():
            fn, obj = split_cookie(flow.cookie)
            mine = (
                (fn in (Fn.ACCESS, Fn.BINDING, Fn.REDIRECT, Fn.BUFFER) and MN_FIELD.get(obj) in mns)
                or (fn == Fn.DRF and DRF_ENDPOINT.get(obj) in mns)
                or (fn == Fn.LR and LR_MN.get(obj) in mns)
                or any(per_mn(flow.match[k]) for k in ("ipv6_src", "ipv6_dst") if k in flow.match)
            )
            if mine:
                out.append(Violation("e.flows", f"{name} still has {flow.describe()}"))
    for b in world.fake.ctl.bindings():
        out.append(Violation("e.bindings", f"{b['lma']} still has a binding of {b['mn_id']} ({b['state']})"))
    for name in _drf_switches(world):
        view = world.fake.ctl.drf(name) or {}
        cache = [e["prefix"] for e in view.get("location_cache", []) if per_mn(e["prefix"])]  # type: ignore[union-attr]
        tunnels = [
            f"{t['mn_id']}->{t['correspondent']}"
            for t in view.get("tunnels", [])  # type: ignore[union-attr]
            if t["mn_id"] in world.md.mns or per_mn(t["correspondent"])
        ]
        pending = [q["prefix"] for q in view.get("pending_queries", [])]  # type: ignore[union-attr]
        if cache:
            out.append(Violation("e.cache", f"{name} keeps location cache entries for HNPs {cache}"))
        if tunnels or pending:
            out.append(Violation("e.drf", f"{name} keeps DRF entries {tunnels}, pending queries {pending}"))
        redirects = [r["mn_id"] for r in view.get("redirects", [])]  # type: ignore[union-attr]
        departed = [d["mn_id"] for d in view.get("departed", [])]  # type: ignore[union-attr]
        if redirects or departed:
            out.append(Violation("e.dmf", f"{name} keeps redirects {redirects}, departed {departed}"))
    return out


# ------------------------------------------------------------------ together


def check_step(world: World, skip: frozenset[str] = frozenset()) -> list[Violation]:
    """a, b, d and c after a step: in a copy of ``world``, once the timers settled."""
    probe = world.copy()
    probe.advance(SETTLE, SETTLE_TICK)
    out: list[Violation] = []
    for letter, check in (("a", check_a), ("b", check_b), ("d", check_d), ("c", check_c)):
        if letter not in skip:
            out += [v for v in check(probe) if _on(v.invariant, skip)]
    return out


def check_end(world: World, skip: frozenset[str] = frozenset()) -> list[Violation]:
    """e at the end of a sequence: every MN leaves (in a copy), the timers run out."""
    if "e" in skip:
        return []
    probe = world.copy()
    clean_up(probe)
    return [v for v in check_e(probe) if _on(v.invariant, skip)]
