"""The signalling capture (controller/pcap.py, ``epmip-manager --epmip-signalling-pcap``): every
message of a run is written through the Mobility Header encoder, from the sender's to the
receiver's address, and reads back as the same messages - with our decoder and with tshark."""

from __future__ import annotations

import io
import ipaddress
import shutil
import struct
import subprocess

import pytest
from fakeof import FakeNet

from controller import pcap, wire
from controller.messages import PBQR, PPQ, Message, pair_keys

SECRET = "capture-test-key"


def read_pcap(data: bytes) -> list[tuple[float, str, str, bytes]]:
    """(time, IPv6 source, destination, Mobility Header) of every record, read independently."""
    magic, major, minor, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 101)
    out, i = [], 24
    while i < len(data):
        sec, usec, caplen, length = struct.unpack_from("<IIII", data, i)
        packet = data[i + 16 : i + 16 + caplen]
        assert caplen == length and packet[0] >> 4 == 6 and packet[6] == 135
        assert struct.unpack_from("!H", packet, 4)[0] == len(packet) - 40
        src = str(ipaddress.IPv6Address(packet[8:24]))
        dst = str(ipaddress.IPv6Address(packet[24:40]))
        out.append((sec + usec / 1e6, src, dst, packet[40:]))
        i += 16 + caplen
    return out


@pytest.fixture
def captured(doc, build_domain):
    doc["security"] = {"key": SECRET}
    domain = build_domain(doc)
    fake = FakeNet(domain)
    stream = io.BytesIO()
    stream.close = lambda: None  # keep the bytes readable after the capture closes
    capture = pcap.SignallingCapture(stream, pcap.signalling_addresses(domain), pair_keys(domain.signalling_key),
                                     epoch=1764763200.0)  # fmt: skip
    sent: list[tuple[Message, float]] = []

    def tap(msg: Message, now: float) -> None:
        sent.append((msg, now))
        capture.write(msg, now)

    fake.ctl.bus.tap = tap
    for host in ("mn1", "mn2", "mn3", "cn2"):
        fake.attach(host)
    fake.advance(0.5)
    fake.send("mn1", fake.address("mn2"))  # PBQR/PBQA, both directions once mn2 answers
    fake.send("mn2", fake.address("mn1"))
    fake.send("mn1", fake.address("cn2"))  # legacy CN: no eLMA to ask
    fake.advance(0.5)
    fake.move("mn1", "emag3")  # between regions: PBU/PBA with previous CoA, PBCI/PBCA
    fake.advance(3.0)
    return domain, stream.getvalue(), sent, capture


def test_every_message_is_captured_and_reads_back_the_same(captured):
    domain, data, sent, capture = captured
    records = read_pcap(data)
    assert capture.written == len(sent) == len(records) and capture.failed == 0
    types = {m.TYPE for m, _ in sent}
    assert {"PBU", "PBA", "PBQR", "PBQA", "PBCI", "PBCA"} <= types
    keys = pair_keys(domain.signalling_key)
    addresses = {name: str(sw.address) for name, sw in domain.switches.items()}
    for (msg, now), (stamp, src, dst, mh) in zip(sent, records, strict=True):
        assert wire.decode(mh, keys, (src, dst)) == msg
        assert src == addresses[msg.src]
        assert dst == (addresses[msg.dst] if msg.dst else msg.address if isinstance(msg, PBQR) else "::1")
        assert stamp == pytest.approx(1764763200.0 + now, abs=1e-6)


def test_the_policy_store_and_hop_by_hop_queries_get_addresses(doc, build_domain):
    addresses = pcap.signalling_addresses(build_domain(doc))
    ppq = PPQ(src="emag2", dst="policy", seq=1, mn_id="mn9", lma="elma1")
    assert addresses(ppq) == ("2001:db8:ffff::2", pcap.IN_CONTROLLER)
    hbh = PBQR(src="emag1", dst="", seq=1, address="2001:db8:c:2::10", requester="2001:db8:ffff::1")
    assert addresses(hbh) == ("2001:db8:ffff::1", "2001:db8:c:2::10")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (scripts/setup.sh installs it)")
def test_tshark_reads_the_whole_capture(captured, tmp_path):
    _, data, sent, _ = captured
    path = tmp_path / "run.pcap"
    path.write_bytes(data)
    out = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "mip6.mhtype", "-e", "mip6.mnid.identifier",
         "-e", "mip6.bu.p_flag", "-e", "mip6.ba.status"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) == len(sent)
    for (msg, _), row in zip(sent, rows, strict=True):
        mh_type = {"PBU": "5", "PBA": "6"}.get(msg.TYPE, "11")
        assert row[0] == mh_type, (msg, row)
        if msg.TYPE in ("PBU", "PBA"):
            assert row[1] == msg.mn_id
        if msg.TYPE == "PBU":
            assert row[2] in ("1", "True")
        if msg.TYPE == "PBA":
            assert row[3] == str(msg.status)
