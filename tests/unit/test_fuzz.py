"""Decoder fuzz with hypothesis (issue 10): whatever arrives, the signalling decoder, the
Hop-by-Hop query parser and the ND parser raise only their own error type - never IndexError,
TypeError, KeyError, OverflowError... - with and without a key.

Three kinds of input, each for a fixed number of examples (no deadline, no timing assertion;
together 100,000+ decoder inputs, 20,000 Hop-by-Hop and 10,000 ND frames):
* structure-aware: msgpack maps with the right ``type`` and ``v`` and every field of that message
  type, each field drawn from any msgpack value (wrong types, huge numbers, NaN, nested lists,
  bytes where text belongs, lists past their limits), plus stray keys, then a tag or trailing bytes;
* mutation: a valid encoded message (or Hop-by-Hop frame, or ND frame) with bytes flipped,
  inserted, deleted or spliced;
* raw bytes.

``EPMIP_FUZZ_SCALE`` multiplies the example counts (e.g. 10 for a long run by hand).
"""

from __future__ import annotations

import dataclasses
import math
import os
import random

import hypothesis.configuration
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_messages import SAMPLES

from controller import hbh, ndp
from controller.messages import MESSAGE_TYPES, PBQR, WIRE_VERSION, MessageError, decode, pair_key

SCALE = float(os.environ.get("EPMIP_FUZZ_SCALE", "1"))
SECRET = b"f" * 32
ENCODED = [m.encode() for m in SAMPLES] + [m.encode(pair_key(SECRET, m.src, m.dst or "")) for m in SAMPLES]
QUERY = PBQR(src="emag1", dst="", seq=7, address="2001:db8:a:1::10", requester="2001:db8:ffff::1")
FRAMES = [
    hbh.build(QUERY, "2001:db8:ffff::1", "02:00:00:00:00:01", "02:00:00:00:00:02"),
    hbh.build(QUERY, "2001:db8:ffff::1", "02:00:00:00:00:01", "02:00:00:00:00:02", key=SECRET),
]
ND_FRAMES = [ndp.router_solicitation("02:00:00:00:01:01", "fe80::1"), ndp.router_solicitation("02:00:00:00:01:01")]


def keyfn(src: str, dst: str) -> bytes:
    return pair_key(SECRET, src, dst)


def examples(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)), deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home(tmp_path_factory):
    """Hypothesis keeps a cache in .hypothesis/ of the working directory: not in the checkout."""
    hypothesis.configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    hypothesis.configuration.set_hypothesis_home_dir(None)


def decodes_or_rejects(data: bytes) -> None:
    for key in (None, SECRET, keyfn):
        try:
            decode(data, key)
        except MessageError:
            pass


# ------------------------------------------------------------------ generators
#
# Hypothesis draws a small recipe per example (message type, which fields keep a valid value, a
# seed); the test body expands it into VARIANTS inputs with a seeded ``random.Random``.  Drawing
# every nested value through hypothesis costs ~0.2 s per example on these machines, which would
# put 100,000 inputs far out of a CI run; the recipe keeps hypothesis' search and shrinking over
# the choices that matter (type, fields, mutation) at a few ms per example.

VARIANTS = 20
TEXTS = ["", "2001:db8::1", "2001:db8:a:1::/64", "::", "fe80::1%eth0", "emag1", "x" * 300, "\udcff", "é" * 40]


def any_value(rng: random.Random, depth: int = 0) -> object:
    """Any msgpack value: wrong types, extreme numbers, NaN, bytes, nested lists and maps."""
    kind = rng.randrange(11 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**32 - 1, 2**63 - 1, -(2**63), 2**64 - 1, rng.randint(-1000, 1000)])
    if kind == 3:
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 1e308, rng.uniform(-1e6, 1e6)])
    if kind == 4:
        return rng.choice(TEXTS)
    if kind == 5:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(12)))
    if kind == 6:
        return rng.randbytes(rng.randrange(20))
    if kind == 7:
        return rng.choice(TEXTS).encode("utf-8", "surrogatepass")
    if kind == 8:
        return [any_value(rng, depth + 1) for _ in range(rng.choice([0, 1, 3, 9, 70]))]
    if kind == 9:
        return [rng.choice(TEXTS[1:3])] * rng.choice([1, 8, 9, 65, 2000])  # list limits
    return {any_value(rng, 3) if rng.random() < 0.3 else rng.choice(TEXTS): any_value(rng, depth + 1) for _ in range(3)}


def structured(mtype: str, keep: int, seed: int) -> list[bytes]:
    """Maps shaped like ``mtype``: the fields in bitmask ``keep`` hold the sample's valid value,
    the others any value (or are missing); sometimes a stray key, a tag or trailing bytes."""
    rng = random.Random(seed)
    cls = MESSAGE_TYPES[mtype]
    sample = next(m for m in SAMPLES if m.TYPE == mtype)
    valid = msgpack.unpackb(sample.encode(), raw=False)
    out = []
    for _ in range(VARIANTS):
        body: dict[object, object] = {"type": mtype, "v": WIRE_VERSION if rng.random() < 0.9 else any_value(rng)}
        for i, f in enumerate(dataclasses.fields(cls)):
            if keep >> i & 1 and f.name in valid:
                body[f.name] = valid[f.name]
            elif rng.random() < 0.9:
                body[f.name] = any_value(rng)
        if rng.random() < 0.2:
            body[any_value(rng, 3)] = any_value(rng)
        try:
            data = msgpack.packb(body, use_bin_type=rng.random() < 0.5)
        except (ValueError, OverflowError, TypeError):  # a key msgpack itself cannot pack
            continue
        out.append(data + rng.choice([b"", b"", rng.randbytes(16), rng.randbytes(rng.randrange(1, 20))]))
    return out


def mutated(corpus: list[bytes], index: int, seed: int) -> list[bytes]:
    """Copies of ``corpus[index]`` with bytes flipped, inserted, deleted or spliced."""
    rng = random.Random(seed)
    out = []
    for _ in range(VARIANTS):
        base = bytearray(corpus[index % len(corpus)])
        for _ in range(rng.randint(1, 4)):
            op, at = rng.randrange(4), rng.randrange(len(base) + 1)
            if op == 0 and base:
                base[min(at, len(base) - 1)] = rng.randrange(256)
            elif op == 1:
                base[at:at] = rng.randbytes(rng.randint(1, 8))
            elif op == 2:
                del base[at : at + rng.randint(1, 16)]
            else:
                other = rng.choice(corpus)
                base = base[:at] + other[rng.randrange(len(other) + 1) :]
        out.append(bytes(base))
    return out


seeds = st.integers(0, 2**32 - 1)


# ------------------------------------------------------------------ the signalling decoder


@examples(2_500)
@given(st.sampled_from(sorted(MESSAGE_TYPES)), st.integers(0, 2**16 - 1), seeds)
def test_structured_maps_only_raise_message_error(mtype: str, keep: int, seed: int) -> None:
    for data in structured(mtype, keep, seed):
        decodes_or_rejects(data)


@examples(2_000)
@given(st.integers(0, len(ENCODED) - 1), seeds)
def test_mutated_messages_only_raise_message_error(index: int, seed: int) -> None:
    for data in mutated(ENCODED, index, seed):
        decodes_or_rejects(data)


@examples(10_000)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_message_error(data: bytes) -> None:
    decodes_or_rejects(data)


def test_the_generators_reach_past_the_first_checks() -> None:
    """The fuzz is worth something only if inputs get through the first checks: with every field
    kept valid, the structured maps decode; with none kept, they are rejected for a field."""
    for msg in SAMPLES:
        every = (1 << len(dataclasses.fields(type(msg)))) - 1
        decoded = 0
        for data in structured(msg.TYPE, every, 1):
            try:
                decode(data)
                decoded += 1
            except MessageError:
                pass
        assert decoded > 0, msg.TYPE
        reasons = set()
        for data in structured(msg.TYPE, 0, 2):
            try:
                decode(data)
            except MessageError as exc:
                reasons.add(str(exc).split(":")[0])
        assert any("field" in r for r in reasons), (msg.TYPE, reasons)


# ------------------------------------------------------------------ Hop-by-Hop queries and ND


@examples(500)
@given(st.integers(0, len(FRAMES) - 1), seeds)
def test_mutated_hop_by_hop_queries_only_raise_message_error(index: int, seed: int) -> None:
    for frame in mutated(FRAMES, index, seed):
        for key in (None, SECRET):
            try:
                hbh.parse(frame, key)
            except MessageError:
                pass


@examples(500)
@given(st.integers(0, len(ND_FRAMES) - 1), seeds)
def test_mutated_nd_frames_only_raise_packet_error(index: int, seed: int) -> None:
    for frame in mutated(ND_FRAMES, index, seed):
        try:
            ndp.parse(frame)
        except ndp.PacketError:
            pass
