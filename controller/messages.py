"""Signalling messages as typed records, with a msgpack wire codec.

PBU and PBA are RFC 5213's Proxy Binding Update and Acknowledgement.  PBQR/PBQA (query) and
PBCI/PBCA (binding change inform/ack) are the draft's new messages (§4.2, §4.3).  Every message
carries the sender and receiver node names and a sequence number, so the dispatcher can log,
count and route it without knowing its type.

On the wire a message is a msgpack map ``{"type": "PBU", "v": 1, <field>: <value>, ...}``.
Decoding checks the type, every field's presence and kind; a malformed message raises
``MessageError`` naming what is wrong and never a bare ``KeyError``/``TypeError``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from types import MappingProxyType
from typing import Any, ClassVar

import msgpack

WIRE_VERSION = 1


class Status(IntEnum):
    """PBA status codes (RFC 5213 §8.9) plus the query/inform results used by the draft's
    messages (values from the RFC 5213 'rejected' range are reused where the meaning matches)."""

    ACCEPTED = 0
    PROXY_REG_NOT_ENABLED = 152
    NOT_LMA_FOR_THIS_MOBILE_NODE = 153
    MAG_NOT_AUTHORIZED_FOR_PROXY_REG = 154
    NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX = 155
    TIMESTAMP_MISMATCH = 156
    TIMESTAMP_LOWER_THAN_PREV_ACCEPTED = 157
    MISSING_HOME_NETWORK_PREFIX_OPTION = 158
    BCE_PBU_PREFIX_SET_DO_NOT_MATCH = 159
    MISSING_MN_IDENTIFIER_OPTION = 160
    # query answers
    NO_LOCATION = 200  # the LMF holds no binding for the queried address


class HandoffIndicator(IntEnum):
    """RFC 5213 §8.4 Handoff Indicator values."""

    NEW_INTERFACE = 1
    DIFFERENT_INTERFACE = 2
    BETWEEN_MAGS = 3
    UNKNOWN = 4
    NOT_CHANGED = 5


class MessageError(ValueError):
    """A signalling message could not be decoded or is not well formed."""


class AuthenticationError(MessageError):
    """A signalling message is not authenticated with the domain's key (draft §8)."""


AUTH_FIELD = "auth"
AUTH_BYTES = 16


def _tag(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()[:AUTH_BYTES]


@dataclass
class Message:
    TYPE: ClassVar[str] = ""
    src: str
    dst: str
    seq: int

    def encode(self, key: bytes | None = None) -> bytes:
        """Wire bytes; with ``key`` (the domain's signalling key) an ``auth`` field is appended:
        HMAC-SHA256 over the rest of the document, truncated to 16 bytes (§8)."""
        body = {"type": self.TYPE, "v": WIRE_VERSION}
        body.update(asdict(self))
        if key is not None:
            body[AUTH_FIELD] = _tag(key, msgpack.packb(body, use_bin_type=True))
        data: bytes = msgpack.packb(body, use_bin_type=True)
        return data


@dataclass
class PBU(Message):
    TYPE: ClassVar[str] = "PBU"
    mn_id: str = ""
    mn_ll_id: str = ""
    hnps: list[str] = field(default_factory=list)  # empty: ask the LMA to assign one
    coa: str = ""  # Proxy-CoA (the MAG's address)
    lifetime: float = 0.0  # 0 = de-registration
    timestamp: float = 0.0
    handoff: int = HandoffIndicator.NEW_INTERFACE


@dataclass
class PBA(Message):
    TYPE: ClassVar[str] = "PBA"
    mn_id: str = ""
    status: int = Status.ACCEPTED
    hnps: list[str] = field(default_factory=list)
    coa: str = ""
    lifetime: float = 0.0
    timestamp: float = 0.0
    previous_coa: str = ""  # ePMIP extension (§4.3): the MN's previous location, "" if none
    elma: bool = False  # whether the answering LMA has an LMF (the eMAG enables DAF only then)
    # ePMIP extension: the DRFs (addresses) the LMF gave the MN's location to, still within the
    # lifetime it gave them - the serving eMAG must update them at a handoff and a departure
    holders: list[str] = field(default_factory=list)


@dataclass
class PBQR(Message):
    TYPE: ClassVar[str] = "PBQR"
    address: str = ""  # the correspondent's address being located
    requester: str = ""  # the querying DRF's address


@dataclass
class PBQA(Message):
    TYPE: ClassVar[str] = "PBQA"
    address: str = ""
    status: int = Status.ACCEPTED
    coa: str = ""  # the correspondent's location
    hnps: list[str] = field(default_factory=list)
    lifetime: float = 0.0


@dataclass
class PBCI(Message):
    TYPE: ClassVar[str] = "PBCI"
    mn_id: str = ""
    hnps: list[str] = field(default_factory=list)
    new_coa: str = ""  # "" withdraws the location (the MN left, §6)
    timestamp: float = 0.0  # the MN's attach time at its new eMAG (sender's clock, epoch-based)
    # n-eMAG -> p-eMAG: further DRFs (addresses) that hold the MN's location (from the LMF)
    holders: list[str] = field(default_factory=list)
    # p-eMAG -> a correspondent's DRF: the receiver's prefixes toward which the MN's new eMAG now
    # holds a direct entry (so the receiver knows whom to tell when its own endpoint moves)
    holds: list[str] = field(default_factory=list)


@dataclass
class PBCA(Message):
    TYPE: ClassVar[str] = "PBCA"
    mn_id: str = ""
    status: int = Status.ACCEPTED
    # the MN's current correspondents: [{"prefix": ..., "coa": ...}, ...]
    correspondents: list[dict[str, str]] = field(default_factory=list)
    # p-eMAG -> n-eMAG: every DRF (address) told of the move, i.e. holding the MN's new location
    holders: list[str] = field(default_factory=list)


@dataclass
class LRI(Message):
    """RFC 6705 Localized Routing Initiation, LMA -> MAG: forward ``mn_id``'s traffic for
    ``peer_hnps`` straight to the MAG at ``peer_mag``."""

    TYPE: ClassVar[str] = "LRI"
    mn_id: str = ""
    hnps: list[str] = field(default_factory=list)
    peer_mn_id: str = ""
    peer_hnps: list[str] = field(default_factory=list)
    peer_mag: str = ""
    lifetime: float = 0.0


@dataclass
class LRA(Message):
    """RFC 6705 Localized Routing Acknowledgment, MAG -> LMA."""

    TYPE: ClassVar[str] = "LRA"
    mn_id: str = ""
    peer_mn_id: str = ""
    status: int = Status.ACCEPTED


@dataclass
class HI(Message):
    """Handover Initiate in the spirit of RFC 5949, n-MAG -> p-MAG: ``mn_id`` is registered at
    the sender now, so whatever p-MAG buffered for it (handoff buffering) is handed over."""

    TYPE: ClassVar[str] = "HI"
    mn_id: str = ""
    hnps: list[str] = field(default_factory=list)
    new_coa: str = ""


@dataclass
class HACK(Message):
    """Handover Acknowledge, p-MAG -> n-MAG: the downlink frames p-MAG buffered for ``mn_id``,
    in arrival order, for n-MAG to deliver on the MN's new link."""

    TYPE: ClassVar[str] = "HACK"
    mn_id: str = ""
    status: int = Status.ACCEPTED
    frames: list[bytes] = field(default_factory=list)


@dataclass
class PPQ(Message):
    """Policy profile query, MAG -> policy store (RFC 5213 §2.2 policy store; RFC 5779 does it with
    Diameter): which LMA anchors ``mn_id``?  ``lma`` is the MAG's own choice (§4.1), which the
    store records if the MN has no anchor yet, so that the anchor is chosen once per MN."""

    TYPE: ClassVar[str] = "PPQ"
    mn_id: str = ""
    lma: str = ""


@dataclass
class PPA(Message):
    """Policy profile answer: the LMA that anchors ``mn_id`` (its HNPs stay with it)."""

    TYPE: ClassVar[str] = "PPA"
    mn_id: str = ""
    status: int = Status.ACCEPTED
    lma: str = ""


MESSAGE_TYPES: Mapping[str, type[Message]] = MappingProxyType(
    {cls.TYPE: cls for cls in (PBU, PBA, PBQR, PBQA, PBCI, PBCA, LRI, LRA, HI, HACK, PPQ, PPA)}
)

_KINDS: Mapping[str, tuple[type, ...]] = MappingProxyType(
    {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "list[str]": (list,),
        "list[dict[str, str]]": (list,),
        "list[bytes]": (list,),
    }
)


def decode(data: bytes, key: bytes | None = None) -> Message:
    """Decode wire bytes into a message record, or raise MessageError saying what is wrong.  With
    ``key``, a message without a valid ``auth`` field raises AuthenticationError."""
    if not isinstance(data, (bytes, bytearray)):
        raise MessageError(f"expected bytes, got {type(data).__name__}")
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise MessageError(f"not a msgpack document ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(body, dict):
        raise MessageError(f"expected a msgpack map, got {type(body).__name__}")
    mtype = body.get("type")
    cls = MESSAGE_TYPES.get(mtype) if isinstance(mtype, str) else None
    if cls is None:
        raise MessageError(f"field 'type': got {mtype!r}, expected one of {sorted(MESSAGE_TYPES)}")
    if body.get("v") != WIRE_VERSION:
        raise MessageError(f"{mtype} field 'v': got {body.get('v')!r}, expected {WIRE_VERSION}")
    tag = body.pop(AUTH_FIELD, None)
    if key is not None:
        if tag is None:
            raise AuthenticationError(f"{mtype} is not authenticated (no '{AUTH_FIELD}' field)")
        if not isinstance(tag, bytes) or not hmac.compare_digest(
            tag, _tag(key, msgpack.packb(body, use_bin_type=True))
        ):
            raise AuthenticationError(f"{mtype} failed authentication (its '{AUTH_FIELD}' does not match)")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in body:
            raise MessageError(f"{mtype} is missing field '{f.name}'")
        value: Any = body[f.name]
        kinds = _KINDS[str(f.type)]
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r}, expected {f.type}")
        elems: list[Any] = body[f.name] if isinstance(body[f.name], list) else []
        if f.type == "list[str]" and not all(isinstance(x, str) for x in elems):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r}, expected a list of strings")
        if f.type == "list[bytes]" and not all(isinstance(x, bytes) for x in elems):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r}, expected a list of byte strings")
        if f.type == "list[dict[str, str]]" and not all(
            isinstance(x, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in x.items()) for x in elems
        ):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r}, expected a list of maps")
        kwargs[f.name] = value
    extra = set(body) - {f.name for f in fields(cls)} - {"type", "v"}
    if extra:
        raise MessageError(f"{mtype} has unknown field(s) {sorted(extra)}")
    return cls(**kwargs)
