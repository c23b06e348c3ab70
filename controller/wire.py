"""Signalling messages as IPv6 Mobility Headers (RFC 6275 §6.1), the format they have on a wire.

``encode(msg)`` gives the Mobility Header (the payload of an IPv6 packet whose Next Header is
135) and ``decode(data)`` gives the message back, or raises ``messages.MessageError`` (its
subclass ``AuthenticationError`` for the §8 tag) - never another exception.  The in-process bus
keeps its msgpack codec (``messages.py``); this one is for what leaves the process: signalling
between controller instances and the ``--epmip-signalling-pcap`` capture.

Layout (docs/signalling-wire.md has the byte maps and the numbers):

* Every message: the 6-byte Mobility Header (Payload Proto 59 = no next header, Header Len in
  8-octet units not counting the first 8, MH Type, Reserved 0, Checksum over the IPv6
  pseudo-header), the type's fixed part, then mobility options, padded with Pad1/PadN so that
  each option meets its alignment and the whole header is a multiple of 8 octets.  A Mobility
  Header is at most 2048 octets (Header Len is 8 bits); a message that does not fit raises
  MessageError at encoding.
* PBU and PBA are RFC 5213's: MH type 5 / 6 with the P flag (and A, H for the PBU), the sequence
  number, the lifetime in 4-second units, the status (PBA), and the options MN-Identifier (8,
  NAI subtype 1), Home Network Prefix (22, one per HNP; none known: one ::/0, RFC 5213 §6.9.1.1),
  Handoff Indicator (23), Access Technology Type (24, IEEE 802.3), MN Link-layer Identifier (25)
  and Timestamp (27: RFC 5213 §8.8's fixed point, 48 bits of seconds since 1970 and 16 bits of
  1/65536 s - not the NTP format; Wireshark decodes it so).  A Link-local Address option (26) is accepted and
  ignored (epmip's routers share one link-local address, configured on every node).
* Every other message is an RFC 5096 Experimental Mobility Header (MH type 11) whose message data
  starts with our subtype byte (``SUBTYPES``), a version byte, the sequence number and two
  reserved bytes.
* What RFC 5213 has no option for travels in RFC 5096 Experimental Mobility Options (type 18),
  each starting with one byte of ours naming the field (``Ex``): the sender and receiver node
  names, the Proxy-CoA (RFC 5213 has it as the IPv6 source address; carried, because between
  controller instances the packet travels over loopback), the draft's previous CoA (§4.3) and the
  other ePMIP fields.  The MN-Identifier and HNP options are used in the experimental messages
  too, with their RFC meaning.
* The lifetime (4-second units) and the timestamp (1/65536 s) of PBU/PBA are rounded on the wire;
  when the value is not exact in that unit, an experimental option carries the exact IEEE 754
  double as well (the receiver checks that it rounds to the RFC field), so a message decodes to
  exactly what was sent.
* §8 authentication: the last option is the experimental option ``Ex.AUTH`` with the 16-byte
  HMAC-SHA256 tag (the (sender, receiver) pair's key, ``messages.pair_key``) over every byte of
  the header before the tag, the checksum taken as zero.  The checksum is computed last.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import struct
from collections.abc import Callable
from dataclasses import fields
from enum import IntEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from controller import messages
from controller.messages import (
    AUTH_BYTES,
    PBA,
    PBU,
    AuthenticationError,
    Keys,
    Message,
    MessageError,
)

IPPROTO_MH = 135
IPPROTO_NONE = 59
MH_PBU = 5
MH_PBA = 6
MH_EXPERIMENTAL = 11  # RFC 5096
MAX_MH = 8 * 256  # octets: Header Len is one byte, in units of 8 not counting the first 8
WIRE_VERSION = 1  # of the experimental messages' data (the version byte)

# mobility option types (IANA "Mobility Options")
OPT_PAD1 = 0
OPT_PADN = 1
OPT_MN_ID = 8  # RFC 4283
OPT_EXPERIMENTAL = 18  # RFC 5096
OPT_HNP = 22  # RFC 5213 §8.3
OPT_HANDOFF = 23  # §8.4
OPT_ACCESS_TECH = 24  # §8.5
OPT_MN_LL_ID = 25  # §8.6
OPT_LINK_LOCAL = 26  # §8.7
OPT_TIMESTAMP = 27  # §8.8
MN_ID_NAI = 1  # MN-Identifier subtype
ATT_IEEE_802_3 = 3  # Access Technology Type: the access links are Ethernet

PBU_FLAG_A = 0x8000  # acknowledge
PBU_FLAG_H = 0x4000  # home registration
PBU_FLAG_P = 0x0200  # proxy registration (RFC 5213 §8.1)
PBU_FLAGS = PBU_FLAG_A | PBU_FLAG_H | PBU_FLAG_P
PBA_FLAG_P = 0x20  # RFC 5213 §8.2
LIFETIME_UNIT = 4  # seconds
TIMESTAMP_FRACTION = 1 << 16  # the Timestamp option's unit is 1/65536 s


class Ex(IntEnum):
    """The first byte of an experimental mobility option (type 18): which field it carries."""

    SRC = 1  # sender node name (UTF-8)
    DST = 2  # receiver node name (UTF-8; empty: a Hop-by-Hop query's "any LMF")
    COA = 3  # 16 octets: Proxy-CoA (PBU, PBA), a location (PBQA)
    NEW_COA = 4  # 16 octets: PBCI, HI
    PREVIOUS_COA = 5  # 16 octets: the draft's §4.3 extension of the PBA
    ELMA = 6  # no data: the answering LMA has an LMF (PBA)
    HOLDER = 7  # 16 octets, one option per holder, in order
    HOLDS = 8  # prefix length + 16 octets, one option per prefix, in order
    ADDRESS = 9  # 16 octets: the queried address (PBQR, PBQA)
    REQUESTER = 10  # 16 octets: the querying DRF (PBQR)
    STATUS = 11  # 1 octet: the status of an experimental answer
    CORRESPONDENT = 12  # prefix length + 16 octets prefix + 16 octets CoA, one per entry
    PEER_MN_ID = 13  # UTF-8 (LRI, LRA)
    PEER_HNP = 14  # prefix length + 16 octets (LRI)
    PEER_MAG = 15  # 16 octets (LRI)
    LIFETIME = 16  # IEEE 754 double, seconds (exact value; PBU/PBA: only when not a multiple of 4)
    TIMESTAMP = 17  # IEEE 754 double, seconds since 1970 (PBU/PBA: only when the Timestamp option rounds it)
    FRAME = 18  # 1 octet flags (0x01: the frame goes on in the next FRAME option) + up to 252 octets
    LMA = 19  # UTF-8 (PPQ, PPA)
    AUTH = 255  # the §8 tag (16 octets); always the last option


# the subtype byte of the experimental messages (MH type 11)
SUBTYPES = MappingProxyType(
    {
        "PBQR": 1,
        "PBQA": 2,
        "PBCI": 3,
        "PBCA": 4,
        "LRI": 5,
        "LRA": 6,
        "HI": 7,
        "HACK": 8,
        "PPQ": 9,
        "PPA": 10,
        "LUR": 11,
        "LUA": 12,
    }  # fmt: skip
)
BY_SUBTYPE = MappingProxyType({v: k for k, v in SUBTYPES.items()})

FRAME_MORE = 0x01
FRAME_CHUNK = 252  # octets of a frame per FRAME option (option data at most 255: code + flags + 252)
# alignment (n, offset) of the options that RFC 5213 gives one; offsets from the header's start
_ALIGN = MappingProxyType({OPT_HNP: (8, 4), OPT_MN_LL_ID: (8, 2), OPT_TIMESTAMP: (8, 2), OPT_LINK_LOCAL: (8, 6)})
_AUTH_OPTION = 2 + 1 + AUTH_BYTES  # type, length, our code, tag
_HEADER = struct.Struct("!BBBBH")  # payload proto, header len, MH type, reserved, checksum
_PBU = struct.Struct("!HHH")  # sequence, flags, lifetime
_PBA = struct.Struct("!BBHH")  # status, flags, sequence, lifetime
_EXP = struct.Struct("!BBHH")  # subtype, version, sequence, reserved
_DOUBLE = struct.Struct("!d")
_TIMESTAMP = struct.Struct("!Q")
_FIXED = 12  # octets before the options, for every message type

# fields (per message type) carried as experimental options with one value
_EX_ADDRESS = MappingProxyType(
    {"coa": Ex.COA, "new_coa": Ex.NEW_COA, "previous_coa": Ex.PREVIOUS_COA, "address": Ex.ADDRESS,
     "requester": Ex.REQUESTER, "peer_mag": Ex.PEER_MAG}
)  # fmt: skip
_EX_NAME = MappingProxyType({"src": Ex.SRC, "dst": Ex.DST, "peer_mn_id": Ex.PEER_MN_ID, "lma": Ex.LMA})
_EX_PREFIXES = MappingProxyType({"holds": Ex.HOLDS, "peer_hnps": Ex.PEER_HNP})
_SINGLE = frozenset(
    {Ex.SRC, Ex.DST, Ex.COA, Ex.NEW_COA, Ex.PREVIOUS_COA, Ex.ELMA, Ex.ADDRESS, Ex.REQUESTER, Ex.STATUS,
     Ex.PEER_MN_ID, Ex.PEER_MAG, Ex.LIFETIME, Ex.TIMESTAMP, Ex.LMA, Ex.AUTH}
)  # fmt: skip

_EX_CODES = frozenset(int(code) for code in Ex)
# the message field each experimental option carries (AUTH: every message has a sender)
_FIELD_OF = MappingProxyType(
    {Ex.SRC: "src", Ex.DST: "dst", Ex.COA: "coa", Ex.NEW_COA: "new_coa", Ex.PREVIOUS_COA: "previous_coa",
     Ex.ELMA: "elma", Ex.HOLDER: "holders", Ex.HOLDS: "holds", Ex.ADDRESS: "address", Ex.REQUESTER: "requester",
     Ex.STATUS: "status", Ex.CORRESPONDENT: "correspondents", Ex.PEER_MN_ID: "peer_mn_id", Ex.PEER_HNP: "peer_hnps",
     Ex.PEER_MAG: "peer_mag", Ex.LIFETIME: "lifetime", Ex.TIMESTAMP: "timestamp", Ex.FRAME: "frames", Ex.LMA: "lma",
     Ex.AUTH: "src"}
)  # fmt: skip

Addresses = tuple[str, str] | Callable[[str, str], tuple[str, str]]


# ------------------------------------------------------------------ encoding


class _Writer:
    """Mobility options after a fixed part, each at its alignment."""

    def __init__(self, fixed: bytes) -> None:
        self.buf = bytearray(fixed)

    def pad_to(self, n: int, offset: int) -> None:
        gap = (offset - len(self.buf)) % n
        if gap == 1:
            self.buf.append(OPT_PAD1)
        elif gap > 1:
            self.buf += bytes((OPT_PADN, gap - 2)) + bytes(gap - 2)

    def option(self, otype: int, data: bytes) -> None:
        if len(data) > 255:
            raise MessageError(f"mobility option {otype} of {len(data)} octets is longer than 255")
        n, offset = _ALIGN.get(otype, (1, 0))
        self.pad_to(n, offset)
        self.buf += bytes((otype, len(data))) + data

    def ex(self, code: Ex, data: bytes = b"") -> None:
        self.option(OPT_EXPERIMENTAL, bytes((code,)) + data)


def _address(text: str, what: str) -> bytes:
    try:
        return ipaddress.IPv6Address(text).packed
    except ValueError:
        raise MessageError(f"{what}: {text!r:.60} is not an IPv6 address") from None


def _prefix(text: str, what: str) -> bytes:
    try:
        net = ipaddress.IPv6Network(text)
    except ValueError:
        raise MessageError(f"{what}: {text!r:.60} is not an IPv6 prefix") from None
    return bytes((net.prefixlen,)) + net.network_address.packed


def _mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise MessageError(f"mn_ll_id: {text!r:.60} is not a MAC address")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise MessageError(f"mn_ll_id: {text!r:.60} is not a MAC address") from None


def _timestamp(stamp: float) -> int:
    """Seconds since 1970 -> the Timestamp option's 64-bit value (48.16 fixed point), rounded to
    the nearest unit (and wrapped past 2^48 s, which only a hostile value reaches)."""
    return round(Fraction(stamp) * TIMESTAMP_FRACTION) & 0xFFFFFFFFFFFFFFFF


def _lifetime_units(lifetime: float) -> int:
    return min(math.ceil(lifetime / LIFETIME_UNIT), 0xFFFF)


def encode(msg: Message, key: bytes | None = None, src_ip: str = "::", dst_ip: str = "::") -> bytes:
    """The Mobility Header of ``msg``; with ``key`` (the pair's key) it ends with the §8 tag.  The
    checksum is computed with the IPv6 source and destination ``src_ip``/``dst_ip``.  A message
    that fails ``messages.validate`` or does not fit in one Mobility Header raises MessageError."""
    messages.validate(msg)
    seen: set[str] = {"src", "dst", "seq"}
    if isinstance(msg, PBU):
        w = _Writer(_HEADER.pack(IPPROTO_NONE, 0, MH_PBU, 0, 0) + _PBU.pack(
            msg.seq, PBU_FLAGS, _lifetime_units(msg.lifetime)))  # fmt: skip
    elif isinstance(msg, PBA):
        w = _Writer(_HEADER.pack(IPPROTO_NONE, 0, MH_PBA, 0, 0) + _PBA.pack(
            msg.status, PBA_FLAG_P, msg.seq, _lifetime_units(msg.lifetime)))  # fmt: skip
        seen.add("status")
    else:
        w = _Writer(_HEADER.pack(IPPROTO_NONE, 0, MH_EXPERIMENTAL, 0, 0) + _EXP.pack(
            SUBTYPES[msg.TYPE], WIRE_VERSION, msg.seq, 0))  # fmt: skip
    w.ex(Ex.SRC, msg.src.encode())
    w.ex(Ex.DST, msg.dst.encode())
    rfc = isinstance(msg, (PBU, PBA))
    for f in fields(msg):
        name = f.name
        if name in seen:
            continue
        seen.add(name)
        value: Any = getattr(msg, name)
        if name == "mn_id":
            if rfc or value:
                w.option(OPT_MN_ID, bytes((MN_ID_NAI,)) + value.encode())
        elif name == "hnps":
            for text in value or (["::/0"] if rfc else []):
                w.option(OPT_HNP, b"\x00" + _prefix(text, name))
        elif name == "handoff":
            w.option(OPT_HANDOFF, bytes((0, value)))
            w.option(OPT_ACCESS_TECH, bytes((0, ATT_IEEE_802_3)))
        elif name == "mn_ll_id":
            if value:
                w.option(OPT_MN_LL_ID, b"\x00\x00" + _mac(value))
        elif name == "lifetime":
            if value != (_lifetime_units(value) * LIFETIME_UNIT if rfc else 0):
                w.ex(Ex.LIFETIME, _DOUBLE.pack(float(value)))
        elif name == "timestamp":
            if rfc:
                ticks = _timestamp(value)
                w.option(OPT_TIMESTAMP, _TIMESTAMP.pack(ticks))
                if _from_timestamp(ticks) != value:
                    w.ex(Ex.TIMESTAMP, _DOUBLE.pack(float(value)))
            elif value:
                w.ex(Ex.TIMESTAMP, _DOUBLE.pack(float(value)))
        elif name == "status":
            if value:
                w.ex(Ex.STATUS, bytes((value,)))
        elif name == "elma":
            if value:
                w.ex(Ex.ELMA)
        elif name in _EX_ADDRESS:
            if value:
                w.ex(_EX_ADDRESS[name], _address(value, name))
        elif name in _EX_NAME:
            if value:
                w.ex(_EX_NAME[name], value.encode())
        elif name in _EX_PREFIXES:
            for text in value:
                w.ex(_EX_PREFIXES[name], _prefix(text, name))
        elif name == "holders":
            for text in value:
                w.ex(Ex.HOLDER, _address(text, name))
        elif name == "correspondents":
            for c in value:
                w.ex(Ex.CORRESPONDENT, _prefix(c["prefix"], name) + _address(c["coa"], name))
        elif name == "frames":
            for frame in value:
                chunks = [frame[i : i + FRAME_CHUNK] for i in range(0, len(frame), FRAME_CHUNK)] or [b""]
                for i, chunk in enumerate(chunks):
                    w.ex(Ex.FRAME, bytes((FRAME_MORE if i < len(chunks) - 1 else 0,)) + chunk)
        else:  # a field added to messages.py without a wire form
            raise MessageError(f"{msg.TYPE} field {name!r} has no Mobility Header encoding")
    if key is not None:
        w.pad_to(8, (-_AUTH_OPTION) % 8)
        w.ex(Ex.AUTH)
        w.buf[-2] += AUTH_BYTES  # the option's length covers the tag that follows
    else:
        w.pad_to(8, 0)
    size = len(w.buf) + (AUTH_BYTES if key is not None else 0)
    if size > MAX_MH:
        raise MessageError(f"{msg.TYPE} needs {size} octets, more than a Mobility Header's {MAX_MH}")
    w.buf[1] = size // 8 - 1
    if key is not None:
        w.buf += _tag(key, bytes(w.buf))
    struct.pack_into("!H", w.buf, 4, checksum(bytes(w.buf), src_ip, dst_ip))
    return bytes(w.buf)


def _tag(key: bytes, data: bytes) -> bytes:
    """The §8 tag: HMAC-SHA256 truncated to 16 octets, as ``messages`` computes it over msgpack."""
    return hmac.new(key, data, hashlib.sha256).digest()[:AUTH_BYTES]


def checksum(mh: bytes, src_ip: str, dst_ip: str) -> int:
    """RFC 6275 §6.1.1: the Internet checksum of the IPv6 pseudo-header (RFC 8200 §8.1) and the
    Mobility Header with its checksum field taken as zero."""
    data = bytearray(_address(src_ip, "source") + _address(dst_ip, "destination"))
    data += struct.pack("!I3xB", len(mh), IPPROTO_MH) + mh[:4] + b"\x00\x00" + mh[6:]
    if len(data) % 2:
        data.append(0)
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# ------------------------------------------------------------------ decoding


def _from_timestamp(ticks: int) -> float:
    return float(Fraction(ticks, TIMESTAMP_FRACTION))


def _parse_options(data: bytes, start: int) -> list[tuple[int, int, bytes]]:
    """(offset, type, data) of every option but padding, from ``start`` to the end."""
    out: list[tuple[int, int, bytes]] = []
    i = start
    while i < len(data):
        otype = data[i]
        if otype == OPT_PAD1:
            i += 1
            continue
        if i + 2 > len(data):
            raise MessageError(f"mobility option {otype} at octet {i} is cut short")
        length = data[i + 1]
        if i + 2 + length > len(data):
            raise MessageError(
                f"mobility option {otype} at octet {i} runs {i + 2 + length - len(data)} octets past the end"
            )
        value = data[i + 2 : i + 2 + length]
        if otype == OPT_PADN:
            if any(value):
                raise MessageError(f"PadN option at octet {i} is not all zero")
        else:
            out.append((i, otype, value))
        i += 2 + length
    return out


def _want(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        raise MessageError(f"{what} option has {len(value)} octets of data, expected {size}")
    return value


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise MessageError(f"{what} is not UTF-8") from None


def _ip(value: bytes, what: str) -> str:
    return str(ipaddress.IPv6Address(_want(value, 16, what)))


def _net(value: bytes, what: str) -> str:
    if len(value) != 17 or value[0] > 128:
        raise MessageError(f"{what} option does not hold a prefix length (0..128) and 16 octets")
    try:
        return str(ipaddress.IPv6Network((ipaddress.IPv6Address(value[1:17]), value[0])))
    except ValueError:
        raise MessageError(f"{what} prefix has bits set past its length /{value[0]}") from None


def _double(value: bytes, what: str) -> float:
    number: float = _DOUBLE.unpack(_want(value, 8, what))[0]
    if not math.isfinite(number) or number < 0:
        raise MessageError(f"{what}: {number} is not a finite number >= 0")
    return number


def _refined(single: dict[int, bytes], code: Ex, coarse: float, fits: Callable[[float], bool], error: str) -> float:
    """An RFC field's value, or the exact one epmip sends beside it (experimental option ``code``):
    that one must round to the RFC field (``fits``) and differ from its coarse value."""
    if code not in single:
        return coarse
    exact = _double(single[code], code.name.lower())
    if not fits(exact) or exact == coarse:
        raise MessageError(error.format(exact))
    return exact


def decode(data: bytes, key: bytes | Keys | None = None, addresses: Addresses | None = None) -> Message:
    """The message in a Mobility Header, or MessageError naming what is wrong.  With ``key`` (a
    key, or the pair-key function of the domain's secret) the header must end with a valid §8
    tag (AuthenticationError otherwise); without, it must have none.  With ``addresses`` (the
    IPv6 source and destination, or a function of the sender and receiver names giving them) the
    checksum is verified."""
    if not isinstance(data, (bytes, bytearray)):
        raise MessageError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 8 or len(data) % 8 or len(data) > MAX_MH:
        raise MessageError(f"a Mobility Header is 8..{MAX_MH} octets in units of 8, got {len(data)}")
    proto, hlen, mh_type, reserved, _ = _HEADER.unpack_from(data)
    if (hlen + 1) * 8 != len(data):
        raise MessageError(f"Header Len {hlen} says {(hlen + 1) * 8} octets, got {len(data)}")
    if proto != IPPROTO_NONE or reserved:
        raise MessageError(f"Payload Proto {proto} / Reserved {reserved}: expected {IPPROTO_NONE} / 0")
    if len(data) < _FIXED:
        raise MessageError(f"MH type {mh_type}: {len(data)} octets is too short")
    kw: dict[str, Any] = {}
    if mh_type == MH_PBU:
        cls: type[Message] = PBU
        kw["seq"], flags, units = _PBU.unpack_from(data, 6)
        if flags != PBU_FLAGS:
            raise MessageError(f"PBU flags {flags:#06x}, expected A, H and P ({PBU_FLAGS:#06x})")
    elif mh_type == MH_PBA:
        cls = PBA
        kw["status"], flags, kw["seq"], units = _PBA.unpack_from(data, 6)
        if flags != PBA_FLAG_P:
            raise MessageError(f"PBA flags {flags:#04x}, expected P ({PBA_FLAG_P:#04x})")
    elif mh_type == MH_EXPERIMENTAL:
        subtype, version, kw["seq"], reserved = _EXP.unpack_from(data, 6)
        if subtype not in BY_SUBTYPE:
            raise MessageError(f"experimental message subtype {subtype} is not one of epmip's {sorted(BY_SUBTYPE)}")
        if version != WIRE_VERSION or reserved:
            raise MessageError(
                f"experimental message version {version} / reserved {reserved}: expected {WIRE_VERSION} / 0"
            )
        cls = messages.MESSAGE_TYPES[BY_SUBTYPE[subtype]]
        units = -1
    else:
        raise MessageError(f"MH type {mh_type} is not one epmip sends ({MH_PBU}, {MH_PBA}, {MH_EXPERIMENTAL})")
    mtype = cls.TYPE
    options = _parse_options(data, _FIXED)
    tag_at = _check_auth(mtype, data, options, key is not None)
    names = {f.name for f in fields(cls)}
    single: dict[int, bytes] = {}
    multi: dict[int, list[bytes]] = {}
    frames: list[bytes] = []
    partial: bytearray | None = None
    rfc_options: dict[int, bytes] = {}
    hnps: list[str] = []
    for offset, otype, value in options:
        if otype == OPT_EXPERIMENTAL:
            if not value:
                raise MessageError(f"{mtype}: experimental option at octet {offset} without a field code")
            code, body = value[0], value[1:]
            if code not in _EX_CODES:
                raise MessageError(f"{mtype}: experimental option field code {code} is not epmip's")
            ex = Ex(code)
            if _FIELD_OF[ex] not in names or (ex == Ex.STATUS and cls is PBA):
                raise MessageError(f"{mtype} has an experimental option {ex.name} it does not carry")
            if ex == Ex.FRAME:
                if not body:
                    raise MessageError(f"{mtype}: FRAME option without its flags octet")
                if body[0] & ~FRAME_MORE:
                    raise MessageError(f"{mtype}: FRAME flags {body[0]:#04x} unknown")
                partial = (partial or bytearray()) + body[1:]
                if not body[0] & FRAME_MORE:
                    frames.append(bytes(partial))
                    partial = None
            elif ex in _SINGLE:
                if ex in single:
                    raise MessageError(f"{mtype} has two {ex.name} options")
                single[ex] = body
            else:
                multi.setdefault(ex, []).append(body)
        elif otype in (OPT_MN_ID, OPT_HANDOFF, OPT_ACCESS_TECH, OPT_MN_LL_ID, OPT_LINK_LOCAL, OPT_TIMESTAMP):
            if otype in rfc_options:
                raise MessageError(f"{mtype} has two options of type {otype}")
            if cls not in (PBU, PBA) and (otype != OPT_MN_ID or "mn_id" not in names):
                raise MessageError(f"{mtype} has an option of type {otype} (PBU/PBA only)")
            rfc_options[otype] = value
        elif otype == OPT_HNP:
            if "hnps" not in names:
                raise MessageError(f"{mtype} has a Home Network Prefix option it does not carry")
            if len(value) != 18 or value[0]:
                raise MessageError(f"{mtype}: Home Network Prefix option is not reserved 0 + length + 16 octets")
            hnps.append(_net(value[1:], "Home Network Prefix"))
        else:
            raise MessageError(f"{mtype}: mobility option type {otype} at octet {offset} is not one epmip uses")
    if partial is not None:
        raise MessageError(f"{mtype}: the last frame is not finished")
    if Ex.SRC not in single or Ex.DST not in single:
        raise MessageError(f"{mtype} lacks the sender or receiver name option")
    for name, ex in _EX_NAME.items():
        if ex in single:
            kw[name] = _text(single[ex], name)
    if key is not None:
        _verify(mtype, data, tag_at, key, kw["src"], kw["dst"])
    if addresses is not None:
        src_ip, dst_ip = addresses(kw["src"], kw["dst"]) if callable(addresses) else addresses
        if checksum(data, src_ip, dst_ip) != struct.unpack_from("!H", data, 4)[0]:
            raise MessageError(f"{mtype}: the Mobility Header checksum does not match")
    _rfc_fields(cls, kw, rfc_options, units, single)
    if "hnps" in names:
        if cls in (PBU, PBA):
            if not hnps:
                raise MessageError(f"{mtype} has no Home Network Prefix option")
            if "::/0" in hnps and len(hnps) > 1:
                raise MessageError(f"{mtype}: the ::/0 Home Network Prefix (none known) must be the only one")
            hnps = [] if hnps == ["::/0"] else hnps
        kw["hnps"] = hnps
    if "mn_id" in names and "mn_id" not in kw:
        kw["mn_id"] = ""
    for name, ex in _EX_ADDRESS.items():
        if ex in single:
            kw[name] = _ip(single[ex], name)
    for name, ex in _EX_PREFIXES.items():
        if name in names:
            kw[name] = [_net(v, name) for v in multi.get(ex, [])]
    if "holders" in names:
        kw["holders"] = [_ip(v, "holders") for v in multi.get(Ex.HOLDER, [])]
    if "correspondents" in names:
        kw["correspondents"] = [
            {"prefix": _net(v[:17], "correspondents"), "coa": _ip(_want(v, 33, "CORRESPONDENT")[17:], "correspondents")}
            for v in multi.get(Ex.CORRESPONDENT, [])
        ]
    if "frames" in names:
        kw["frames"] = frames
    if Ex.STATUS in single:
        status = _want(single[Ex.STATUS], 1, "STATUS")[0]
        if not status:
            raise MessageError(f"{mtype}: a STATUS option with 0 (accepted is sent as no option)")
        kw["status"] = status
    if Ex.ELMA in single:
        _want(single[Ex.ELMA], 0, "ELMA")
        kw["elma"] = True
    if cls not in (PBU, PBA):
        if Ex.LIFETIME in single:
            kw["lifetime"] = _double(single[Ex.LIFETIME], "lifetime")
        if Ex.TIMESTAMP in single:
            kw["timestamp"] = _double(single[Ex.TIMESTAMP], "timestamp")
    try:
        msg = cls(**kw)
    except TypeError as exc:  # cannot happen for a field set checked above; kept total
        raise MessageError(f"{mtype}: {exc}") from None
    messages.validate(msg)
    return msg


def _check_auth(mtype: str, data: bytes, options: list[tuple[int, int, bytes]], keyed: bool) -> int:
    """Where the tag starts (the AUTH option must be the last thing in the header), or -1."""
    at = [(off, v) for off, t, v in options if t == OPT_EXPERIMENTAL and v[:1] == bytes((Ex.AUTH,))]
    if not at:
        if keyed:
            raise AuthenticationError(f"{mtype} is not authenticated (no tag)")
        return -1
    if not keyed:
        raise MessageError(f"{mtype} carries a §8 tag but this domain has no signalling key")
    offset, value = at[-1]
    if len(at) > 1 or len(value) != 1 + AUTH_BYTES or offset + _AUTH_OPTION != len(data):
        raise AuthenticationError(f"{mtype}: the authentication option is not one {AUTH_BYTES}-octet tag at the end")
    return len(data) - AUTH_BYTES


def _verify(mtype: str, data: bytes, tag_at: int, key: bytes | Keys, src: str, dst: str) -> None:
    k = key if isinstance(key, bytes) else key(src, dst)
    covered = data[:4] + b"\x00\x00" + data[6:tag_at]
    if not hmac.compare_digest(data[tag_at:], _tag(k, covered)):
        raise AuthenticationError(f"{mtype} failed authentication (its tag does not match)")


def _rfc_fields(cls: type[Message], kw: dict[str, Any], opts: dict[int, bytes], units: int,
                single: dict[int, bytes]) -> None:  # fmt: skip
    """PBU/PBA: the RFC 5213 options and header fields into ``kw``; the MN-Identifier for all."""
    mtype = cls.TYPE
    if OPT_MN_ID in opts:
        value = opts[OPT_MN_ID]
        if not value or value[0] != MN_ID_NAI:
            raise MessageError(f"{mtype}: MN-Identifier option is not of subtype NAI ({MN_ID_NAI})")
        kw["mn_id"] = _text(value[1:], "MN-Identifier")
    if cls not in (PBU, PBA):
        return
    if OPT_MN_ID not in opts:
        raise MessageError(f"{mtype} has no MN-Identifier option")
    if OPT_TIMESTAMP not in opts:
        raise MessageError(f"{mtype} has no Timestamp option")
    ticks = _TIMESTAMP.unpack(_want(opts[OPT_TIMESTAMP], 8, "Timestamp"))[0]
    kw["timestamp"] = _refined(
        single, Ex.TIMESTAMP, _from_timestamp(ticks), lambda v: _timestamp(v) == ticks,
        f"{mtype}: exact timestamp {{}} does not refine the Timestamp option",
    )  # fmt: skip
    kw["lifetime"] = _refined(
        single, Ex.LIFETIME, float(units * LIFETIME_UNIT), lambda v: _lifetime_units(v) == units,
        f"{mtype}: exact lifetime {{}} does not refine the Lifetime field ({units} x 4 s)",
    )  # fmt: skip
    if OPT_LINK_LOCAL in opts:
        _want(opts[OPT_LINK_LOCAL], 16, "Link-local Address")
    if cls is PBA:
        for otype in (OPT_HANDOFF, OPT_ACCESS_TECH, OPT_MN_LL_ID):
            if otype in opts:
                raise MessageError(f"PBA with option type {otype}: epmip's PBA does not carry it")
        return
    for otype, what in ((OPT_HANDOFF, "Handoff Indicator"), (OPT_ACCESS_TECH, "Access Technology Type")):
        if otype not in opts:
            raise MessageError(f"PBU has no {what} option")
        if len(opts[otype]) != 2 or opts[otype][0]:
            raise MessageError(f"PBU: {what} option is not reserved 0 + one octet")
    kw["handoff"] = opts[OPT_HANDOFF][1]
    if not opts[OPT_ACCESS_TECH][1]:
        raise MessageError("PBU: Access Technology Type 0 is reserved")
    if OPT_MN_LL_ID in opts:
        value = opts[OPT_MN_LL_ID]
        if len(value) != 8 or value[:2] != b"\x00\x00":
            raise MessageError("PBU: MN Link-layer Identifier option is not reserved 0 + a 6-octet MAC")
        kw["mn_ll_id"] = ":".join(f"{b:02x}" for b in value[2:])
