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
import ipaddress
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

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


AUTH_BYTES = 16
Keys = Callable[[str, str], bytes]  # (src, dst) -> the pair's key
HBH_PEER = "(hop-by-hop)"  # the receiver in the key of a Hop-by-Hop query: whichever LMF intercepts it


def _tag(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()[:AUTH_BYTES]


def pair_key(secret: bytes, a: str, b: str) -> bytes:
    """The key of the pair of nodes ``a`` and ``b``, derived from the domain's secret (§8).  A node
    that holds only its own pairs' keys cannot make a message that verifies as another node's:
    the receiver checks it with the key of the pair (claimed sender, itself)."""
    lo, hi = sorted((a, b))
    return hmac.new(secret, f"epmip pair|{lo}|{hi}".encode(), hashlib.sha256).digest()


def pair_keys(secret: bytes | None) -> Keys | None:
    return None if secret is None else (lambda src, dst: pair_key(secret, src, dst))


@dataclass
class Message:
    TYPE: ClassVar[str] = ""
    src: str
    dst: str
    seq: int

    def encode(self, key: bytes | None = None) -> bytes:
        """Wire bytes: the msgpack document, and with ``key`` (the sender-receiver pair's key, see
        ``pair_key``) a 16-byte HMAC-SHA256 tag over exactly those bytes appended (§8)."""
        layout = _LAYOUTS.get(type(self))
        if layout is not None:  # asdict() without its deep copy: the same document
            body: dict[str, Any] = dict(zip(layout.keys, layout.head + layout.values(self), strict=True))
        else:  # a subclass made elsewhere (tests)
            body = {"type": self.TYPE, "v": WIRE_VERSION} | {f.name: getattr(self, f.name) for f in fields(self)}
        data: bytes = msgpack.packb(body, use_bin_type=True)
        return data + _tag(key, data) if key is not None else data

    def size(self) -> int:
        """``len(self.encode())`` without building the document: the fields' values packed as an
        array, plus what the rest adds - the keys, the type and version values, the difference of
        the map's header and the array's - which is fixed per type.  The bus counts every message
        at its wire size, and most never leave the process (issue 13: no encoding for a receiver
        in the same process)."""
        layout = _LAYOUTS.get(type(self))
        if layout is None:
            return len(self.encode())
        return len(msgpack.packb(layout.values(self), use_bin_type=True)) + layout.rest_size


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


@dataclass
class LUR(Message):
    """Location Update Request (draft §7.2), eLMA(DRF) -> its preferred LMF (-> the LMF responsible
    for the HNPs, §7.4): ``mn_id``'s HNPs are at ``coa`` (the eLMA's own address) for
    ``lifetime`` seconds; ``coa`` "" withdraws the location (the binding at that eLMA is gone).
    ``timestamp`` is the registration's (the PBU's), so an older update cannot undo a newer one."""

    TYPE: ClassVar[str] = "LUR"
    mn_id: str = ""
    hnps: list[str] = field(default_factory=list)
    coa: str = ""
    lifetime: float = 0.0
    timestamp: float = 0.0


@dataclass
class LUA(Message):
    """Location Update Answer, LMF -> eLMA(DRF): the update's status, the location the LMF held
    before (``previous_coa``: the eLMA whose DMF must be told of the move, §7.2) and the DRFs it
    gave the location to (``holders``: they must be updated, as a PBA's holders in §4.3)."""

    TYPE: ClassVar[str] = "LUA"
    mn_id: str = ""
    status: int = Status.ACCEPTED
    previous_coa: str = ""
    holders: list[str] = field(default_factory=list)


MESSAGE_TYPES: Mapping[str, type[Message]] = MappingProxyType(
    {cls.TYPE: cls for cls in (PBU, PBA, PBQR, PBQA, PBCI, PBCA, LRI, LRA, HI, HACK, PPQ, PPA, LUR, LUA)}
)
# each message type's field names in order (what ``encode`` writes)
_FIELD_NAMES: Mapping[type, tuple[str, ...]] = MappingProxyType(
    {cls: tuple(f.name for f in fields(cls)) for cls in MESSAGE_TYPES.values()}
)


class Sizer:
    """``msg.size()`` with one msgpack packer kept for every message, where ``msgpack.packb`` makes
    a packer per call (half of a size's cost; the bus sizes every message it sends, issue 13).
    Holds nothing that a copy must keep: a copy is a new sizer."""

    __slots__ = ("_pack",)

    def __init__(self) -> None:
        self._pack = msgpack.Packer(use_bin_type=True).pack

    def __call__(self, msg: Message) -> int:
        layout = _LAYOUTS.get(type(msg))
        if layout is None:
            return len(msg.encode())
        return len(self._pack(layout.values(msg))) + layout.rest_size

    def __reduce__(self) -> tuple[type[Sizer], tuple[()]]:
        return Sizer, ()


class _Layout(NamedTuple):
    keys: tuple[str, ...]  # the document's keys in order: type, v, the fields
    head: tuple[str, int]  # the values of type and v
    values: Callable[[Message], tuple[Any, ...]]  # the fields' values in order (one C call)
    rest_size: int  # what the document has beside its fields' values packed as an array


def _header(entries: int) -> int:
    """Bytes of a msgpack map's or array's header (fixmap/fixarray, map16/array16)."""
    return 1 if entries < 16 else 3


def _layout(cls: type[Message]) -> _Layout:
    names = _FIELD_NAMES[cls]
    keys = ("type", "v", *names)
    head = (cls.TYPE, WIRE_VERSION)
    rest = sum(len(msgpack.packb(x, use_bin_type=True)) for x in (*keys, *head))
    rest += _header(len(keys)) - _header(len(names))
    return _Layout(keys, head, operator.attrgetter(*names), rest)


_LAYOUTS: Mapping[type, _Layout] = MappingProxyType({cls: _layout(cls) for cls in MESSAGE_TYPES.values()})

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


MAX_MESSAGE = 1 << 20  # bytes
MAX_NAME = 64  # characters of a node name or MN-Identifier
MAX_LIFETIME = 4 * 0xFFFF  # seconds (RFC 5213: 16-bit lifetime in 4 s units)
# list fields: (most items, check of one item)
_LIST_LIMITS: Mapping[str, int] = MappingProxyType(
    {"hnps": 8, "peer_hnps": 8, "holders": 1024, "holds": 64, "correspondents": 4096, "frames": 4096}
)
_ADDRESS_FIELDS = ("coa", "new_coa", "address", "requester", "peer_mag", "previous_coa")
_NAME_FIELDS = ("src", "dst", "mn_id", "peer_mn_id", "lma")
MAX_FRAME = 9216


def decode(data: bytes, key: bytes | Keys | None = None) -> Message:
    """Decode wire bytes into a message record, or raise MessageError (its subclass
    AuthenticationError for authentication) naming what is wrong - never another exception.
    With ``key`` (a key, or the pair-key function of the domain's secret), a message without a
    valid tag over its exact bytes raises AuthenticationError."""
    if not isinstance(data, (bytes, bytearray)):
        raise MessageError(f"expected bytes, got {type(data).__name__}")
    if len(data) > MAX_MESSAGE:
        raise MessageError(f"message of {len(data)} bytes is longer than {MAX_MESSAGE}")
    data = bytes(data)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=MAX_MESSAGE)
    try:
        unpacker.feed(data)
        body = unpacker.unpack()
        used = unpacker.tell()
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise MessageError(f"not a msgpack document ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(body, dict):
        raise MessageError(f"expected a msgpack map, got {type(body).__name__}")
    mtype = body.get("type")
    cls = MESSAGE_TYPES.get(mtype) if isinstance(mtype, str) else None
    if cls is None:
        raise MessageError(f"field 'type': got {mtype!r:.80}, expected one of {sorted(MESSAGE_TYPES)}")
    if body.get("v") != WIRE_VERSION:
        raise MessageError(f"{mtype} field 'v': got {body.get('v')!r:.40}, expected {WIRE_VERSION}")
    rest = data[used:]
    if key is None and rest:
        raise MessageError(f"not a msgpack document: {len(rest)} bytes after the {mtype} map")
    kwargs = _fields(cls, str(mtype), body)
    if key is not None:
        if not rest:
            raise AuthenticationError(f"{mtype} is not authenticated (no tag)")
        if len(rest) != AUTH_BYTES:
            raise AuthenticationError(f"{mtype} has a {len(rest)}-byte tag, expected {AUTH_BYTES}")
        k = key if isinstance(key, bytes) else key(kwargs["src"], kwargs["dst"])
        if not hmac.compare_digest(rest, _tag(k, data[:used])):
            raise AuthenticationError(f"{mtype} failed authentication (its tag does not match)")
    return cls(**kwargs)


def _fields(cls: type[Message], mtype: str, body: dict[Any, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in body:
            raise MessageError(f"{mtype} is missing field '{f.name}'")
        value: Any = body[f.name]
        kinds = _KINDS[str(f.type)]
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r:.80}, expected {f.type}")
        elems: list[Any] = body[f.name] if isinstance(body[f.name], list) else []
        if f.type == "list[str]" and not all(isinstance(x, str) for x in elems):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r:.80}, expected a list of strings")
        if f.type == "list[bytes]" and not all(isinstance(x, bytes) for x in elems):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r:.80}, expected a list of byte strings")
        if f.type == "list[dict[str, str]]" and not all(
            isinstance(x, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in x.items()) for x in elems
        ):
            raise MessageError(f"{mtype} field '{f.name}': got {value!r:.80}, expected a list of maps")
        _check_value(mtype, f.name, value)
        kwargs[f.name] = value
    extra = set(body) - {f.name for f in fields(cls)} - {"type", "v"}
    if extra:
        names = sorted(k if isinstance(k, str) else repr(k) for k in extra)
        raise MessageError(f"{mtype} has unknown field(s) {names}"[:200])
    return kwargs


def _check_value(mtype: str, name: str, value: Any) -> None:
    """Ranges, addresses, prefixes and sizes of one field (after its type was checked)."""

    def bad(expected: str) -> MessageError:
        return MessageError(f"{mtype} field '{name}': got {value!r:.80}, expected {expected}")

    if name == "seq" and not 0 <= value <= 0xFFFF:
        raise bad("0..65535")
    if name in ("status", "handoff") and not 0 <= value <= 255:
        raise bad("0..255")
    if name in ("lifetime", "timestamp") and not (math.isfinite(value) and value >= 0):
        raise bad("a finite number >= 0")
    if name == "lifetime" and value > MAX_LIFETIME:
        raise bad(f"at most {MAX_LIFETIME}")
    if name in _NAME_FIELDS and (len(value) > MAX_NAME or not value.isprintable()):
        raise bad(f"a printable name of at most {MAX_NAME} characters")
    if name in _ADDRESS_FIELDS and value != "" and not _is_address(value):
        raise bad("an IPv6 address or ''")
    if name in _LIST_LIMITS and len(value) > _LIST_LIMITS[name]:
        raise bad(f"at most {_LIST_LIMITS[name]} items")
    if name in ("hnps", "peer_hnps", "holds") and not all(_is_prefix(x) for x in value):
        raise bad("IPv6 prefixes")
    if name == "holders" and not all(_is_address(x) for x in value):
        raise bad("IPv6 addresses")
    if name == "correspondents" and not all(
        set(x) == {"prefix", "coa"} and _is_prefix(x["prefix"]) and _is_address(x["coa"]) for x in value
    ):
        raise bad("{prefix, coa} maps")
    if name == "frames" and any(len(x) > MAX_FRAME for x in value):
        raise bad(f"frames of at most {MAX_FRAME} bytes")


def _is_address(text: str) -> bool:
    if len(text) > 45 or "%" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_prefix(text: str) -> bool:
    if len(text) > 49 or "%" in text:
        return False
    try:
        ipaddress.IPv6Network(text)
    except ValueError:
        return False
    return True


def validate(msg: Message) -> None:
    """Check a message record built by another codec (``controller/wire.py``) against the same
    rules as ``decode``: field kinds, ranges, names, addresses, prefixes and list sizes.  Raises
    MessageError naming the first field that is wrong."""
    mtype = msg.TYPE
    if MESSAGE_TYPES.get(mtype) is not type(msg):
        raise MessageError(f"{type(msg).__name__} is not a signalling message type")
    body: dict[Any, Any] = {"type": mtype, "v": WIRE_VERSION}
    body.update({f.name: getattr(msg, f.name) for f in fields(msg)})
    _fields(type(msg), mtype, body)
