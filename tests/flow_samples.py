"""Sample arguments for every flow builder in ``openflow_rules.flows``, for table-driven tests.

A builder's arguments are made up from their names, for an object ``n`` of builder number ``b``:
prefixes, ports, labels and correspondent ids differ between builders and between objects, so
the sample flows of all builders sit side by side on one switch without overlapping; MN / host
objects (``obj``, ``mn_obj``) depend on ``n`` only, so flows of different functions share them
(a delete must tell them apart by its function or match, not by the object alone).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from openflow_rules import flows
from openflow_rules.intents import FlowMod
from openflow_rules.pipeline import Table

INSTALLS = sorted(flows.INSTALL_DELETE_PAIRS)

# one flow (set) per switch whatever the arguments: a second object would be the same flow
SINGLETONS = frozenset(
    {
        "install_punts",
        "install_from_controller",
        "install_mh_punt",
        "install_mpls_classify",
        "install_access_miss",
        "install_uplink_miss",
    }
)

# builders with options that change the flow (the default arguments are a case too)
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "install_drf": [{"label": None, "port": None}],  # correspondent on the same switch
    "install_anchor": [{"punt": True}],  # DAF on: the headers go to the controller too
    "install_local_label": [{"goto": Table.UPLINK}],  # an eLMA(DRF), §7.2
    "install_trunk": [{"goto": Table.UPLINK}],  # a router with DRF, §7.3
}

CASES: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in INSTALLS] + [
    (name, extra) for name, options in sorted(VARIANTS.items()) for extra in options
]

_ROLE = {"hnp": 1, "src": 2, "cn_prefix": 3, "src_prefix": 4, "prefix": 5, "address": 6}


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, extra = case
    return name + "".join(f"[{k}={v}]" for k, v in extra.items())


def sample_value(param: str, b: int, n: int) -> Any:
    """The value of parameter ``param`` for object ``n`` of builder number ``b``."""
    if param == "dpid":
        return 1
    if param in ("obj", "mn_obj"):
        return n + 1
    if param in ("cn_id", "src_id"):
        return 100 + 8 * b + n
    if param in ("hnp", "src", "cn_prefix", "src_prefix", "prefix"):
        return f"2001:db8:{b:x}:{16 * n + _ROLE[param]:x}::/64"
    if param == "address":
        return f"2001:db8:{b:x}:{16 * n + _ROLE[param]:x}::10"
    if param == "port":
        return 10 + 8 * b + n
    if param in ("label", "lma_label", "coa_label"):
        return 1000 + 8 * b + n
    if param in ("mac", "mn_mac"):
        return f"02:00:00:00:{b:02x}:{n + 0x10:02x}"
    if param == "router_mac":
        return "02:00:00:00:00:01"
    if param == "router_ll":
        return "fe80::1"
    raise KeyError(f"no sample value for parameter {param!r}")


def builder(name: str) -> Callable[..., FlowMod | list[FlowMod]]:
    fn: Callable[..., FlowMod | list[FlowMod]] = getattr(flows, name)
    return fn


def sample_args(name: str, n: int = 0, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for install builder ``name`` and its object ``n`` (parameters with a
    default keep it unless ``extra`` sets them)."""
    b = INSTALLS.index(name) + 1
    args = {
        p.name: sample_value(p.name, b, n)
        for p in inspect.signature(builder(name)).parameters.values()
        if p.default is inspect.Parameter.empty
    }
    return {**args, **(extra or {})}


def as_list(result: FlowMod | list[FlowMod]) -> list[FlowMod]:
    return result if isinstance(result, list) else [result]


def install(name: str, n: int = 0, extra: dict[str, Any] | None = None) -> list[FlowMod]:
    return as_list(builder(name)(**sample_args(name, n, extra)))


def delete_for(install_name: str, n: int = 0, extra: dict[str, Any] | None = None) -> list[FlowMod]:
    """The paired delete of ``install_name`` for the same object, called with the install's
    arguments that it takes."""
    delete = flows.INSTALL_DELETE_PAIRS[install_name]
    args = sample_args(install_name, n, extra)
    params = inspect.signature(builder(delete)).parameters
    return as_list(builder(delete)(**{k: v for k, v in args.items() if k in params}))
