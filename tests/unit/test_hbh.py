"""The Hop-by-Hop PBQR (§4.4.2): well formed, round trip, and clear errors for bad frames."""

from __future__ import annotations

import struct

import pytest

from controller import hbh
from controller.messages import PBQA, PBQR

Q = PBQR(src="emag1", dst="elma3", seq=7, address="2001:db8:c:2::10", requester="2001:db8:ffff::1")


def frame(q: PBQR = Q) -> bytes:
    return hbh.build(q, "2001:db8:ffff::1", "02:00:00:00:00:01", "02:00:00:00:00:01")


def test_round_trip():
    assert hbh.parse(frame()) == Q


def test_layout_is_ipv6_hbh_then_mobility_header():
    f = frame()
    ip = f[14:54]
    assert f[12:14] == b"\x86\xdd" and ip[0] >> 4 == 6
    assert ip[6] == 0  # next header: Hop-by-Hop
    assert ip[24:40] == bytes.fromhex("20010db8000c00020000000000000010")  # to the correspondent
    hbh_hdr = f[54:62]
    assert hbh_hdr[0] == 135 and hbh_hdr[1] == 0  # then a Mobility Header; 8 bytes
    assert hbh_hdr[2:6] == bytes([0x1E, 2, 0, 1])
    mh = f[62:]
    assert mh[0] == 59 and mh[2] == 11  # no payload; RFC 5096 experimental MH type
    assert (mh[1] + 1) * 8 == len(mh) and len(mh) % 8 == 0
    assert struct.unpack("!H", ip[4:6])[0] == len(f) - 54


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda f: f[:40], "too short"),
        (lambda f: f[:12] + b"\x08\x00" + f[14:], "not IPv6"),
        (lambda f: f[:20] + b"\x3a" + f[21:], "not Hop-by-Hop"),
        (lambda f: f[:54] + b"\x3a" + f[55:], "not a Mobility Header"),
        (lambda f: f[:56] + b"\x1f" + f[57:], "no ePMIP query option"),
        (lambda f: f[:64] + b"\x05" + f[65:], "not an ePMIP query"),
        (lambda f: f[:-1] + bytes([f[-1] ^ 0xFF]), "checksum"),
        (lambda f: f[:18] + struct.pack("!H", 999) + f[20:], "payload length"),
    ],
)
def test_malformed_frames_are_named(mutate, words):
    with pytest.raises(hbh.HbhError, match=words):
        hbh.parse(mutate(frame()))


def test_a_mobility_header_with_another_message_is_refused():
    other = PBQA(src="a", dst="b", seq=1, address="2001:db8::1")
    f = frame()
    # splice a PBQA where the PBQR was, with a valid checksum, by building through the same path
    enc = other.encode()
    body = struct.pack("!H", len(enc)) + enc
    body += b"\0" * (-(len(body) + 6) % 8)
    mh = struct.pack("!BBBBH", 59, (6 + len(body)) // 8 - 1, 11, 0, 0) + body
    csum = hbh._checksum(f[22:38], f[38:54], mh, 135)
    mh = mh[:4] + struct.pack("!H", csum) + mh[6:]
    payload = f[54:62] + mh
    f2 = f[:18] + struct.pack("!H", len(payload)) + f[20:54] + payload
    with pytest.raises(hbh.HbhError, match="carries a PBQA"):
        hbh.parse(f2)
