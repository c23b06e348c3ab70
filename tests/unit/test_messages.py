"""Signalling messages: the msgpack codec round-trips every type, rejects every kind of malformed
input with a MessageError that names the problem, and the dispatcher / controller survive it."""

from __future__ import annotations

import random
from dataclasses import fields

import msgpack
import pytest

from controller.dispatcher import Dispatcher
from controller.effects import Sequence
from controller.messages import (
    AUTH_BYTES,
    HACK,
    HI,
    LRA,
    LRI,
    LUA,
    LUR,
    MESSAGE_TYPES,
    PBA,
    PBCA,
    PBCI,
    PBQA,
    PBQR,
    PBU,
    PPA,
    PPQ,
    WIRE_VERSION,
    HandoffIndicator,
    MessageError,
    Status,
    decode,
)

SAMPLES = [
    PBU(src="emag1", dst="elma1", seq=1, mn_id="mn1", mn_ll_id="02:00:00:00:01:01",
        hnps=["2001:db8:a:1::/64"], coa="2001:db8:ffff::1", lifetime=60.0, timestamp=1700000000.25,
        handoff=HandoffIndicator.BETWEEN_MAGS),
    PBA(src="elma1", dst="emag1", seq=65535, mn_id="mn1", status=Status.ACCEPTED,
        hnps=["2001:db8:a:1::/64"], coa="2001:db8:ffff::1", lifetime=60, timestamp=12.5,
        previous_coa="2001:db8:ffff::2", elma=True),
    PBQR(src="emag4", dst="elma1", seq=3, address="2001:db8:a:1::10", requester="2001:db8:ffff::4"),
    PBQA(src="elma1", dst="emag4", seq=3, address="2001:db8:a:1::10", status=Status.NO_LOCATION,
         coa="", hnps=[], lifetime=0.0),
    PBCI(src="elma1", dst="emag1", seq=4, mn_id="mn1",
         hnps=["2001:db8:a:1::/64", "2001:db8:a:2::/64"], new_coa="2001:db8:ffff::2",
         timestamp=99.0),
    PBCA(src="emag1", dst="elma1", seq=4, mn_id="mn1", status=Status.ACCEPTED,
         correspondents=[{"prefix": "2001:db8:c:2::/64", "coa": "2001:db8:ffff::4"}]),
    LRI(src="elma1", dst="emag1", seq=5, mn_id="mn1", hnps=["2001:db8:a:1::/64"], peer_mn_id="mn3",
        peer_hnps=["2001:db8:a:3::/64"], peer_mag="2001:db8:ffff::2", lifetime=60.0),
    LRA(src="emag1", dst="elma1", seq=5, mn_id="mn1", peer_mn_id="mn3", status=Status.ACCEPTED),
    HI(src="emag2", dst="emag1", seq=6, mn_id="mn1", hnps=["2001:db8:a:1::/64"], new_coa="2001:db8:ffff::2"),
    HACK(src="emag1", dst="emag2", seq=6, mn_id="mn1", status=Status.ACCEPTED, frames=[b"\x00\x01", b""]),
    PPQ(src="emag2", dst="policy", seq=7, mn_id="mn9", lma="elma1"),
    PPA(src="policy", dst="emag2", seq=7, mn_id="mn9", status=Status.ACCEPTED, lma="elma3"),
    LUR(src="elma2", dst="lmf1", seq=8, mn_id="mn1", hnps=["2001:db8:a1:1::/64"], coa="2001:db8:ffff::12",
        lifetime=60.0, timestamp=1700000001.5),
    LUA(src="lmf1", dst="elma2", seq=8, mn_id="mn1", status=Status.ACCEPTED, previous_coa="2001:db8:ffff::11",
        holders=["2001:db8:ffff::13"]),
]  # fmt: skip


def _body(msg) -> dict:
    return msgpack.unpackb(msg.encode(), raw=False)


def _pack(body) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


# ---------------------------------------------------------------- round trip


def test_samples_cover_every_type():
    assert {type(m).TYPE for m in SAMPLES} == set(MESSAGE_TYPES)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip(msg):
    data = msg.encode()
    assert isinstance(data, bytes)
    back = decode(data)
    assert type(back) is type(msg)
    assert back == msg
    for f in fields(msg):
        assert getattr(back, f.name) == getattr(msg, f.name), f.name
    assert decode(bytearray(data)) == msg


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda c: c.TYPE)
def test_round_trip_defaults(cls):
    msg = cls(src="a", dst="b", seq=0)
    assert decode(msg.encode()) == msg


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_wire_form_is_a_typed_map(msg):
    body = _body(msg)
    assert body["type"] == msg.TYPE
    assert body["v"] == WIRE_VERSION
    assert set(body) == {"type", "v"} | {f.name for f in fields(msg)}


# ---------------------------------------------------------------- malformed input


def _pbu_body(**changes) -> dict:
    body = _body(SAMPLES[0])
    body.update(changes)
    return body


MALFORMED = [
    ("not bytes", "not bytes", "expected bytes"),
    ("empty", b"", "not a msgpack document"),
    ("reserved byte", b"\xc1", "not a msgpack document"),
    ("truncated", SAMPLES[0].encode()[:-3], "not a msgpack document"),
    ("trailing bytes", SAMPLES[0].encode() + b"\x00", "not a msgpack document"),
    ("list", _pack(["PBU", 1]), "expected a msgpack map, got list"),
    ("int", _pack(7), "expected a msgpack map, got int"),
    ("string", _pack("PBU"), "expected a msgpack map, got str"),
    ("non-string keys", _pack({1: "PBU"}), "not a msgpack document"),
    ("no type", _pack({"v": 1, "src": "a"}), "field 'type': got None"),
    ("unknown type", _pack(_pbu_body(type="PBX")), "field 'type': got 'PBX'"),
    ("type not a string", _pack(_pbu_body(type=["PBU"])), "field 'type'"),
    ("wrong version", _pack(_pbu_body(v=2)), "PBU field 'v': got 2, expected 1"),
    ("no version", _pack({k: v for k, v in _pbu_body().items() if k != "v"}),
     "field 'v': got None"),
    ("missing field", _pack({k: v for k, v in _pbu_body().items() if k != "mn_id"}),
     "PBU is missing field 'mn_id'"),
    ("wrong type seq", _pack(_pbu_body(seq="1")), "PBU field 'seq': got '1'"),
    ("bool as int", _pack(_pbu_body(seq=True)), "PBU field 'seq': got True"),
    ("bool as float", _pack(_pbu_body(lifetime=False)), "PBU field 'lifetime': got False"),
    ("string as float", _pack(_pbu_body(timestamp="now")), "PBU field 'timestamp'"),
    ("hnps not a list", _pack(_pbu_body(hnps="2001:db8:a:1::/64")), "PBU field 'hnps'"),
    ("hnps of ints", _pack(_pbu_body(hnps=[1, 2])),
     "PBU field 'hnps': got [1, 2], expected a list of strings"),
    ("mn_id None", _pack(_pbu_body(mn_id=None)), "PBU field 'mn_id': got None"),
    ("int as bool", _pack({**_body(SAMPLES[1]), "elma": 1}), "PBA field 'elma': got 1"),
    ("correspondents not maps", _pack({**_body(SAMPLES[5]), "correspondents": ["x"]}),
     "PBCA field 'correspondents': got ['x'], expected a list of maps"),
    ("correspondent values not str",
     _pack({**_body(SAMPLES[5]), "correspondents": [{"prefix": 1}]}),
     "PBCA field 'correspondents'"),
    ("extra field", _pack(_pbu_body(bogus=1)), "PBU has unknown field(s) ['bogus']"),
]  # fmt: skip


@pytest.mark.parametrize("data, expected", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_raises_message_error(data, expected):
    with pytest.raises(MessageError) as info:
        decode(data)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_random_bytes_only_ever_raise_message_error():
    rng = random.Random(5213)
    for _ in range(3000):
        data = rng.randbytes(rng.randrange(0, 64))
        try:
            decode(data)
        except MessageError:
            pass


def test_corrupted_messages_only_ever_raise_message_error():
    rng = random.Random(42)
    for msg in SAMPLES:
        good = msg.encode()
        for _ in range(500):
            data = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                back = decode(bytes(data))
            except MessageError:
                continue
            assert type(back).TYPE in MESSAGE_TYPES  # a flipped byte in a string can still decode


def test_message_error_is_a_value_error():
    assert issubclass(MessageError, ValueError)


# ---------------------------------------------------------------- dispatcher


def test_dispatcher_counts_logs_and_delivers():
    bus = Dispatcher(history=3)
    got: list = []
    bus.register("elma1", lambda m, now: got.append((m, now)))
    bus.register("emag1", lambda m, now: got.append((m, now)))
    second_pbu = PBU(**{**SAMPLES[0].__dict__, "seq": 2})
    for i, msg in enumerate([SAMPLES[0], second_pbu, SAMPLES[2], SAMPLES[4]]):
        bus.send(msg, float(i))
    assert bus.sent == {"PBU": 2, "PBQR": 1, "PBCI": 1}
    assert len(bus.log) == 3  # bounded history
    assert [m["type"] for m in bus.recent(2)] == ["PBQR", "PBCI"]
    assert bus.drain() == 4
    assert [m for m, _ in got] == [SAMPLES[0], second_pbu, SAMPLES[2], SAMPLES[4]]
    assert [now for _, now in got] == [0.0, 1.0, 2.0, 3.0]
    assert not bus.errors


def test_dispatcher_bytes_match_log_sizes():
    bus = Dispatcher()
    for msg in SAMPLES:
        bus.send(msg, 0.0)
    assert bus.bytes_sent == sum(m.size for m in bus.log) == sum(len(m.encode()) for m in SAMPLES)
    entry = bus.recent(1)[0]
    assert set(entry) == {"time", "type", "src", "dst", "seq", "size"}


def test_dispatcher_drops_malformed_bytes_without_raising():
    bus = Dispatcher()
    got: list = []
    bus.register("elma1", lambda m, now: got.append(m))
    bus.receive_bytes("elma1", b"\xc1garbage", 1.0)
    bus.receive_bytes("elma1", _pack(_pbu_body(v=9)), 1.0)
    bus.receive_bytes("elma1", SAMPLES[0].encode(), 1.0)
    bus.receive_bytes("nobody", SAMPLES[0].encode(), 1.0)
    assert bus.drain() == 1
    assert [m.TYPE for m in got] == ["PBU"]
    assert bus.errors == {"malformed": 2, "unknown_receiver": 1}
    assert not bus.sent  # bytes from outside are not signalling this controller sent


def test_in_process_messages_are_handed_over_as_records_without_the_codec(monkeypatch):
    """A message between two nodes of this process is delivered as the record itself: not
    encoded, tagged or decoded (it never leaves the process, so it needs no MAC); its counted size
    is still the size it would have on the wire, tag included."""
    from controller import dispatcher

    bus = Dispatcher(key=b"k" * 32)
    got: list = []
    bus.register("elma1", lambda m, now: got.append(m))

    def no_codec(*_a, **_k):
        raise AssertionError("an in-process message went through the decoder")

    monkeypatch.setattr(dispatcher, "decode", no_codec)
    bus.send(SAMPLES[0], 0.0)
    assert bus.drain() == 1 and got[0] is SAMPLES[0]
    assert bus.bytes_sent == len(bus.wire(SAMPLES[0])) == len(SAMPLES[0].encode()) + AUTH_BYTES
    monkeypatch.undo()
    # what comes from outside is bytes: decoded strictly and authenticated, as before
    bus.receive_bytes("elma1", SAMPLES[0].encode(), 1.0)
    assert bus.drain() == 0 and bus.errors == {"unauthenticated": 1}
    bus.receive_bytes("elma1", bus.wire(SAMPLES[0]), 1.0)
    assert bus.drain() == 1 and got[-1] == SAMPLES[0] and got[-1] is not SAMPLES[0]


def test_encode_gives_the_document_of_every_field_in_order():
    from dataclasses import asdict

    for msg in SAMPLES:
        body = {"type": msg.TYPE, "v": WIRE_VERSION, **asdict(msg)}
        assert msg.encode() == msgpack.packb(body, use_bin_type=True)


def _random_value(rng: random.Random, value):
    """A value of the same kind as ``value``, with sizes across msgpack's header thresholds."""
    if isinstance(value, bool):
        return rng.random() < 0.5
    if isinstance(value, int):
        return rng.choice([0, 1, 127, 128, 255, 256, 65535, 65536, -1, -33, 1 << 40, rng.getrandbits(31)])
    if isinstance(value, float):
        return rng.choice([0.0, 1.5, 1e300, -2.0])
    if isinstance(value, str):
        return "x" * rng.choice([0, 1, 31, 32, 255, 256, 70000]) + rng.choice(["", "é"])
    if isinstance(value, list):
        return [_random_value(rng, value[0]) if value else "p" for _ in range(rng.choice([0, 1, 15, 16]))]
    if isinstance(value, dict):
        return {k: _random_value(rng, v) for k, v in value.items()}
    return value


def test_size_is_the_encoded_length_without_encoding():
    """``Message.size`` (what the bus counts for a message that stays in the process) is exactly
    the length of its wire form, for every type, defaults and values of every msgpack size class."""
    rng = random.Random(13)
    for msg in SAMPLES:
        assert msg.size() == len(msg.encode())
        cls = type(msg)
        assert cls(src="a", dst="b", seq=0).size() == len(cls(src="a", dst="b", seq=0).encode())
        for _ in range(40):
            changes = {f.name: _random_value(rng, getattr(msg, f.name)) for f in fields(msg)}
            other = cls(**changes)
            assert other.size() == len(other.encode()), changes


def test_next_seq_wraps_at_16_bits():
    seq = Sequence()
    seq._seq = 0xFFFE
    assert [seq.next(), seq.next(), seq.next()] == [0xFFFF, 0, 1]


# ---------------------------------------------------------------- the controller


def test_controller_survives_garbage_and_keeps_bindings(net):
    net.attach("mn1")
    net.attach("mn2")
    before = net.ctl.bindings()
    assert {b["mn_id"] for b in before} == {"mn1", "mn2"}
    sent_before = dict(net.ctl.bus.sent)
    garbage = [
        b"",
        b"\x00" * 100,
        b"\xc1",
        random.Random(1).randbytes(200),
        SAMPLES[0].encode()[:10],
        _pack(_pbu_body(v=0)),
        _pack(_pbu_body(extra=True)),
    ]
    for i, data in enumerate(garbage):
        for dst in ("elma1", "emag1", "elma3"):
            assert net.ctl.receive_signalling(dst, data, 5.0 + i) == []
    assert net.ctl.bindings() == before
    stats = net.ctl.stats()
    assert stats["signalling_errors"] == {"malformed": 3 * len(garbage)}
    assert stats["messages"] == sent_before


def test_controller_counts_misrouted_messages(net):
    net.attach("mn1")
    before = net.ctl.bindings()
    # a PBA delivered to an LMA and a PBU delivered to a MAG are dropped and counted
    net.ctl.receive_signalling("elma1", SAMPLES[1].encode(), 3.0)
    net.ctl.receive_signalling("emag1", SAMPLES[0].encode(), 3.0)
    net.ctl.receive_signalling("c1", SAMPLES[0].encode(), 3.0)  # a core switch has no function
    assert net.ctl.counters["unexpected_message"] == 2
    assert net.ctl.stats()["signalling_errors"] == {"unknown_receiver": 1}
    assert net.ctl.bindings() == before
