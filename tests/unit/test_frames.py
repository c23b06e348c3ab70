"""``frames.classify``: one look at a punted frame's bytes; the addresses it makes are the very
objects ``ipaddress`` would make (equal, hashed, printed and tested alike)."""

from __future__ import annotations

import copy
import ipaddress
import pickle
import random

from controller import frames

ROUTER = bytes.fromhex("020000000001")
HOST = bytes.fromhex("020000000002")


def _frame(src: int, dst: int, next_header: int = 17, payload: bytes = b"\x00" * 8) -> bytes:
    ipv6 = bytes([0x60, 0, 0, 0]) + len(payload).to_bytes(2, "big") + bytes([next_header, 64])
    return ROUTER + HOST + b"\x86\xdd" + ipv6 + src.to_bytes(16, "big") + dst.to_bytes(16, "big") + payload


def test_addresses_are_the_ones_ipaddress_makes() -> None:
    rng = random.Random(7)
    samples = [0, 1, (1 << 128) - 1, 0xFE80 << 112 | 5, 0xFF02 << 112 | 1, 0xFFFF << 32 | 0x0A000001]
    samples += [rng.getrandbits(128) for _ in range(200)]
    for src in samples:
        dst = samples[rng.randrange(len(samples))]
        punt = frames.classify(_frame(src, dst))
        for got, want in ((punt.src, ipaddress.IPv6Address(src)), (punt.dst, ipaddress.IPv6Address(dst))):
            assert got == want and hash(got) == hash(want) and str(got) == str(want)
            assert got.packed == want.packed and got.scope_id is None
            assert (got.is_multicast, got.is_link_local, got.is_unspecified, got.ipv4_mapped) == (
                want.is_multicast, want.is_link_local, want.is_unspecified, want.ipv4_mapped,
            )  # fmt: skip
            assert got in ipaddress.IPv6Network((want.packed, 64), strict=False)
            assert sorted([got, ipaddress.IPv6Address(src ^ 1)]) == sorted([want, ipaddress.IPv6Address(src ^ 1)])
            for back in (copy.copy(got), pickle.loads(pickle.dumps(got))):
                assert type(back) is ipaddress.IPv6Address and back == want


def test_kinds() -> None:
    a, b = 0x20010DB8 << 96 | 1, 0x20010DB8 << 96 | 2
    assert frames.classify(_frame(a, b)).kind == "ipv6"
    assert frames.classify(_frame(a, b, next_header=0)).kind == "hbh"
    assert frames.classify(_frame(a, b, next_header=58, payload=bytes([133]) + b"\x00" * 7)).kind == "rs"
    assert frames.classify(_frame(a, b, next_header=58, payload=bytes([135]) + b"\x00" * 7)).kind == "ns"
    assert frames.classify(_frame(a, b, next_header=58, payload=bytes([128]) + b"\x00" * 7)).kind == "ipv6"
    assert frames.classify(_frame(a, b, next_header=58, payload=bytes([133]))).is_nd


def test_not_ipv6_or_short_is_other_without_addresses() -> None:
    frame = _frame(1, 2)
    for data in (frame[:53], frame[:12] + b"\x08\x00" + frame[14:], b""):
        punt = frames.classify(data)
        assert punt.kind == "other" and punt.src is None and punt.dst is None and not punt.is_nd


def test_bytearray_and_memoryview_are_copied_to_bytes() -> None:
    frame = _frame(1, 2)
    for data in (bytearray(frame), memoryview(frame)):
        punt = frames.classify(data)
        assert type(punt.data) is bytes and punt.data == frame and punt.src == ipaddress.IPv6Address(1)
