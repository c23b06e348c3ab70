"""The pipeline as data (openflow_rules/pipeline.py): its consistency, the cookie layout with its
generation bit, and ``check_flowmod`` - every builder passes it, hand-made bad flows do not."""

from __future__ import annotations

import pytest
from flow_samples import CASES, case_id, delete_for, install

from openflow_rules import flows
from openflow_rules.intents import ETH_TYPE_IPV6, FlowMod, Output, PopMpls, PushMpls, SetField, ToController
from openflow_rules.pipeline import (
    ANY_GEN_MASK,
    APP_COOKIE,
    APP_MASK,
    COOKIES,
    FN_MASK,
    FULL_MASK,
    GEN_BIT,
    TABLES,
    Fn,
    PipelineError,
    Prio,
    Table,
    check_flowmod,
    cookie,
    describe_cookie,
    generation,
    split_cookie,
    with_generation,
)

V6 = {"eth_type": ETH_TYPE_IPV6}
HNP = "2001:db8:a:1::/64"


def all_sample_flows() -> list[FlowMod]:
    return [fm for name, extra in CASES for n in (0, 1) for fm in install(name, n, extra)]


# ------------------------------------------------------------------ the data


def test_every_band_belongs_to_exactly_one_table():
    owners: dict[str, list[str]] = {}
    for table, spec in TABLES.items():
        for name in spec.priorities:
            owners.setdefault(name, []).append(table.name)
    assert set(owners) == set(Prio.__members__) - {"MISS"}  # MISS: no table-miss flows, misses drop
    assert {name: tables for name, tables in owners.items() if len(tables) != 1} == {}
    for spec in TABLES.values():
        assert all(Prio.__members__[n] == v for n, v in spec.priorities.items())


def test_gotos_only_go_to_later_tables():
    assert set(TABLES) == set(Table)
    for table, spec in TABLES.items():
        assert all(target > table for target in spec.gotos), table.name
    assert TABLES[Table.ROUTE].gotos == frozenset()


def test_every_function_has_a_layout_and_places_that_exist():
    assert set(COOKIES) == set(Fn)
    for fn, spec in COOKIES.items():
        assert spec.fn == fn and spec.bands
        for table, bands in spec.bands.items():
            assert bands <= TABLES[table].priorities.keys(), (fn.name, table.name)
    # every band of every table is used by some function
    for table, tspec in TABLES.items():
        used = set().union(*(s.bands.get(table, set()) for s in COOKIES.values()))
        assert used == set(tspec.priorities), table.name


def test_the_pipeline_allows_exactly_what_the_builders_use():
    """The tables are no looser than the flows epmip installs: every allowed match field, action,
    SetField field, goto, band and (function, table, band) is used by some builder."""
    used: dict[Table, dict[str, set]] = {t: {k: set() for k in ("match", "act", "set", "goto", "band")} for t in Table}
    places: set[tuple[Fn, Table, str]] = set()
    for fm in all_sample_flows():
        t = Table(fm.table)
        u = used[t]
        u["match"] |= set(fm.match)
        u["act"] |= {type(a) for a in fm.actions}
        u["set"] |= {a.field for a in fm.actions if isinstance(a, SetField)}
        u["goto"] |= {Table(fm.goto)} if fm.goto is not None else set()
        band = TABLES[t].band_of(fm.priority)
        u["band"].add(band)
        fn, _ = split_cookie(fm.cookie)
        assert fn is not None
        places.add((fn, t, band))
    for t, spec in TABLES.items():
        u = used[t]
        assert (u["match"], u["act"], u["set"], u["goto"], u["band"]) == (
            spec.match, spec.actions, spec.set_fields, spec.gotos, set(spec.priorities)
        ), t.name  # fmt: skip
    assert places == {(fn, t, b) for fn, s in COOKIES.items() for t, bands in s.bands.items() for b in bands}


# ------------------------------------------------------------------ cookies and the generation bit


def test_cookie_layout():
    assert GEN_BIT == 1 << 55
    assert APP_COOKIE == 0xE9 << 56 and APP_MASK == 0xFF << 56
    assert FN_MASK == APP_MASK | 0x7F << 48  # the function without G
    assert ANY_GEN_MASK == FULL_MASK ^ GEN_BIT
    assert cookie(Fn.DRF, flows.drf_obj(3, 7)) == 0xE9_05_000003_000007
    assert split_cookie(cookie(Fn.DRF, flows.drf_obj(3, 7))) == (Fn.DRF, 3 << 24 | 7)
    assert split_cookie(0x1234) == (None, 0)
    assert split_cookie(APP_COOKIE | 0x7E << 48) == (None, 0)
    assert describe_cookie(cookie(Fn.DRF, flows.drf_obj(3, 7))) == "DRF endpoint=3 correspondent=7 G=0"
    assert describe_cookie(with_generation(cookie(Fn.BASE), 1)) == "BASE G=1"
    assert COOKIES[Fn.LR].unpack(flows.drf_obj(2, 9)) == {"mn": 2, "source": 9}


def test_with_generation_sets_only_the_g_bit_and_split_cookie_ignores_it():
    c = cookie(Fn.ACCESS, 42)
    g1 = with_generation(c, 1)
    assert g1 == c | GEN_BIT and generation(g1) == 1 and generation(c) == 0
    assert with_generation(g1, 0) == c and with_generation(g1, 1) == g1
    assert split_cookie(g1) == split_cookie(c) == (Fn.ACCESS, 42)
    with pytest.raises(ValueError, match="generation"):
        with_generation(c, 2)
    with pytest.raises(ValueError, match="not one of ours"):
        with_generation(0x1234, 1)


def test_builders_produce_generation_0_and_deletes_ignore_it():
    for fm in all_sample_flows():
        assert generation(fm.cookie) == 0, fm.describe()
    deletes = [fm for name, extra in CASES for fm in delete_for(name, 0, extra)]
    deletes += [flows.delete_all_ours(1), flows.delete_object(1, Fn.ACCESS, 3), flows.delete_drf_of_mn(1, 3)]
    deletes += [flows.delete_drf_of_mn(1, 3, Fn.LR)]
    for fm in deletes:
        assert fm.command in ("delete", "delete_strict")
        assert fm.cookie_mask & GEN_BIT == 0 and generation(fm.cookie) == 0, fm.describe()


def test_delete_stale_selects_the_other_generation_in_every_table():
    for gen in (0, 1):
        fm = flows.delete_stale(5, gen)
        assert (fm.dpid, fm.table, fm.match, fm.command) == (5, None, {}, "delete")
        assert fm.cookie == APP_COOKIE | (1 - gen) << 55
        assert fm.cookie_mask == APP_MASK | GEN_BIT
        check_flowmod(fm)
    with pytest.raises(ValueError):
        flows.delete_stale(5, 2)


def test_in_generation_moves_adds_and_leaves_deletes():
    add = flows.install_trunk(1, 4)
    assert flows.in_generation(add, 1).cookie == add.cookie | GEN_BIT
    assert flows.in_generation(flows.in_generation(add, 1), 0) == add
    delete = flows.delete_trunk(1, 4)
    assert flows.in_generation(delete, 1) is delete


# ------------------------------------------------------------------ check_flowmod: what passes


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_builder_passes_check_flowmod(case):
    name, extra = case
    for fm in install(name, 0, extra) + delete_for(name, 0, extra):
        check_flowmod(fm)
        if fm.command == "add":
            check_flowmod(flows.in_generation(fm, 1))  # either generation


def test_whole_switch_deletes_pass_check_flowmod():
    for fm in (
        flows.delete_all_ours(1),
        flows.delete_object(1, Fn.FIXED, 2),
        flows.delete_drf_of_mn(1, 3),
        flows.delete_drf_of_mn(1, 3, Fn.LR),
        flows.delete_buffer_flows(1, 3),
        flows.delete_stale(1, 0),
    ):
        check_flowmod(fm)


# ------------------------------------------------------------------ check_flowmod: what does not


def refused(fm: FlowMod, *fragments: str) -> str:
    with pytest.raises(PipelineError) as info:
        check_flowmod(fm)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, text
    assert isinstance(info.value, ValueError)
    return text


def test_a_goto_backwards_is_refused():
    fm = FlowMod(1, Table.UPLINK, Prio.ANCHOR, {**V6, "ipv6_src": HNP}, goto=Table.CLASSIFY, cookie=cookie(Fn.ACCESS))
    refused(fm, "table UPLINK", "goto CLASSIFY not allowed", "allowed goto: ROUTE", "only later tables")
    fm = FlowMod(1, Table.ROUTE, Prio.PREFIX, {**V6, "ipv6_dst": HNP}, goto=Table.ROUTE, cookie=cookie(Fn.BASE))
    refused(fm, "table ROUTE", "goto ROUTE not allowed", "allowed goto: none")
    fm = FlowMod(1, Table.LABEL, Prio.TRANSIT, {"eth_type": 0x8847, "mpls_label": 5}, goto=9, cookie=cookie(Fn.BASE))
    refused(fm, "table LABEL", "goto 9 not allowed")


def test_a_match_field_the_table_does_not_use_is_refused():
    fm = FlowMod(
        1, Table.ROUTE, Prio.PREFIX, {**V6, "in_port": 3, "ipv6_dst": HNP}, (Output(2),), cookie=cookie(Fn.BASE)
    )
    text = refused(fm, "table ROUTE", "match field 'in_port' not allowed", "allowed: eth_type, ipv6_dst, ipv6_src")
    assert "flow-mod: add dp=1 t=3 p=400" in text  # the offending flow-mod itself
    fm = FlowMod(1, Table.LABEL, Prio.TRANSIT, {**V6, "ipv6_dst": HNP}, (Output(2),), cookie=cookie(Fn.BASE))
    refused(fm, "table LABEL", "'ipv6_dst'", "allowed: eth_type, mpls_label")


def test_a_priority_from_another_tables_band_is_refused():
    fm = FlowMod(1, Table.ROUTE, Prio.PUNT, {**V6, "ipv6_dst": HNP}, (Output(2),), cookie=cookie(Fn.BASE))
    refused(
        fm, "table ROUTE", "priority 1000 (that is PUNT of CLASSIFY) is not one of its bands",
        "allowed: DELIVER=900, REDIRECT=850, LR_QUIET=820, BINDING=800, HOST_ROUTE=700, PREFIX=400",
    )  # fmt: skip
    fm = FlowMod(1, Table.UPLINK, Prio.DELIVER, {**V6, "ipv6_src": HNP}, (Output(2),), cookie=cookie(Fn.ACCESS))
    refused(fm, "table UPLINK", "DELIVER of ROUTE", "allowed: DRF=600, DRF_FALLBACK=500, AREA=450, ANCHOR=400, PASS=1")
    fm = FlowMod(1, Table.CLASSIFY, 123, V6, (ToController(),), cookie=cookie(Fn.BASE))
    text = refused(fm, "table CLASSIFY", "priority 123 is not one of its bands")
    assert "that is" not in text


def test_an_unknown_function_in_the_cookie_is_refused():
    bad = APP_COOKIE | 0x42 << 48
    fm = FlowMod(1, Table.ROUTE, Prio.PREFIX, {**V6, "ipv6_dst": HNP}, (Output(2),), cookie=bad)
    refused(fm, "table ROUTE", f"cookie {bad:#x} has function 66, not one of BASE=1, ACCESS=2", "BUFFER=8")
    delete = FlowMod(1, None, 0, {}, cookie=bad, cookie_mask=FULL_MASK, command="delete")
    refused(delete, "delete in all tables", "has function 66")


def test_other_bad_adds_are_refused():
    route = {**V6, "ipv6_dst": HNP}
    base = cookie(Fn.BASE)
    refused(FlowMod(1, Table.ROUTE, Prio.PREFIX, route, (PopMpls(),), cookie=base), "table ROUTE", "action PopMpls")
    refused(
        FlowMod(1, Table.UPLINK, Prio.ANCHOR, {**V6, "ipv6_src": HNP}, (SetField("eth_dst", "02:00:00:00:00:09"),),
                cookie=cookie(Fn.ACCESS)),
        "table UPLINK", "SetField 'eth_dst' not allowed", "SetField allowed on: mpls_label",
    )  # fmt: skip
    refused(
        FlowMod(1, Table.CLASSIFY, Prio.TRUNK, {**V6, "in_port": 1}, (PushMpls(),), goto=Table.ROUTE, cookie=base),
        "table CLASSIFY", "action PushMpls not allowed", "allowed: SetField, ToController",
    )  # fmt: skip
    refused(FlowMod(1, Table.ROUTE, Prio.PREFIX, route, (Output(2),)), "cookie 0x0 is not ours")
    refused(
        FlowMod(1, Table.ROUTE, Prio.PREFIX, route, (Output(2),), cookie=cookie(Fn.BUFFER, 1)),
        "table ROUTE", "a BUFFER flow may not use band PREFIX", "BUFFER flows live in ROUTE (DELIVER)",
    )  # fmt: skip
    refused(
        FlowMod(1, Table.CLASSIFY, Prio.ACCESS, {**V6, "in_port": 3, "ipv6_src": HNP}, goto=Table.UPLINK,
                cookie=cookie(Fn.DRF, 1)),
        "a DRF flow may not use band ACCESS", "DRF flows live in UPLINK (DRF, DRF_FALLBACK)",
    )  # fmt: skip
    refused(
        FlowMod(1, Table.ROUTE, Prio.PREFIX, route, (Output(2),), cookie=cookie(Fn.BASE, 5)),
        "(BASE) sets object bits 0x5 outside its layout", "object fields: none (0)",
    )  # fmt: skip
    refused(
        FlowMod(1, Table.ROUTE, Prio.DELIVER, route, (ToController(),), cookie=cookie(Fn.BUFFER, 1 << 30)),
        "object bits 0x40000000 outside its layout", "mn bits 0-23",
    )  # fmt: skip
    refused(FlowMod(1, None, Prio.PREFIX, route, (Output(2),), cookie=base), "add needs a table")
    refused(FlowMod(1, 7, Prio.PREFIX, route, (Output(2),), cookie=base), "table 7: no such table")
    refused(FlowMod(1, Table.ROUTE, Prio.PREFIX, route, cookie=base, command="modify"), "'modify' is not one of")


def test_bad_deletes_are_refused():
    route = {**V6, "ipv6_dst": HNP}
    refused(FlowMod(1, None, 0, {}, command="delete"), "delete in all tables", "is not limited to our flows")
    refused(
        FlowMod(1, Table.ROUTE, 0, {}, cookie=cookie(Fn.DRF, 1), cookie_mask=FULL_MASK, command="delete"),
        "delete in table ROUTE", "no DRF flow lives there", "DRF flows live in UPLINK",
    )  # fmt: skip
    refused(
        FlowMod(1, None, Prio.PREFIX, route, cookie=cookie(Fn.BASE), cookie_mask=ANY_GEN_MASK, command="delete_strict"),
        "delete_strict needs a table",
    )  # fmt: skip
    refused(
        FlowMod(1, Table.ROUTE, Prio.PUNT, route, cookie=cookie(Fn.BASE), cookie_mask=ANY_GEN_MASK,
                command="delete_strict"),
        "table ROUTE: priority 1000",
    )  # fmt: skip
    refused(
        FlowMod(1, Table.ROUTE, 0, {"in_port": 1}, cookie=APP_COOKIE, cookie_mask=APP_MASK, command="delete"),
        "table ROUTE", "match field 'in_port' not allowed",
    )  # fmt: skip
    refused(
        FlowMod(1, None, 0, {"vlan_vid": 1}, cookie=APP_COOKIE, cookie_mask=APP_MASK, command="delete"),
        "not allowed in any table",
    )  # fmt: skip
    refused(
        FlowMod(1, Table.ROUTE, Prio.PREFIX, route, (Output(2),), cookie=cookie(Fn.BASE), cookie_mask=ANY_GEN_MASK,
                command="delete_strict"),
        "carries actions or a goto",
    )  # fmt: skip
    # a mask that leaves the function out need not name a known one (e.g. delete_all_ours, delete_stale)
    check_flowmod(
        FlowMod(1, Table.ROUTE, 0, {}, cookie=APP_COOKIE | 0x42 << 48, cookie_mask=APP_MASK, command="delete")
    )
