"""Every flow epmip installs can be removed again, by its paired delete, and by nothing else.

``flows.INSTALL_DELETE_PAIRS`` names the delete of every ``install_x`` builder; each case below
installs a sample flow on the in-memory switch (which refuses what the pipeline does not allow),
applies the paired delete and checks what is left.
"""

from __future__ import annotations

import inspect

import pytest
from fakeof import FakeSwitch, Flow
from flow_samples import CASES, INSTALLS, SINGLETONS, builder, case_id, delete_for, install

from openflow_rules import flows

# deletes that are not one install's undo: whole switch, one object, one endpoint, one generation
WHOLE_DELETES = {"delete_all_ours", "delete_object", "delete_drf_of_mn", "delete_stale"}


def _functions(prefix: str) -> set[str]:
    return {
        name
        for name, fn in inspect.getmembers(flows, inspect.isfunction)
        if name.startswith(prefix) and fn.__module__ == flows.__name__
    }


def _state(sw: FakeSwitch) -> list[tuple[int, int, tuple[tuple[str, object], ...], object, object, int]]:
    def key(f: Flow) -> tuple[int, int, tuple[tuple[str, object], ...], object, object, int]:
        return (f.table, f.priority, tuple(sorted(f.match.items())), f.actions, f.goto, f.cookie)

    return sorted((key(f) for f in sw.flows()), key=repr)


def test_every_install_builder_has_a_paired_delete():
    assert _functions("install_") == set(flows.INSTALL_DELETE_PAIRS)
    deletes = set(flows.INSTALL_DELETE_PAIRS.values())
    assert deletes <= _functions("delete_")
    assert _functions("delete_") - deletes == WHOLE_DELETES  # every other delete is one install's undo


@pytest.mark.parametrize("name", INSTALLS)
def test_a_delete_takes_a_subset_of_its_installs_parameters(name):
    """So that it can be called with the install's arguments (by name)."""
    delete = flows.INSTALL_DELETE_PAIRS[name]
    install_params = inspect.signature(builder(name)).parameters
    delete_params = inspect.signature(builder(delete)).parameters
    assert set(delete_params) <= set(install_params), f"{delete} takes {set(delete_params) - set(install_params)}"
    assert list(delete_params)[0] == "dpid"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_install_then_its_delete_leaves_the_switch_empty(case):
    name, extra = case
    sw = FakeSwitch(1)
    added = install(name, 0, extra)
    for fm in added:
        sw.apply(fm)
    assert len(sw.flows()) == len(added) > 0
    for fm in delete_for(name, 0, extra):
        sw.apply(fm)
    assert sw.flows() == [], sw.dump()


def _background(sw: FakeSwitch, name: str) -> None:
    """Every other builder's flows for objects 0 and 1, and this builder's for object 1: flows
    that share the object number, function or table with the one under test."""
    for other in INSTALLS:
        objects = [0] if other in SINGLETONS else [0, 1]
        if other == name:
            objects = [] if other in SINGLETONS else [1]
        for n in objects:
            for fm in install(other, n):
                sw.apply(fm)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_delete_removes_only_its_own_flows(case):
    name, extra = case
    sw = FakeSwitch(1)
    _background(sw, name)
    before = _state(sw)
    added = install(name, 0, extra)
    for fm in added:
        sw.apply(fm)
    assert len(sw.flows()) == len(before) + len(added)  # the sample replaced nothing
    for fm in delete_for(name, 0, extra):
        sw.apply(fm)
    assert _state(sw) == before


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_delete_removes_its_flows_whatever_their_generation(case):
    name, extra = case
    sw = FakeSwitch(1)
    for fm in install(name, 0, extra):
        sw.apply(flows.in_generation(fm, 1))
    assert {f.cookie >> 55 & 1 for f in sw.flows()} == {1}
    for fm in delete_for(name, 0, extra):
        sw.apply(fm)
    assert sw.flows() == [], sw.dump()
