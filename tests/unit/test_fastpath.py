"""apps/fastpath.py: epmip's receive loop for the switch connections.  Its parsers must read a
packet-in and a port status as Ryu's parser does, and its loop must hand every message on -
the fast ones to their handler, the others to Ryu's path - in the order the switch sent them."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from ryu.controller import ofp_event
from ryu.controller.handler import MAIN_DISPATCHER
from ryu.ofproto import ofproto_parser, ofproto_v1_3, ofproto_v1_3_parser

from apps import fastpath

OFP = ofproto_v1_3


class FakeQueue:
    def __init__(self, idle: bool) -> None:
        self.idle = idle

    def qsize(self) -> int:
        return 0

    def getting(self) -> int:
        return 1 if self.idle else 0


class GreenLike:
    """eventlet's GreenSocket as the loop uses it: ``recv``, and the plain socket as ``fd``."""

    def __init__(self, sock: socket.socket) -> None:
        self.fd = sock
        self.recv = sock.recv


class FakeBrick:
    def __init__(self, observers: dict) -> None:
        self.observers = observers
        self.events: list = []

    def send_event_to_observers(self, ev, state=None) -> None:
        self.events.append(ev)

    def get_handlers(self, ev, state=None) -> list:
        return []


class FakeDatapath:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser

    def __init__(self, sock, brick: FakeBrick, idle: bool = False) -> None:
        self.socket = sock
        self.ofp_brick = brick
        self.state = MAIN_DISPATCHER
        self.id = 7
        self.address = ("127.0.0.1", 1)
        self.send_q = FakeQueue(idle)
        self.sent: list[bytes] = []
        self.ports: dict = {}

    def send(self, data: bytes) -> bool:
        self.sent.append(data)
        return True


def _oxm(field: int, value: bytes) -> bytes:
    return struct.pack("!I", (OFP.OFPXMC_OPENFLOW_BASIC << 16) | (field << 9) | len(value)) + value


def packet_in(data: bytes, in_port: int | None, table: int = 3, xid: int = 9, extra_first: bool = False) -> bytes:
    oxms = b""
    if extra_first:  # another field before in_port: the parser must step over it
        oxms += _oxm(OFP.OFPXMT_OFB_METADATA, (0x1122).to_bytes(8, "big"))
    if in_port is not None:
        oxms += _oxm(OFP.OFPXMT_OFB_IN_PORT, in_port.to_bytes(4, "big"))
    match_len = 4 + len(oxms)
    match = struct.pack("!HH", OFP.OFPMT_OXM, match_len) + oxms + bytes(-match_len % 8)
    body = struct.pack("!IHBBQ", OFP.OFP_NO_BUFFER, len(data), 0, table, 0xABC) + match + bytes(2) + data
    return struct.pack("!BBHI", OFP.OFP_VERSION, OFP.OFPT_PACKET_IN, 8 + len(body), xid) + body


def port_status(reason: int, port_no: int, mac: bytes, name: bytes, state: int = 0) -> bytes:
    port = struct.pack(OFP.OFP_PORT_PACK_STR, port_no, mac, name, 0, state, 0, 0, 0, 0, 0, 0)
    body = struct.pack("!B7x", reason) + port
    return struct.pack("!BBHI", OFP.OFP_VERSION, OFP.OFPT_PORT_STATUS, 8 + len(body), 5) + body


def ryu_parse(raw: bytes):
    version, mtype, length, xid = struct.unpack_from("!BBHI", raw)
    dp = FakeDatapath(None, FakeBrick({}))
    return ofproto_parser.msg(dp, version, mtype, length, xid, raw)


@pytest.mark.parametrize("extra_first", [False, True])
@pytest.mark.parametrize("data", [b"", b"\x01" * 54, bytes(range(200))])
def test_packet_in_reads_what_ryu_reads(data: bytes, extra_first: bool) -> None:
    raw = packet_in(data, in_port=42, table=5, extra_first=extra_first)
    msg = ryu_parse(raw)
    table, in_port, frame = fastpath.packet_in(bytearray(b"xx" + raw + b"yy"), 2, len(raw))
    assert (table, in_port, frame) == (msg.table_id, msg.match["in_port"], bytes(msg.data))
    assert frame == data


def test_packet_in_without_in_port_says_so() -> None:
    raw = packet_in(b"abc", in_port=None)
    assert fastpath.packet_in(bytearray(raw), 0, len(raw)) == (3, None, b"abc")


@pytest.mark.parametrize("cut", [8, 20, 27])
def test_truncated_packet_in_is_malformed(cut: int) -> None:
    raw = packet_in(b"abc", in_port=1)
    with pytest.raises(fastpath.Malformed):
        fastpath.packet_in(bytearray(raw[:cut]), 0, cut)


def test_port_status_reads_what_ryu_reads() -> None:
    raw = port_status(OFP.OFPPR_ADD, 17, b"\x02\0\0\0\0\x05", b"s1-eth17".ljust(16, b"\0"), state=OFP.OFPPS_LIVE)
    msg = ryu_parse(raw)
    dp = FakeDatapath(None, FakeBrick({}))
    reason, port = fastpath.port_status(dp, bytearray(raw), 0, len(raw))
    assert reason == msg.reason and port == msg.desc
    with pytest.raises(fastpath.Malformed):
        fastpath.port_status(dp, bytearray(raw[:40]), 0, 40)


def test_port_status_bookkeeping_is_ryu_s() -> None:
    """What Ryu's ofp_handler does with a port status: the port table and EventOFPPortStateChange."""
    brick = FakeBrick({})
    dp = FakeDatapath(None, brick)
    raw = port_status(OFP.OFPPR_ADD, 3, b"\x02\0\0\0\0\x03", b"p3".ljust(16, b"\0"))
    reason, port = fastpath.port_status(dp, bytearray(raw), 0, len(raw))
    fastpath.port_status_bookkeeping(dp, reason, port)
    assert dp.ports == {3: port}
    fastpath.port_status_bookkeeping(dp, OFP.OFPPR_DELETE, port)
    assert dp.ports == {}
    kinds = [(type(e), e.reason, e.port_no) for e in brick.events]
    assert kinds == [(ofp_event.EventOFPPortStateChange, OFP.OFPPR_ADD, 3)] * 1 + [
        (ofp_event.EventOFPPortStateChange, OFP.OFPPR_DELETE, 3)
    ]


def _run_loop(chunks: list[bytes], observers: dict, idle: bool = False):
    """Feed ``chunks`` (separate writes) to the loop over a socket pair; what happened, in order."""
    ours, theirs = socket.socketpair()
    brick = FakeBrick(observers)
    dp = FakeDatapath(GreenLike(ours), brick, idle=idle)
    seen: list = []

    def fast(dp_, buf, off, length, out) -> bool:
        table, in_port, data = fastpath.packet_in(buf, off, length)
        seen.append(("fast", in_port, data))
        out.setdefault(dp_.id, []).append(b"reply-%d;" % in_port)
        return True

    class Recorder:
        def send_event_to_observers(self, ev, state=None) -> None:
            seen.append(("ryu", type(ev).__name__))

    brick.send_event_to_observers = Recorder().send_event_to_observers  # type: ignore[method-assign]
    lock = threading.Lock()
    saved = (fastpath.REGISTRY.handlers, fastpath.REGISTRY.lock, fastpath.REGISTRY.datapaths)
    fastpath.REGISTRY.handlers = {OFP.OFPT_PACKET_IN: (fast, ofp_event.EventOFPPacketIn, "EpmipApp")}
    fastpath.REGISTRY.lock = lock
    fastpath.REGISTRY.datapaths = {dp.id: dp}
    try:
        for chunk in chunks:
            theirs.sendall(chunk)
        theirs.shutdown(socket.SHUT_WR)
        fastpath.recv_loop(dp)
    finally:
        fastpath.REGISTRY.handlers, fastpath.REGISTRY.lock, fastpath.REGISTRY.datapaths = saved
        received = b""
        if idle:
            ours.shutdown(socket.SHUT_WR)
            while chunk := theirs.recv(4096):
                received += chunk
        ours.close()
        theirs.close()
    assert not lock.locked()
    return seen, dp, received


ECHO = struct.pack("!BBHI", OFP.OFP_VERSION, OFP.OFPT_ECHO_REQUEST, 8, 77)


def test_loop_keeps_the_switch_s_order_between_the_two_paths() -> None:
    first, second = packet_in(b"one", 1), packet_in(b"two", 2)
    stream = first + ECHO + second
    # split in awkward places: inside a header, inside a body
    chunks = [stream[:5], stream[5:30], stream[30 : len(first) + 3], stream[len(first) + 3 :]]
    seen, dp, _ = _run_loop(chunks, {ofp_event.EventOFPPacketIn: {"EpmipApp": None}})
    assert seen == [("fast", 1, b"one"), ("ryu", "EventOFPEchoRequest"), ("fast", 2, b"two")]
    # what the first handler produced left before the echo went to Ryu's path; the second after
    assert dp.sent == [b"reply-1;", b"reply-2;"]


def test_loop_leaves_packet_ins_to_ryu_when_another_app_observes_them() -> None:
    seen, dp, _ = _run_loop([packet_in(b"x", 4)], {ofp_event.EventOFPPacketIn: {"EpmipApp": None, "Other": None}})
    assert seen == [("ryu", "EventOFPPacketIn")] and dp.sent == []


def test_loop_batches_a_read_into_one_write_per_switch() -> None:
    stream = b"".join(packet_in(b"p%d" % i, i) for i in range(1, 6))
    seen, dp, received = _run_loop([stream], {ofp_event.EventOFPPacketIn: {"EpmipApp": None}}, idle=True)
    assert [s[1] for s in seen] == [1, 2, 3, 4, 5]
    # the send loop was idle: straight into the socket, in one write, nothing queued
    assert dp.sent == [] and received == b"reply-1;reply-2;reply-3;reply-4;reply-5;"


def test_install_replaces_ryu_s_loop() -> None:
    from ryu.controller import controller as ryu_controller

    original = ryu_controller.Datapath._recv_loop
    saved = (
        fastpath.REGISTRY.handlers,
        fastpath.REGISTRY.lock,
        fastpath.REGISTRY.datapaths,
        fastpath.REGISTRY.installed,
    )
    fastpath.REGISTRY.installed = False
    try:
        fastpath.install("EpmipApp", threading.Lock(), {}, {})
        assert ryu_controller.Datapath._recv_loop is not original
        assert ryu_controller.Datapath._recv_loop.__name__ == "deactivate"  # Ryu's wrapper closes the socket
    finally:
        ryu_controller.Datapath._recv_loop = original
        (fastpath.REGISTRY.handlers, fastpath.REGISTRY.lock, fastpath.REGISTRY.datapaths,
         fastpath.REGISTRY.installed) = saved  # fmt: skip


PATCHED_WRITE = """
from apps import compat
compat.apply()
from ryu.lib import hub
hub.patch(thread=False)  # as epmip-manager does before Ryu starts: socket.socket is eventlet's now
from eventlet import patcher
from eventlet.greenio import GreenSocket
from apps import fastpath
import sys
sys.path.insert(0, "tests/unit")
from test_fastpath import FakeBrick, FakeDatapath
# as Ryu's server accepts a switch: eventlet's GreenSocket around the OS socket
os_ours, theirs = patcher.original("socket").socketpair()
ours = GreenSocket(os_ours)
idle = FakeDatapath(ours, FakeBrick({}), idle=True)
fastpath.write(idle, b"direct")
busy = FakeDatapath(ours, FakeBrick({}), idle=False)
fastpath.write(busy, b"queued")
print(idle.sent == [] and theirs.recv(100) == b"direct" and busy.sent == [b"queued"])
"""


def test_write_goes_straight_into_the_os_socket_when_the_send_loop_is_idle() -> None:
    """In a process patched as epmip-manager's (eventlet's GreenSocket in Ryu's Datapath): straight
    into the OS socket when the send loop waits on an empty queue; through Ryu's queue when busy."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", PATCHED_WRITE], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_a_switch_the_app_has_not_taken_yet_goes_ryu_s_way() -> None:
    """Right after the handshake the app's state-change handler may not have run yet (its event
    waits in the app's queue): a packet-in of that switch must queue behind it, not reach the
    core first."""
    from apps import compat

    compat.apply()
    from apps.epmip_app import EpmipApp

    class Core:
        def __init__(self) -> None:
            self.seen: list = []

        def packet_in(self, dpid, in_port, data, now, table=None):
            self.seen.append((dpid, in_port, data, table))
            return []

        def count(self, what: str) -> None:
            raise AssertionError(what)

    app = EpmipApp.__new__(EpmipApp)
    app.core, app.datapaths = Core(), {}
    dp = FakeDatapath(None, FakeBrick({}))
    raw = bytearray(packet_in(b"rs", 9, table=0))
    assert app._fast_packet_in(dp, raw, 0, len(raw), {}) is False and app.core.seen == []
    app.datapaths[dp.id] = dp
    assert app._fast_packet_in(dp, raw, 0, len(raw), {}) is True
    assert app.core.seen == [(dp.id, 9, b"rs", 0)]
