"""The pipeline as data: tables, named priority bands and the cookie layout.

Every flow epmip installs lives in one of four tables::

    0 CLASSIFY  punt RS/NS-for-router; access port + source in HNP -> UPLINK;
                fixed-host port -> ROUTE; MPLS -> LABEL; IPv6 from a trunk -> ROUTE; miss: drop
    1 LABEL     own label -> pop, clear in_port (hairpin allowed), -> ROUTE;
                other label -> output toward that endpoint (shortest path)
    2 UPLINK    (e)MAG, traffic from an MN: DRF direct tunnel (ePMIP) or reverse tunnel to the LMA
    3 ROUTE     deliver to a local MN / fixed host; redirect (p-eMAG -> n-eMAG); LMA binding
                (HNP -> tunnel to the CoA); plain prefix routes ("routing system"); miss: drop

Cookies: ``0xE9`` in the top byte marks our flows, the next byte is the function, the low 48 bits
the object (MN index, switch dpid ...), so every flow of one object can be found and deleted.
"""

from __future__ import annotations

from enum import IntEnum


class Table(IntEnum):
    CLASSIFY = 0
    LABEL = 1
    UPLINK = 2
    ROUTE = 3


class Prio(IntEnum):
    """Named priority bands; a bare number never appears in a flow."""

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
    ANCHOR = 400
    # ROUTE
    DELIVER = 900
    REDIRECT = 850
    LR_QUIET = 820
    BINDING = 800
    HOST_ROUTE = 700
    PREFIX = 400


class Fn(IntEnum):
    """The function a flow belongs to (cookie byte 6)."""

    BASE = 1  # punts, classification of trunks, label transit, prefix routes
    ACCESS = 2  # per-MN flows on its (e)MAG: access classification, anchor tunnel, delivery
    BINDING = 3  # per-MN flow on its (e)LMA: HNP -> tunnel to the Proxy-CoA
    FIXED = 4  # fixed host on its access router
    DRF = 5  # direct eMAG-eMAG tunnel entries
    REDIRECT = 6  # p-eMAG -> n-eMAG redirect during a handoff
    LR = 7  # RFC 6705 mode: an LMA's per-source flows once it has seen a pair
    BUFFER = 8  # handoff buffering: an MN's downlink to the controller


APP_COOKIE = 0xE9 << 56
APP_MASK = 0xFF << 56
FN_MASK = APP_MASK | (0xFF << 48)
OBJ_MASK = (1 << 48) - 1
FULL_MASK = (1 << 64) - 1


def cookie(fn: Fn, obj: int = 0) -> int:
    if not 0 <= obj <= OBJ_MASK:
        raise ValueError(f"cookie object id {obj} out of range 0..{OBJ_MASK}")
    return APP_COOKIE | (int(fn) << 48) | obj


def split_cookie(value: int) -> tuple[Fn | None, int]:
    """Inverse of ``cookie``; (None, 0) for a cookie that is not ours."""
    if value & APP_MASK != APP_COOKIE:
        return None, 0
    try:
        return Fn((value >> 48) & 0xFF), value & OBJ_MASK
    except ValueError:
        return None, 0
