"""The pipeline as checked data: tables, what each may match and do, priority bands and cookies.

Every flow epmip installs lives in one of four tables::

    0 CLASSIFY  punt RS/NS-for-router; access port + source in HNP -> UPLINK;
                fixed-host port -> ROUTE; MPLS -> LABEL; IPv6 from a trunk -> ROUTE; miss: drop
    1 LABEL     own label -> pop, clear in_port (hairpin allowed), -> ROUTE (an eLMA(DRF): -> UPLINK);
                other label -> output toward that endpoint (shortest path)
    2 UPLINK    (e)MAG, traffic from an MN: DRF direct tunnel (ePMIP) or reverse tunnel to the LMA;
                §7 (lma_daf): an eLMA(DRF)'s MNs' uplink (from the MAG's tunnel) and a router with
                DRF's traffic toward the ePMIP area (AREA punt) meet their DRF entries here; miss:
                -> ROUTE
    3 ROUTE     deliver to a local MN / fixed host; redirect (p-eMAG -> n-eMAG); LMA binding
                (HNP -> tunnel to the CoA); plain prefix routes ("routing system"); miss: drop

``TABLES`` says, per table, which match fields, actions (and which ``SetField`` fields), goto
targets (always later tables) and priority bands a flow there may use; ``COOKIES`` says, per
cookie function, in which tables and bands its flows live and how the 48 object bits are used.
``check_flowmod`` holds a ``FlowMod`` against both and raises ``PipelineError`` naming the table,
the offending field / action / goto / priority / cookie and what is allowed instead.  The
in-memory switch of the tests (``tests/fakeof.py``) refuses every flow-mod that fails it.

Cookie layout (64 bits)::

    63      56 55 54    48 47                                 0
    +---------+--+--------+------------------------------------+
    |  0xE9   |G |   Fn   |              object                |
    +---------+--+--------+------------------------------------+

* bits 56-63: ``0xE9`` marks our flows (``APP_COOKIE`` / ``APP_MASK``); nothing else is touched.
* bit 55, G: the generation bit (``GEN_BIT``) for make-before-break resynchronisation when a
  switch reconnects: the controller re-adds every flow with the other generation
  (``with_generation``) - an add with the same match and priority replaces the old flow in place,
  counters kept - and then removes the leftovers of the old generation (``flows.delete_stale``).
  The builders always produce G=0; every other delete builder ignores G (``ANY_GEN_MASK``) so
  that an object's flows go whatever generation they were installed with, and ``split_cookie``
  ignores it too.
* bits 48-54: the function (``Fn``, 7 bits), see ``COOKIES`` for where each function's flows go.
* bits 0-47: the object, laid out per function (``FnSpec.fields``)::

      BASE                        0 (one set of base flows per switch)
      ACCESS, BINDING, REDIRECT,  bits 0-23: the MN's index (EpmipController.mn_index)
      BUFFER
      FIXED                       bits 0-23: the fixed host's index (EpmipController.fixed_index)
      DRF                         bits 24-47: the local endpoint - an MN's index, or for a fixed
                                  host behind an access router with DRF FIXED_OBJ_BASE (0x8000,
                                  controller/ar.py) + its index; bits 0-23: the correspondent
                                  prefix's id (EpmipController.correspondent_id); see flows.drf_obj
      LR                          bits 24-47: the MN's index; bits 0-23: the source prefix's id

  Bits of the object outside its function's fields must be zero.

So every flow of one object (``flows.delete_object``), of one DRF endpoint
(``flows.delete_drf_of_mn``), of one generation (``flows.delete_stale``) or all of ours
(``flows.delete_all_ours``) can be removed with one cookie/mask delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Final

from openflow_rules.intents import FlowMod, Output, PopMpls, PushMpls, SetField, ToController


class Table(IntEnum):
    CLASSIFY = 0
    LABEL = 1
    UPLINK = 2
    ROUTE = 3


class Prio(IntEnum):
    """Named priority bands; a bare number never appears in a flow.

    Bands of different tables share values (MPLS, LOCAL_LABEL and DRF_FALLBACK are all 500), and
    ``IntEnum`` makes such names aliases: ``Prio.LOCAL_LABEL is Prio.MPLS`` and ``Prio(500).name``
    is ``"MPLS"``.  Which band a value means depends on the table; ``TABLES`` keeps the names."""

    MISS = 0
    # CLASSIFY
    FROM_CONTROLLER = 1100
    PUNT = 1000
    ACCESS = 800
    FIXED_HOST = 700
    MPLS = 500
    TRUNK = 400
    ACCESS_MISS = 1
    # LABEL
    LOCAL_LABEL = 500
    TRANSIT = 400
    # UPLINK
    DRF = 600
    DRF_FALLBACK = 500
    AREA = 450  # §7.3: a router with DRF holds traffic for the ePMIP area it has no entry for
    ANCHOR = 400
    PASS = 1  # §7: an eLMA(DRF)'s or router's UPLINK: what nothing else took is routed
    # ROUTE
    DELIVER = 900
    REDIRECT = 850
    LR_QUIET = 820
    BINDING = 800
    HOST_ROUTE = 700
    PREFIX = 400


class Fn(IntEnum):
    """The function a flow belongs to (cookie bits 48-54)."""

    BASE = 1  # punts, classification of trunks, label transit, prefix routes
    ACCESS = 2  # per-MN flows on its (e)MAG: access classification, anchor tunnel, delivery
    BINDING = 3  # per-MN flow on its (e)LMA: HNP -> tunnel to the Proxy-CoA
    FIXED = 4  # fixed host on its access router
    DRF = 5  # direct eMAG-eMAG tunnel entries
    REDIRECT = 6  # p-eMAG -> n-eMAG redirect during a handoff
    LR = 7  # RFC 6705 mode: an LMA's per-source flows once it has seen a pair
    BUFFER = 8  # handoff buffering: an MN's downlink to the controller


class PipelineError(ValueError):
    """A flow-mod the pipeline does not allow (wrong table, field, action, goto, priority or cookie)."""


# ------------------------------------------------------------------ cookie layout

APP_COOKIE: Final = 0xE9 << 56
APP_MASK: Final = 0xFF << 56
GEN_SHIFT: Final = 55
GEN_BIT: Final = 1 << GEN_SHIFT
FN_SHIFT: Final = 48
FN_BITS: Final = 0x7F  # the function is 7 bits: bit 55 above it is G
FN_MASK: Final = APP_MASK | (FN_BITS << FN_SHIFT)  # ours + function, any generation, any object
OBJ_MASK: Final = (1 << 48) - 1
FULL_MASK: Final = (1 << 64) - 1
ANY_GEN_MASK: Final = FULL_MASK & ~GEN_BIT  # one exact cookie, whatever its generation


@dataclass(frozen=True)
class ObjField:
    """A field of a cookie's 48 object bits."""

    name: str
    shift: int
    width: int
    doc: str = ""

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    def get(self, obj: int) -> int:
        return (obj >> self.shift) & ((1 << self.width) - 1)


MN_FIELD: Final = ObjField("mn", 0, 24, "the MN's index (EpmipController.mn_index)")
HOST_FIELD: Final = ObjField("host", 0, 24, "the fixed host's index (EpmipController.fixed_index)")
DRF_ENDPOINT: Final = ObjField(
    "endpoint", 24, 24, "the local endpoint: an MN's index, or FIXED_OBJ_BASE + a fixed host's index"
)
DRF_CORRESPONDENT: Final = ObjField("correspondent", 0, 24, "the correspondent prefix's id (correspondent_id)")
LR_MN: Final = ObjField("mn", 24, 24, "the destination MN's index")
LR_SOURCE: Final = ObjField("source", 0, 24, "the source prefix's id (correspondent_id)")


@dataclass(frozen=True)
class FnSpec:
    """Where the flows of one cookie function live and how its object bits are used."""

    fn: Fn
    doc: str
    bands: Mapping[Table, frozenset[str]]  # table -> the Prio names it uses there
    fields: tuple[ObjField, ...]  # empty: the object is always 0

    @property
    def obj_mask(self) -> int:
        mask = 0
        for f in self.fields:
            mask |= f.mask
        return mask

    def unpack(self, obj: int) -> dict[str, int]:
        return {f.name: f.get(obj) for f in self.fields}


def _bands(**tables: Iterable[str]) -> Mapping[Table, frozenset[str]]:
    return MappingProxyType({Table[name]: frozenset(names) for name, names in tables.items()})


COOKIES: Final[Mapping[Fn, FnSpec]] = MappingProxyType(
    {
        spec.fn: spec
        for spec in (
            FnSpec(
                Fn.BASE, "per-switch flows: punts, trunk and MPLS classification, labels, prefix routes",
                _bands(
                    CLASSIFY=("FROM_CONTROLLER", "PUNT", "MPLS", "TRUNK", "ACCESS_MISS"),
                    LABEL=("LOCAL_LABEL", "TRANSIT"),
                    UPLINK=("AREA", "PASS"),
                    ROUTE=("PREFIX",),
                ),
                (),
            ),
            FnSpec(
                Fn.ACCESS, "an MN on its (e)MAG: access classification, anchor tunnel, delivery",
                _bands(CLASSIFY=("ACCESS",), UPLINK=("ANCHOR",), ROUTE=("DELIVER",)),
                (MN_FIELD,),
            ),
            FnSpec(
                Fn.BINDING, "an MN's binding on its (e)LMA (an eLMA(DRF): and its uplink's punt)",
                _bands(UPLINK=("ANCHOR",), ROUTE=("BINDING",)), (MN_FIELD,),
            ),
            FnSpec(
                Fn.FIXED, "a fixed host on its access router",
                _bands(CLASSIFY=("FIXED_HOST",), UPLINK=("ANCHOR",), ROUTE=("HOST_ROUTE",)),
                (HOST_FIELD,),
            ),
            FnSpec(
                Fn.DRF, "a DRF entry: one local endpoint toward one correspondent prefix",
                _bands(UPLINK=("DRF", "DRF_FALLBACK")),
                (DRF_ENDPOINT, DRF_CORRESPONDENT),
            ),
            FnSpec(Fn.REDIRECT, "p-eMAG -> n-eMAG redirect of an MN", _bands(ROUTE=("REDIRECT",)), (MN_FIELD,)),
            FnSpec(
                Fn.LR, "an LMA's localized-routing flow: one source prefix toward one MN",
                _bands(ROUTE=("LR_QUIET",)),
                (LR_MN, LR_SOURCE),
            ),
            FnSpec(Fn.BUFFER, "an MN's downlink buffered at the controller", _bands(ROUTE=("DELIVER",)), (MN_FIELD,)),
        )
    }
)  # fmt: skip


def cookie(fn: Fn, obj: int = 0) -> int:
    """Our cookie for function ``fn`` and object ``obj``, generation 0."""
    if not 0 <= obj <= OBJ_MASK:
        raise ValueError(f"cookie object id {obj} out of range 0..{OBJ_MASK}")
    return APP_COOKIE | (fn << FN_SHIFT) | obj  # an Fn is an int: its shift is a plain int


def split_cookie(value: int) -> tuple[Fn | None, int]:
    """Inverse of ``cookie`` (the generation bit ignored); (None, 0) for a cookie that is not ours."""
    if value & APP_MASK != APP_COOKIE:
        return None, 0
    try:
        return Fn((value >> FN_SHIFT) & FN_BITS), value & OBJ_MASK
    except ValueError:
        return None, 0


def generation(value: int) -> int:
    """The G bit of a cookie (0 or 1)."""
    return (value >> GEN_SHIFT) & 1


def with_generation(value: int, gen: int) -> int:
    """``value`` (one of our cookies) with its generation bit set to ``gen`` (0 or 1)."""
    if gen not in (0, 1):
        raise ValueError(f"generation must be 0 or 1, not {gen!r}")
    if value & APP_MASK != APP_COOKIE:
        raise ValueError(f"cookie {value:#x} is not one of ours (top byte {APP_COOKIE >> 56:#x})")
    return (value & ~GEN_BIT) | (gen << GEN_SHIFT)


def describe_cookie(value: int) -> str:
    """E.g. ``DRF endpoint=3 correspondent=7 G=0`` (for messages and dumps)."""
    if value & APP_MASK != APP_COOKIE:
        return f"{value:#x} (not ours)"
    fn, obj = split_cookie(value)
    if fn is None:
        return f"{value:#x} (unknown function {(value >> FN_SHIFT) & FN_BITS})"
    fields = " ".join(f"{k}={v}" for k, v in COOKIES[fn].unpack(obj).items())
    return f"{fn.name}{' ' + fields if fields else ''} G={generation(value)}"


# ------------------------------------------------------------------ tables

ActionKind = type[Output] | type[ToController] | type[PushMpls] | type[PopMpls] | type[SetField]


@dataclass(frozen=True)
class TableSpec:
    """What a flow in one table may match, do and use as priority."""

    table: Table
    doc: str
    match: frozenset[str]  # OXM field names
    actions: frozenset[ActionKind]  # SetField only with a field from ``set_fields``
    set_fields: frozenset[str]
    gotos: frozenset[Table]  # only later tables
    priorities: Mapping[str, int]  # band name -> value (names kept: see Prio on aliases)

    def band_of(self, priority: int) -> str | None:
        return next((name for name, value in self.priorities.items() if value == priority), None)


def _prios(*names: str) -> Mapping[str, int]:
    return MappingProxyType({name: int(Prio[name]) for name in names})


TABLES: Final[Mapping[Table, TableSpec]] = MappingProxyType(
    {
        spec.table: spec
        for spec in (
            TableSpec(
                Table.CLASSIFY, "what a packet is: punt, access, fixed host, MPLS or trunk",
                match=frozenset({"in_port", "eth_type", "ip_proto", "icmpv6_type", "ipv6_nd_target", "ipv6_src"}),
                actions=frozenset({ToController, SetField}),
                set_fields=frozenset({"in_port"}),
                gotos=frozenset({Table.LABEL, Table.UPLINK, Table.ROUTE}),
                priorities=_prios("FROM_CONTROLLER", "PUNT", "ACCESS", "FIXED_HOST", "MPLS", "TRUNK", "ACCESS_MISS"),
            ),
            TableSpec(
                Table.LABEL, "tunnel labels: pop our own, pass others on",
                match=frozenset({"eth_type", "mpls_label"}),
                actions=frozenset({Output, PopMpls, SetField}),
                set_fields=frozenset({"in_port"}),
                gotos=frozenset({Table.UPLINK, Table.ROUTE}),
                priorities=_prios("LOCAL_LABEL", "TRANSIT"),
            ),
            TableSpec(
                Table.UPLINK, "an MN's (or a DRF fixed host's) traffic: DRF entry or anchor tunnel",
                match=frozenset({"eth_type", "ipv6_src", "ipv6_dst"}),
                actions=frozenset({Output, ToController, PushMpls, SetField}),
                set_fields=frozenset({"mpls_label"}),
                gotos=frozenset({Table.ROUTE}),
                priorities=_prios("DRF", "DRF_FALLBACK", "AREA", "ANCHOR", "PASS"),
            ),
            TableSpec(
                Table.ROUTE, "by destination: deliver, redirect, binding, LR, host and prefix routes",
                match=frozenset({"eth_type", "ipv6_src", "ipv6_dst"}),
                actions=frozenset({Output, ToController, PushMpls, SetField}),
                set_fields=frozenset({"mpls_label", "eth_src", "eth_dst"}),
                gotos=frozenset(),
                priorities=_prios("DELIVER", "REDIRECT", "LR_QUIET", "BINDING", "HOST_ROUTE", "PREFIX"),
            ),
        )
    }
)  # fmt: skip

COMMANDS: Final = frozenset({"add", "delete", "delete_strict"})


def _self_check() -> None:
    """The data above is consistent: runs at import, so a bad edit fails loudly at once."""
    for table, spec in TABLES.items():
        if spec.table != table:
            raise AssertionError(f"TABLES[{table.name}] describes {spec.table.name}")
        backwards = [t.name for t in spec.gotos if t <= table]
        if backwards:
            raise AssertionError(f"table {table.name}: goto {backwards} does not go to a later table")
        if len(set(spec.priorities.values())) != len(spec.priorities):
            raise AssertionError(f"table {table.name}: two bands share a priority: {dict(spec.priorities)}")
    for fn in Fn:
        spec_fn = COOKIES[fn]
        for table, names in spec_fn.bands.items():
            unknown = names - TABLES[table].priorities.keys()
            if unknown:
                raise AssertionError(f"cookie {fn.name}: bands {sorted(unknown)} are not bands of {table.name}")
        used = 0
        for f in spec_fn.fields:
            if f.mask & used or f.mask & ~OBJ_MASK:
                raise AssertionError(f"cookie {fn.name}: field {f.name} overlaps another or leaves the object")
            used |= f.mask
        if int(fn) & ~FN_BITS:
            raise AssertionError(f"function {fn.name} does not fit in {FN_BITS.bit_length()} bits")


_self_check()


# ------------------------------------------------------------------ check_flowmod


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _bands_text(spec: TableSpec) -> str:
    return ", ".join(f"{name}={value}" for name, value in spec.priorities.items())


def _fn_places(spec: FnSpec) -> str:
    return "; ".join(f"{t.name} ({_names(b)})" for t, b in sorted(spec.bands.items()))


def _table_of(fm: FlowMod, what: str) -> TableSpec:
    assert fm.table is not None
    try:
        return TABLES[Table(fm.table)]
    except ValueError:
        raise PipelineError(
            f"{what} in table {fm.table}: no such table; the pipeline has {_names(t.name for t in Table)}"
        ) from None


def _check_match(spec: TableSpec, fm: FlowMod) -> None:
    bad = sorted(set(fm.match) - spec.match)
    if bad:
        raise PipelineError(
            f"table {spec.table.name}: match field {', '.join(map(repr, bad))} not allowed; "
            f"allowed: {_names(spec.match)}"
        )


def _check_priority(spec: TableSpec, fm: FlowMod) -> str:
    band = spec.band_of(int(fm.priority))
    if band is None:
        elsewhere = [f"{s.band_of(fm.priority)} of {t.name}" for t, s in TABLES.items() if s.band_of(fm.priority)]
        hint = f" (that is {' / '.join(elsewhere)})" if elsewhere else ""
        raise PipelineError(
            f"table {spec.table.name}: priority {fm.priority}{hint} is not one of its bands; "
            f"allowed: {_bands_text(spec)}"
        )
    return band


def _check_actions(spec: TableSpec, fm: FlowMod) -> None:
    allowed = _names(k.__name__ for k in spec.actions)
    for action in fm.actions:
        if type(action) not in spec.actions:
            raise PipelineError(
                f"table {spec.table.name}: action {type(action).__name__} not allowed; allowed: {allowed}"
            )
        if isinstance(action, SetField) and action.field not in spec.set_fields:
            raise PipelineError(
                f"table {spec.table.name}: SetField {action.field!r} not allowed; SetField allowed on: "
                f"{_names(spec.set_fields)}"
            )


def _check_goto(spec: TableSpec, fm: FlowMod) -> None:
    if fm.goto is None:
        return
    if fm.goto not in spec.gotos:
        target = Table(fm.goto).name if fm.goto in set(Table) else str(fm.goto)
        raise PipelineError(
            f"table {spec.table.name}: goto {target} not allowed; allowed goto: "
            f"{_names(t.name for t in spec.gotos)} (only later tables)"
        )


def _fn_of(value: int, where: str) -> FnSpec:
    code = (value >> FN_SHIFT) & FN_BITS
    try:
        return COOKIES[Fn(code)]
    except ValueError:
        raise PipelineError(
            f"{where}: cookie {value:#x} has function {code}, not one of {', '.join(f'{f.name}={int(f)}' for f in Fn)}"
        ) from None


def _check_object(fn_spec: FnSpec, value: int, mask: int, where: str) -> None:
    stray = value & mask & OBJ_MASK & ~fn_spec.obj_mask
    if stray:
        layout = ", ".join(f"{f.name} bits {f.shift}-{f.shift + f.width - 1}" for f in fn_spec.fields) or "none (0)"
        raise PipelineError(
            f"{where}: cookie {value:#x} ({fn_spec.fn.name}) sets object bits {stray:#x} outside its "
            f"layout; {fn_spec.fn.name} object fields: {layout}"
        )


def _check_add_cookie(spec: TableSpec, band: str, fm: FlowMod) -> None:
    where = f"table {spec.table.name}"
    if fm.cookie & APP_MASK != APP_COOKIE:
        raise PipelineError(f"{where}: cookie {fm.cookie:#x} is not ours (top byte must be {APP_COOKIE >> 56:#x})")
    fn_spec = _fn_of(fm.cookie, where)
    if band not in fn_spec.bands.get(spec.table, frozenset()):
        raise PipelineError(
            f"{where}: a {fn_spec.fn.name} flow may not use band {band}; {fn_spec.fn.name} flows live in "
            f"{_fn_places(fn_spec)}"
        )
    _check_object(fn_spec, fm.cookie, FULL_MASK, where)


def _check_delete(fm: FlowMod) -> None:
    strict = fm.command == "delete_strict"
    if fm.actions or fm.goto is not None:
        raise PipelineError(f"{fm.command} carries actions or a goto, which a switch ignores")
    spec = None if fm.table is None else _table_of(fm, fm.command)
    where = f"{fm.command} in table {spec.table.name}" if spec else f"{fm.command} in all tables"
    if fm.cookie_mask & APP_MASK != APP_MASK or fm.cookie & APP_MASK != APP_COOKIE:
        raise PipelineError(
            f"{where}: cookie {fm.cookie:#x}/{fm.cookie_mask:#x} is not limited to our flows "
            f"(need cookie {APP_COOKIE:#x} under mask {APP_MASK:#x})"
        )
    fn_mask = FN_BITS << FN_SHIFT
    if fm.cookie_mask & fn_mask == fn_mask:
        fn_spec = _fn_of(fm.cookie, where)
        if spec is not None and spec.table not in fn_spec.bands:
            raise PipelineError(
                f"{where}: no {fn_spec.fn.name} flow lives there; {fn_spec.fn.name} flows live in {_fn_places(fn_spec)}"
            )
        _check_object(fn_spec, fm.cookie, fm.cookie_mask, where)
    if strict:
        if spec is None:
            raise PipelineError("delete_strict needs a table (its priority band depends on it)")
        _check_priority(spec, fm)
    if spec is not None:
        _check_match(spec, fm)
    else:
        anywhere = frozenset().union(*(s.match for s in TABLES.values()))
        bad = sorted(set(fm.match) - anywhere)
        if bad:
            raise PipelineError(f"{where}: match field {bad} is not allowed in any table; allowed: {_names(anywhere)}")


def check_flowmod(fm: FlowMod) -> None:
    """Raise ``PipelineError`` unless ``fm`` is a flow-mod the pipeline allows.

    An add must name a table and use only that table's match fields, actions (SetField fields),
    goto targets and priority bands, with a cookie of ours whose function lives in that table and
    band and whose object fits the function's layout (any generation).  A delete must be limited
    to our cookies; where its mask covers the function, the function must exist (and live in the
    table, if one is named) and the object fit its layout; a delete_strict must name a table and
    a band of it, and a delete's match must use fields of its table."""
    try:
        _check(fm)
    except PipelineError as e:
        raise PipelineError(f"{e}; flow-mod: {fm.describe()}") from None


def _check(fm: FlowMod) -> None:
    if fm.command not in COMMANDS:
        raise PipelineError(f"flow-mod command {fm.command!r} is not one of {_names(COMMANDS)}")
    if fm.command != "add":
        _check_delete(fm)
        return
    if fm.table is None:
        raise PipelineError(f"add needs a table; the pipeline has {_names(t.name for t in Table)}")
    spec = _table_of(fm, "add")
    band = _check_priority(spec, fm)
    _check_match(spec, fm)
    _check_actions(spec, fm)
    _check_goto(spec, fm)
    _check_add_cookie(spec, band, fm)
