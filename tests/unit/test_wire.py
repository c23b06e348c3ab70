"""The Mobility Header codec (controller/wire.py): every message type round-trips, PBU/PBA are
byte-exact RFC 5213 messages (golden vectors, and tshark's own decoding of a capture), the §8 tag
and the checksum are checked, and the decoder raises nothing but MessageError (hypothesis; a
bigger run with ``--wire-fuzz N``)."""

from __future__ import annotations

import ipaddress
import math
import shutil
import struct
import subprocess
from collections import Counter
from dataclasses import fields, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller import pcap, wire
from controller.messages import (
    HACK,
    HI,
    LRA,
    LRI,
    LUA,
    LUR,
    MAX_LIFETIME,
    MESSAGE_TYPES,
    PBA,
    PBCA,
    PBCI,
    PBQA,
    PBQR,
    PBU,
    PPA,
    PPQ,
    AuthenticationError,
    HandoffIndicator,
    MessageError,
    Status,
    pair_key,
)

MAG, LMA = "2001:db8:ffff::1", "2001:db8:ffff::11"
KEY = b"k" * 32

GOLDEN_PBU = PBU(src="emag1", dst="elma1", seq=7, mn_id="mn1", mn_ll_id="02:00:00:00:01:01",
                 hnps=["2001:db8:a:1::/64"], coa=MAG, lifetime=60.0, timestamp=1764763200.5,
                 handoff=HandoffIndicator.NEW_INTERFACE)  # fmt: skip
GOLDEN_PBA = PBA(src="elma1", dst="emag1", seq=7, mn_id="mn1", status=Status.ACCEPTED, hnps=["2001:db8:a:1::/64"],
                 coa=MAG, lifetime=60.0, timestamp=1764763200.5, previous_coa="2001:db8:ffff::2",
                 elma=True)  # fmt: skip
GOLDEN_REJECT = PBA(src="elma1", dst="emag1", seq=8, mn_id="mn1", status=Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
                    coa=MAG, timestamp=1764763200.5)  # fmt: skip

# Checked by hand against RFC 6275 §6.1.1 and RFC 5213 §8 (offsets in docs/signalling-wire.md).
PBU_BYTES = bytes.fromhex(
    "3b0d0500d0d30007" "c200000f12060165" "6d61673112060265" "6c6d61310804016d"
    "6e31190800000200" "0000010116120040" "20010db8000a0001" "0000000000000000"
    "12110320010db8ff" "ff00000000000000" "0000010105000000" "00001b0800006930"
    "2640800017020001" "1802000301020000"
)  # fmt: skip
PBA_BYTES = bytes.fromhex(
    "3b0e060008640020" "0007000f12060165" "6c6d613112060265" "6d6167310804016d"
    "6e31010016120040" "20010db8000a0001" "0000000000000000" "12110320010db8ff"
    "ff00000000000000" "0000010105000000" "00001b0800006930" "2640800012110520"
    "010db8ffff000000" "0000000000000212" "0106010400000000"
)  # fmt: skip
REJECT_BYTES = bytes.fromhex(
    "3b0b06006ce99d20" "0008000012060165" "6c6d613112060265" "6d6167310804016d"
    "6e31010016120000" "0000000000000000" "0000000000000000" "12110320010db8ff"
    "ff00000000000000" "0000010105000000" "00001b0800006930" "2640800001020000"
)  # fmt: skip
# the same, authenticated with pair_key(b"golden", src, dst): the header grows by the tag option
PBU_KEYED = bytes.fromhex(
    "3b0f050002c50007c200000f120601656d616731120602656c6d61310804016d6e31190800000200000001011612004020010db8000a0001"
    "000000000000000012110320010db8ffff00000000000000000001010500000000001b08000069302640800017020001180200030012"
    "11fff72b08bd749a9c6b3020f17f679d22c1"
)
PBA_KEYED = bytes.fromhex(
    "3b1006002cce00200007000f120601656c6d6131120602656d6167310804016d6e3101001612004020010db8000a0001000000000000"
    "000012110320010db8ffff00000000000000000001010500000000001b08000069302640800012110520010db8ffff00000000000000"
    "0000021201060101001211ffa332900de3654446dcff1c3dcd2ca81f"
)

FRAME = bytes(range(256)) * 3 + b"end"  # 771 octets: four FRAME options
SAMPLES = [
    GOLDEN_PBU,
    replace(GOLDEN_PBU, hnps=[], mn_ll_id="", lifetime=30.0, timestamp=12.3, handoff=HandoffIndicator.UNKNOWN),
    replace(GOLDEN_PBU, hnps=["2001:db8:a:1::/64", "2001:db8:a:2::/64"], lifetime=0.0),
    GOLDEN_PBA,
    GOLDEN_REJECT,
    replace(GOLDEN_PBA, holders=["2001:db8:ffff::4", "2001:db8:ffff::21"], lifetime=1.5),
    PBQR(src="emag4", dst="elma1", seq=3, address="2001:db8:a:1::10", requester="2001:db8:ffff::4"),
    PBQR(src="emag4", dst="", seq=3, address="2001:db8:a:1::10", requester="2001:db8:ffff::4"),
    PBQA(src="elma1", dst="emag4", seq=3, address="2001:db8:a:1::10", status=Status.ACCEPTED, coa=MAG,
         hnps=["2001:db8:a:1::/64"], lifetime=60.0),
    PBQA(src="elma1", dst="emag4", seq=3, address="2001:db8:a:1::10", status=Status.NO_LOCATION),
    PBCI(src="emag2", dst="emag1", seq=4, mn_id="mn1", hnps=["2001:db8:a:1::/64", "2001:db8:a:2::/64"],
         new_coa="2001:db8:ffff::2", timestamp=1764763200.123456, holders=["2001:db8:ffff::21"],
         holds=["2001:db8:f::/64"]),
    PBCI(src="emag1", dst="emag4", seq=5, mn_id="mn1", hnps=["2001:db8:a:1::/64"]),
    PBCA(src="emag1", dst="emag2", seq=4, mn_id="mn1", status=Status.ACCEPTED,
         correspondents=[{"prefix": "2001:db8:c:2::/64", "coa": "2001:db8:ffff::4"},
                         {"prefix": "2001:db8:f::/64", "coa": "2001:db8:ffff::21"}],
         holders=["2001:db8:ffff::4"]),
    PBCA(src="emag1", dst="emag2", seq=9, mn_id="mn1", status=Status.NOT_LMA_FOR_THIS_MOBILE_NODE),
    LRI(src="lma", dst="mag5", seq=5, mn_id="cn2", hnps=["2001:db8:1:5::/64"], peer_mn_id="cn3",
        peer_hnps=["2001:db8:1:6::/64"], peer_mag="2001:db8:ffff::5", lifetime=60.0),
    LRA(src="mag5", dst="lma", seq=5, mn_id="cn2", peer_mn_id="cn3", status=Status.PROXY_REG_NOT_ENABLED),
    HI(src="emag2", dst="emag1", seq=6, mn_id="mn1", hnps=["2001:db8:a:1::/64"], new_coa="2001:db8:ffff::2"),
    HACK(src="emag1", dst="emag2", seq=6, mn_id="mn1", status=128, frames=[b"\x00\x01", b"", FRAME]),
    PPQ(src="emag2", dst="policy", seq=7, mn_id="mn9", lma="elma1"),
    PPA(src="policy", dst="emag2", seq=7, mn_id="mn9", status=Status.ACCEPTED, lma="elma3"),
    PPA(src="policy", dst="emag2", seq=8, mn_id="mn9", status=Status.NOT_LMA_FOR_THIS_MOBILE_NODE),
    LUR(src="elma2", dst="lmf1", seq=9, mn_id="mn1", hnps=["2001:db8:a:1::/64"], coa="2001:db8:ffff::2",
        lifetime=60.0, timestamp=1764763200.25),
    LUR(src="elma2", dst="lmf1", seq=10, mn_id="mn1", hnps=["2001:db8:a:1::/64"]),
    LUA(src="lmf1", dst="elma2", seq=9, mn_id="mn1", status=Status.ACCEPTED, previous_coa="2001:db8:ffff::1",
        holders=["2001:db8:ffff::21"]),
    LUA(src="lmf1", dst="elma2", seq=10, mn_id="mn1", status=Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED),
]  # fmt: skip


def test_samples_cover_every_type_and_field():
    assert {type(m).TYPE for m in SAMPLES} == set(MESSAGE_TYPES)
    for cls in MESSAGE_TYPES.values():  # every field takes a value other than its default somewhere
        for f in fields(cls):
            default = getattr(cls(src="a", dst="b", seq=0), f.name)
            assert any(getattr(m, f.name) != default for m in SAMPLES if type(m) is cls), (cls.TYPE, f.name)


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "keyed"])
@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip(msg, key):
    data = wire.encode(msg, key, MAG, LMA)
    assert len(data) % 8 == 0 and (data[1] + 1) * 8 == len(data) and data[0] == wire.IPPROTO_NONE
    back = wire.decode(data, key, (MAG, LMA))
    assert type(back) is type(msg) and back == msg


def test_mh_types_and_subtypes():
    by_type = {m.TYPE: wire.encode(m) for m in SAMPLES}
    assert by_type["PBU"][2] == 5 and by_type["PBA"][2] == 6
    for name, data in by_type.items():
        if name not in ("PBU", "PBA"):
            assert data[2] == wire.MH_EXPERIMENTAL and data[6] == wire.SUBTYPES[name] and data[7] == 1
    assert sorted(wire.SUBTYPES) == sorted(set(MESSAGE_TYPES) - {"PBU", "PBA"})
    assert len(set(wire.SUBTYPES.values())) == len(wire.SUBTYPES)


# ---------------------------------------------------------------- golden vectors


@pytest.mark.parametrize(
    ("msg", "src", "dst", "expected"),
    [(GOLDEN_PBU, MAG, LMA, PBU_BYTES), (GOLDEN_PBA, LMA, MAG, PBA_BYTES), (GOLDEN_REJECT, LMA, MAG, REJECT_BYTES)],
    ids=["PBU", "PBA", "PBA-rejected"],
)
def test_golden_bytes(msg, src, dst, expected):
    assert wire.encode(msg, None, src, dst).hex() == expected.hex()
    assert wire.decode(expected, None, (src, dst)) == msg


@pytest.mark.parametrize(
    ("msg", "src", "dst", "expected"), [(GOLDEN_PBU, MAG, LMA, PBU_KEYED), (GOLDEN_PBA, LMA, MAG, PBA_KEYED)],
    ids=["PBU", "PBA"],
)  # fmt: skip
def test_golden_bytes_authenticated(msg, src, dst, expected):
    key = pair_key(b"golden", msg.src, msg.dst)
    assert wire.encode(msg, key, src, dst).hex() == expected.hex()
    assert wire.decode(expected, lambda s, d: pair_key(b"golden", s, d), (src, dst)) == msg
    assert expected[-19:-16] == bytes((wire.OPT_EXPERIMENTAL, 17, wire.Ex.AUTH))  # the tag option is last


def _options(data: bytes) -> dict[int, list[bytes]]:
    """The mobility options of a header by type, read independently of wire.decode."""
    out: dict[int, list[bytes]] = {}
    i = 12
    while i < len(data):
        if data[i] == 0:
            i += 1
            continue
        out.setdefault(data[i], []).append(data[i + 2 : i + 2 + data[i + 1]])
        assert i % 8 == {22: 4, 25: 2, 26: 6, 27: 2}.get(data[i], i % 8), f"option {data[i]} misaligned"
        i += 2 + data[i + 1]
    return out


def test_golden_pbu_fields_at_their_rfc_5213_offsets():
    d = PBU_BYTES
    assert (d[0], d[2], d[3]) == (59, 5, 0)  # no next header, PBU, reserved
    assert struct.unpack("!HHH", d[6:12]) == (7, 0x8000 | 0x4000 | 0x0200, 15)  # seq, A|H|P, 60 s / 4
    opts = _options(d)
    assert opts[8] == [b"\x01mn1"]  # MN-Identifier, NAI
    assert opts[22] == [b"\x00\x40" + ipaddress.IPv6Address("2001:db8:a:1::").packed]
    assert opts[23] == [b"\x00\x01"] and opts[24] == [b"\x00\x03"]  # HI new interface, ATT 802.3
    assert opts[25] == [b"\x00\x00\x02\x00\x00\x00\x01\x01"]
    assert opts[27] == [struct.pack("!Q", 1764763200 << 16 | 0x8000)]  # 48.16 fixed point, 1970
    assert wire.checksum(d, MAG, LMA) == struct.unpack("!H", d[4:6])[0]


def test_golden_pba_fields_at_their_rfc_5213_offsets():
    d = REJECT_BYTES
    assert (d[2], d[6], d[7]) == (6, 157, 0x20)  # PBA, status, P flag
    assert struct.unpack("!HH", d[8:12]) == (8, 0)
    opts = _options(d)
    assert opts[22] == [bytes(18)]  # no HNP: the ALL_ZERO prefix, as RFC 5213 §6.9.1.1 sends it


# ---------------------------------------------------------------- exactness, limits


@pytest.mark.parametrize("lifetime", [0.0, 4.0, 60.0, 30.0, 1.5, 0.25, float(MAX_LIFETIME)])
@pytest.mark.parametrize("stamp", [0.0, 12.3, 1764763200.5, 1764763200.123456789, 2**40 + 0.1])
def test_pbu_lifetime_and_timestamp_are_exact(lifetime, stamp):
    msg = replace(GOLDEN_PBU, lifetime=lifetime, timestamp=stamp)
    data = wire.encode(msg)
    units = struct.unpack("!H", data[10:12])[0]
    assert units == math.ceil(lifetime / 4)  # what an RFC 5213 peer reads: never shorter
    back = wire.decode(data)
    assert back.lifetime == lifetime and back.timestamp == stamp


def test_a_refinement_that_contradicts_the_rfc_field_is_refused():
    data = bytearray(wire.encode(replace(GOLDEN_PBU, lifetime=30.0)))
    at = data.index(bytes((wire.OPT_EXPERIMENTAL, 9, wire.Ex.LIFETIME)))
    data[at + 3 : at + 11] = struct.pack("!d", 100.0)  # ceil(100 / 4) = 25, the header says 8
    with pytest.raises(MessageError, match="does not refine"):
        wire.decode(bytes(data))


def test_too_big_for_one_mobility_header_is_refused_at_encoding():
    with pytest.raises(MessageError, match="more than a Mobility Header"):
        wire.encode(HACK(src="a", dst="b", seq=1, mn_id="mn1", frames=[bytes(1500)] * 2))
    many = [f"2001:db8:ffff::{i:x}" for i in range(200)]
    with pytest.raises(MessageError, match="more than a Mobility Header"):
        wire.encode(PBCA(src="a", dst="b", seq=1, mn_id="mn1", holders=many))


def test_encoding_an_invalid_message_raises_message_error():
    for bad in (replace(GOLDEN_PBU, seq=70000), replace(GOLDEN_PBU, coa="nope"), replace(GOLDEN_PBU, mn_ll_id="x"),
                replace(GOLDEN_PBU, lifetime=math.nan), replace(GOLDEN_PBU, hnps=["2001:db8::1/64"])):  # fmt: skip
        with pytest.raises(MessageError):
            wire.encode(bad)


# ---------------------------------------------------------------- authentication, checksum


def test_authentication():
    keys = lambda s, d: pair_key(b"secret", s, d)  # noqa: E731
    data = wire.encode(GOLDEN_PBU, keys("emag1", "elma1"), MAG, LMA)
    assert wire.decode(data, keys) == GOLDEN_PBU
    with pytest.raises(AuthenticationError, match="does not match"):  # another pair's key
        wire.decode(data, lambda s, d: pair_key(b"secret", s, "elma3"))
    for i in (3 * 8 + 1, 11, len(data) - 1):  # a name, the lifetime, the tag itself
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        with pytest.raises(AuthenticationError):
            wire.decode(bytes(tampered), keys)
    with pytest.raises(AuthenticationError, match="no tag"):
        wire.decode(wire.encode(GOLDEN_PBU), keys)
    with pytest.raises(MessageError, match="no signalling key"):
        wire.decode(data)
    # the checksum is outside the tag: the same message for other addresses still verifies
    other = wire.encode(GOLDEN_PBU, keys("emag1", "elma1"), "2001:db8::1", "2001:db8::2")
    assert other[6:] == data[6:] and other[4:6] != data[4:6]
    assert wire.decode(other, keys) == GOLDEN_PBU


def test_checksum():
    data = wire.encode(GOLDEN_PBU, None, MAG, LMA)
    assert wire.decode(data, None, lambda s, d: (MAG, LMA)) == GOLDEN_PBU
    with pytest.raises(MessageError, match="checksum"):
        wire.decode(data, None, (MAG, "2001:db8:ffff::12"))
    # the Internet checksum of pseudo-header + header, checksum included, is 0 (all ones folded)
    pseudo = ipaddress.IPv6Address(MAG).packed + ipaddress.IPv6Address(LMA).packed
    pseudo += struct.pack("!I3xB", len(data), 135)
    words = pseudo + data
    total = sum(int.from_bytes(words[i : i + 2], "big") for i in range(0, len(words), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF


# ---------------------------------------------------------------- malformed input


def _edit(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value) :]


MALFORMED = [
    (b"", "8..2048"),
    (PBU_BYTES[:-8], "Header Len"),
    (_edit(PBU_BYTES, 0, b"\x06"), "Payload Proto"),
    (_edit(PBU_BYTES, 2, b"\x08"), "MH type 8"),
    (_edit(PBU_BYTES, 8, b"\xc0\x00"), "flags"),
    (_edit(wire.encode(SAMPLES[6]), 6, b"\x63"), "subtype 99"),
    (_edit(wire.encode(SAMPLES[6]), 7, b"\x02"), "version"),
    (_edit(PBU_BYTES, 108, b"\x01\x02\x00\x01"), "PadN"),
    (_edit(PBU_BYTES, 108, b"\x07\x02\x00\x00"), "option type 7"),
    (_edit(PBU_BYTES, 108, b"\x01\x07"), "past the end"),
    (_edit(PBU_BYTES, 108, b"\x17\x02\x00\x02"), "two options of type 23"),
    (_edit(PBU_BYTES, 108, b"\x12\x02\x63\x00"), "field code 99"),
    (_edit(PBU_BYTES, 108, b"\x12\x02\x0b\x01"), "STATUS it does not carry"),
    (_edit(PBU_BYTES, 28, b"\x01\x04\x00\x00\x00\x00"), "no MN-Identifier option"),
    (_edit(PBU_BYTES, 60, b"\x30"), "bits set past its length"),
    (_edit(PBU_BYTES, 12, b"\x12\x06\x02"), "two DST options"),
    (_edit(PBU_BYTES, 15, b"\xff"), "not UTF-8"),
    (_edit(PBU_BYTES, 100, b"\x01\x02\x00\x00"), "no Handoff Indicator"),
    (_edit(PBU_BYTES, 104, b"\x01\x02\x00\x00"), "no Access Technology Type"),
]


@pytest.mark.parametrize(("data", "error"), MALFORMED, ids=[e for _, e in MALFORMED])
def test_malformed_headers_are_refused_with_a_reason(data, error):
    with pytest.raises(MessageError, match=error):
        wire.decode(data)


# ---------------------------------------------------------------- tshark reads our capture


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (scripts/setup.sh installs it)")
def test_tshark_decodes_pbu_and_pba(tmp_path):
    path = tmp_path / "signalling.pcap"
    keys = lambda s, d: pair_key(b"golden", s, d)  # noqa: E731
    packets = [(GOLDEN_PBU, MAG, LMA), (GOLDEN_REJECT, LMA, MAG), (SAMPLES[6], "2001:db8:ffff::4", LMA)]
    with path.open("wb") as f:
        f.write(pcap.file_header())
        for i, (msg, src, dst) in enumerate(packets):
            mh = wire.encode(msg, keys(msg.src, msg.dst), src, dst)
            f.write(pcap.record(1764763200.0 + i, pcap.ipv6_packet(src, dst, mh)))
    out = subprocess.run(["tshark", "-r", str(path), "-V"], capture_output=True, text=True, timeout=60, check=True)
    frames = out.stdout.split("\nFrame ")
    assert len(frames) == 3, out.stdout[:2000]
    pbu, pba, pbqr = frames
    assert "Mobility Header Type: Binding Update (5)" in pbu
    assert "Sequence number: 7" in pbu
    assert "= Proxy Registration (P) flag: Proxy Registration" in pbu
    assert "Lifetime: 15 (60 seconds)" in pbu
    assert "Identifier: mn1" in pbu and "Subtype: Network Access Identifier (NAI) (1)" in pbu
    assert "Home Network Prefix: 2001:db8:a:1::/64" in pbu
    assert "Mobile Network Prefix Length: 64" in pbu
    assert "Timestamp: Dec  3, 2025 12:00:00.500000000 UTC" in pbu
    assert "Handoff Indicator: Attachment over a new interface (1)" in pbu
    assert "Access Technology Type: IEEE 802.3 (3)" in pbu
    assert "Link-layer Identifier: 020000000101" in pbu
    assert "Mobility Header Type: Binding Acknowledgement (6)" in pba
    assert "Status: TIMESTAMP_LOWER_THAN_PREV_ACCEPTED (157)" in pba
    assert "..1. .... = Proxy Registration (P) flag: Proxy Registration" in pba
    assert "Home Network Prefix: ::/0" in pba
    assert "Mobility Header Type: Experimental Mobility Header (11)" in pbqr
    assert "Malformed" not in out.stdout and "Expert Info (Error" not in out.stdout


# ---------------------------------------------------------------- hypothesis


def _budget(request, default: int) -> int:
    return request.config.getoption("--wire-fuzz") or default


names = st.text(st.characters(codec="utf-8", categories=("L", "N", "P")), min_size=1, max_size=16)
addresses = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
prefixes = st.tuples(st.integers(0, 2**128 - 1), st.integers(1, 128)).map(
    lambda t: str(ipaddress.IPv6Network((t[0] >> (128 - t[1]) << (128 - t[1]), t[1])))
)
seconds = st.floats(0, MAX_LIFETIME, allow_nan=False) | st.integers(0, MAX_LIFETIME // 4).map(lambda n: n * 4.0)
stamps = st.floats(0, 2**44, allow_nan=False) | st.floats(1.7e9, 1.8e9)
FIELDS = {
    "src": names, "dst": names | st.just(""), "seq": st.integers(0, 0xFFFF), "mn_id": names | st.just(""),
    "peer_mn_id": names | st.just(""), "lma": names | st.just(""),
    "mn_ll_id": st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b)) | st.just(""),
    "hnps": st.lists(prefixes, max_size=3), "peer_hnps": st.lists(prefixes, max_size=3),
    "holds": st.lists(prefixes, max_size=3), "holders": st.lists(addresses, max_size=4),
    "coa": addresses | st.just(""), "new_coa": addresses | st.just(""), "previous_coa": addresses | st.just(""),
    "address": addresses | st.just(""), "requester": addresses | st.just(""), "peer_mag": addresses | st.just(""),
    "lifetime": seconds, "timestamp": stamps, "handoff": st.integers(0, 255), "status": st.integers(0, 255),
    "elma": st.booleans(),
    "correspondents": st.lists(st.fixed_dictionaries({"prefix": prefixes, "coa": addresses}), max_size=3),
    "frames": st.lists(st.binary(max_size=400), max_size=3),
}  # fmt: skip
messages_st = st.sampled_from(sorted(MESSAGE_TYPES.values(), key=lambda c: c.TYPE)).flatmap(
    lambda cls: st.builds(cls, **{f.name: FIELDS[f.name] for f in fields(cls)})
)


def test_round_trip_property(request):
    @settings(max_examples=_budget(request, 400), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(msg=messages_st, keyed=st.booleans())
    def check(msg, keyed):
        key = KEY if keyed else None
        try:
            data = wire.encode(msg, key, MAG, LMA)
        except MessageError as exc:  # only for what no Mobility Header can hold
            assert "more than a Mobility Header" in str(exc) or "longer than 255" in str(exc), exc
            return
        assert wire.decode(data, key, (MAG, LMA)) == msg

    check()


SEEDS = [wire.encode(m) for m in SAMPLES] + [wire.encode(m, KEY) for m in SAMPLES]


def _decode_only_message_error(data: bytes, outcomes: Counter[str]) -> None:
    for key, addresses in ((None, None), (KEY, (MAG, LMA))):  # the first goes past checksum and tag
        try:
            wire.decode(data, key, addresses)
            outcomes["decoded"] += 1
        except MessageError:
            outcomes["refused"] += 1


def test_fuzz_random_bytes(request):
    outcomes: Counter[str] = Counter()

    @settings(max_examples=_budget(request, 800), deadline=None, database=None)
    @given(st.binary(max_size=2100) | st.binary(min_size=8, max_size=64).map(lambda b: b[:8] * 4))
    def check(data):
        _decode_only_message_error(data, outcomes)

    check()
    assert outcomes["refused"] > 0


def test_fuzz_mutated_messages(request):
    """Valid headers with bytes flipped, cut, grown and spliced, Header Len kept consistent half
    of the time so that the decoder goes past its first check."""

    outcomes: Counter[str] = Counter()

    @settings(max_examples=_budget(request, 1200), deadline=None, database=None)
    @given(st.data())
    def check(data):
        base = bytearray(data.draw(st.sampled_from(SEEDS)))
        for _ in range(data.draw(st.integers(1, 4))):
            kind = data.draw(st.integers(0, 3))
            if kind == 0 and base:
                base[data.draw(st.integers(0, len(base) - 1))] = data.draw(st.integers(0, 255))
            elif kind == 1:
                base = base[: data.draw(st.integers(0, len(base)))]
            elif kind == 2:
                at = data.draw(st.integers(0, len(base)))
                base[at:at] = data.draw(st.binary(min_size=1, max_size=24))
            else:
                other = data.draw(st.sampled_from(SEEDS))
                base = base[: data.draw(st.integers(0, len(base)))] + other[data.draw(st.integers(0, len(other))) :]
        if data.draw(st.booleans()) and len(base) >= 8:
            base = base[: len(base) // 8 * 8]
            base[1] = min(len(base) // 8 - 1, 255)
        _decode_only_message_error(bytes(base), outcomes)

    check()
    assert outcomes["decoded"] > 0 and outcomes["refused"] > outcomes["decoded"]  # some edits keep it valid


def test_fuzz_structured_options(request):
    """Well-framed headers of each type with random options (known and unknown types) added to
    their own."""
    option = st.tuples(
        st.sampled_from([0, 1, 8, 18, 22, 23, 24, 25, 26, 27, 3, 16, 200]), st.binary(max_size=40)
    ) | st.tuples(st.just(18), st.tuples(st.sampled_from(list(wire.Ex)), st.binary(max_size=34)).map(
        lambda t: bytes((t[0],)) + t[1]))  # fmt: skip

    outcomes: Counter[str] = Counter()

    @settings(max_examples=_budget(request, 800), deadline=None, database=None)
    @given(st.sampled_from(SEEDS[: len(SAMPLES)]), st.lists(option, max_size=6))
    def check(seed, opts):
        body = bytearray(seed)
        for otype, value in opts:
            body += bytes((otype,)) if otype == 0 else bytes((otype, len(value))) + value
        body += bytes(-len(body) % 8)
        if len(body) <= wire.MAX_MH:
            body[1] = len(body) // 8 - 1
        _decode_only_message_error(bytes(body), outcomes)

    check()
    assert outcomes["decoded"] > 0 and outcomes["refused"] > 0
