"""epmip's receive loop for the switches' OpenFlow connections (issue 13).

Ryu's ``Datapath._recv_loop`` reads a message header and then its body (two ``recv`` calls per
message), parses every message into Ryu objects (a packet-in's match becomes an ``OFPMatch`` with
one object per OXM field), wraps it in an event, puts the event on each observing app's queue, and
the app's own green thread takes it from there.  For the two messages that carry epmip's events -
OFPT_PACKET_IN and OFPT_PORT_STATUS - that is most of what the controller spends per event: with
it, a route set-up cost about as much CPU as ``ryu.app.simple_switch_13`` spends per packet-in.

``install`` replaces ``Datapath._recv_loop`` in this process with a loop that reads whatever the
socket holds (up to 64 KiB), and hands each complete message either

* to a *fast handler* registered for its type: called at once, in this green thread, with the raw
  buffer - when the switch is in MAIN_DISPATCHER, speaks OpenFlow 1.3, and no app but the one that
  registered the handler observes that message's event (``ryu.app.ofctl_rest`` or any other app
  next to epmip sees every message as before, through Ryu's path); or
* to Ryu's own path, exactly as Ryu's loop does (parse, observers, the ofp_event brick's handlers).

A fast handler gets ``(datapath, buf, offset, length, out)``: ``out`` collects the bytes to send per
datapath id while the loop works through what one read returned; the loop sends them (one
``Datapath.send`` per switch) before it reads again, and after at most ``BATCH`` fast messages.  It
holds ``lock`` (the app's core lock) from the first fast message of a batch until that batch is
sent, so no other green thread (the timer tick, a REST write) changes the core or sends between an
event and its flow-mods.  Messages keep their order: a handler may return False to pass a message
on to Ryu's path, which the loop does only after sending what is batched.

``simple_switch_13`` in ``epmip bench load`` runs in a process without epmip's app, on Ryu's own
loop (docs/benchmarks.md).
"""

from __future__ import annotations

import _socket
import logging
import ssl
import struct
from collections.abc import Callable
from typing import Any

from ryu.base import app_manager  # noqa: F401 - before ryu.controller.controller, which imports it back
from ryu.controller import controller as ryu_controller
from ryu.controller import ofp_event
from ryu.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER
from ryu.ofproto import ofproto_parser, ofproto_v1_3

LOG = logging.getLogger("epmip.fastpath")

HEADER = struct.Struct("!BBHI")
HEADER_SIZE = HEADER.size
READ_SIZE = 65536
# the OS socket under eventlet's GreenSocket (socket.socket itself is eventlet's once Ryu patched it)
_RAW_SOCKET = _socket.socket
BATCH = 64  # fast messages handled under one lock hold before their bytes are sent

# (datapath, buffer, offset of the message, its length, out: dpid -> [bytes]) -> handled
FastHandler = Callable[[Any, bytearray, int, int, dict[int, list[bytes]]], bool]


class _Registry:
    def __init__(self) -> None:
        self.handlers: dict[int, tuple[FastHandler, type, str]] = {}
        self.lock: Any = None
        self.datapaths: dict[int, Any] = {}  # dpid -> Datapath of the switches the app serves
        self.installed = False


REGISTRY = _Registry()


def install(app_name: str, lock: Any, datapaths: dict[int, Any], handlers: dict[int, tuple[type, FastHandler]]) -> None:
    """Use epmip's loop for every switch that connects from now on; ``handlers``: OpenFlow 1.3
    message type -> (the Ryu event class of that message, its fast handler), taken only while no
    app but ``app_name`` observes that event class; ``datapaths``: the app's switches by id, to
    send the batched bytes to."""
    REGISTRY.lock = lock
    REGISTRY.datapaths = datapaths
    REGISTRY.handlers = {t: (h, ev_cls, app_name) for t, (ev_cls, h) in handlers.items()}
    if not REGISTRY.installed:
        ryu_controller.Datapath._recv_loop = ryu_controller._deactivate(recv_loop)
        REGISTRY.installed = True


def _only_observer(dp: Any, ev_cls: type, app_name: str) -> bool:
    observers = dp.ofp_brick.observers.get(ev_cls)
    return observers is not None and len(observers) == 1 and app_name in observers


def _flush(out: dict[int, list[bytes]], datapaths: dict[int, Any]) -> None:
    for dpid, parts in out.items():
        dp = datapaths.get(dpid)
        if dp is not None and parts:
            write(dp, b"".join(parts))
    out.clear()


def write(dp: Any, data: bytes) -> None:
    """Send ``data`` to the switch: straight into its socket when Ryu's send loop is idle (waiting
    on an empty queue, so it is not in the middle of a write), else - or for what the socket did
    not take at once - through ``Datapath.send``, Ryu's queue, behind what is already there.
    The direct write saves a wake-up of the send loop's green thread per event."""
    q = dp.send_q
    sock = dp.socket
    raw = getattr(sock, "fd", None)
    if (
        q is not None
        and isinstance(raw, _RAW_SOCKET)
        and not isinstance(raw, ssl.SSLSocket)
        and not q.qsize()
        and q.getting()
    ):
        try:
            sent = raw.send(data)  # the non-blocking socket under eventlet's: never yields
        except BlockingIOError:
            sent = 0
        except OSError:
            sent = 0  # Ryu's loop finds the broken connection
        if sent == len(data):
            return
        data = data[sent:]
    dp.send(data)


def _ryu_path(dp: Any, version: int, msg_type: int, msg_len: int, xid: int, data: bytes) -> None:
    """What Ryu's own loop does with one message."""
    msg = ofproto_parser.msg(dp, version, msg_type, msg_len, xid, data)
    if msg:
        ev = ofp_event.ofp_msg_to_ev(msg)
        dp.ofp_brick.send_event_to_observers(ev, dp.state)
        state = dp.state
        handlers = [h for h in dp.ofp_brick.get_handlers(ev) if state in h.callers[ev.__class__].dispatchers]
        for handler in handlers:
            handler(ev)


def recv_loop(dp: Any) -> None:
    """``Datapath._recv_loop`` (wrapped in Ryu's ``_deactivate``, which closes the socket)."""
    buf = bytearray()
    out: dict[int, list[bytes]] = {}
    registry = REGISTRY
    datapaths = registry.datapaths
    fast_ok: dict[int, bool] = {}  # message type -> may go the fast way (decided at its first use)
    while dp.state != DEAD_DISPATCHER:
        try:
            got = dp.socket.recv(READ_SIZE)
        except TimeoutError:  # Ryu sets a socket timeout (socket.timeout is TimeoutError)
            continue
        except ssl.SSLError:
            continue
        except (EOFError, OSError):
            break
        if not got:
            break
        buf += got
        size = len(buf)
        pos = 0
        held = False
        batched = 0
        try:
            while size - pos >= HEADER_SIZE:
                version, msg_type, msg_len, xid = HEADER.unpack_from(buf, pos)
                if msg_len < HEADER_SIZE:
                    LOG.debug("message with invalid length %d from switch at %s", msg_len, dp.address)
                    msg_len = HEADER_SIZE
                if size - pos < msg_len:
                    break
                entry = registry.handlers.get(msg_type)
                handled = False
                if entry is not None and version == ofproto_v1_3.OFP_VERSION and dp.state == MAIN_DISPATCHER:
                    ok = fast_ok.get(msg_type)
                    if ok is None:
                        ok = fast_ok[msg_type] = _only_observer(dp, entry[1], entry[2])
                    if ok:
                        if not held:
                            registry.lock.acquire()
                            held = True
                        handled = entry[0](dp, buf, pos, msg_len, out)
                        batched += 1
                if not handled:
                    if held:  # what is batched goes first: messages keep their order
                        _flush(out, datapaths)
                        registry.lock.release()
                        held = False
                        batched = 0
                    _ryu_path(dp, version, msg_type, msg_len, xid, bytes(buf[pos : pos + msg_len]))
                elif batched >= BATCH:
                    _flush(out, datapaths)
                    registry.lock.release()
                    held = False
                    batched = 0
                pos += msg_len
        finally:
            if held:
                _flush(out, datapaths)
                registry.lock.release()
        del buf[:pos]


# ------------------------------------------------------------------ parsing OpenFlow 1.3 messages

_PACKET_IN = struct.Struct("!IHBBQHH")  # buffer_id, total_len, reason, table_id, cookie, match type, length
_OXM = struct.Struct("!I")
_IN_PORT_OXM = (ofproto_v1_3.OFPXMC_OPENFLOW_BASIC << 16) | (ofproto_v1_3.OFPXMT_OFB_IN_PORT << 9) | 4
_PORT_STATUS = struct.Struct("!B7x")


class Malformed(Exception):
    pass


def packet_in(buf: bytearray, off: int, length: int) -> tuple[int, int | None, bytes]:
    """(table id, in_port or None, frame) of the OFPT_PACKET_IN at ``buf[off:off+length]``."""
    if length < HEADER_SIZE + _PACKET_IN.size:
        raise Malformed("packet-in shorter than its fixed part")
    _, _, _, table_id, _, match_type, match_len = _PACKET_IN.unpack_from(buf, off + HEADER_SIZE)
    if match_type != ofproto_v1_3.OFPMT_OXM or match_len < 4:
        raise Malformed(f"packet-in match type {match_type} length {match_len}")
    match_at = off + HEADER_SIZE + 16
    end = match_at + match_len
    data_at = match_at + (match_len + 7) // 8 * 8 + 2
    if data_at > off + length:
        raise Malformed("packet-in match runs past the message")
    in_port = None
    pos = match_at + 4
    while pos + 4 <= end:
        (oxm,) = _OXM.unpack_from(buf, pos)
        if oxm == _IN_PORT_OXM and pos + 8 <= end:
            (in_port,) = _OXM.unpack_from(buf, pos + 4)
            break
        pos += 4 + (oxm & 0xFF)
    return table_id, in_port, bytes(buf[data_at : off + length])


def port_status(dp: Any, buf: bytearray, off: int, length: int) -> tuple[int, Any]:
    """(reason, OFPPort) of the OFPT_PORT_STATUS at ``buf[off:off+length]``, by Ryu's port parser."""
    if length < HEADER_SIZE + 8 + ofproto_v1_3.OFP_PORT_SIZE:
        raise Malformed("port status shorter than its fixed part")
    (reason,) = _PORT_STATUS.unpack_from(buf, off + HEADER_SIZE)
    return reason, dp.ofproto_parser.OFPPort.parser(bytes(buf[off + 16 : off + 16 + ofproto_v1_3.OFP_PORT_SIZE]), 0)


def port_status_bookkeeping(dp: Any, reason: int, port: Any) -> None:
    """What Ryu's ofp_handler does with a port status (its ``port_status_handler``): the datapath's
    port table, and EventOFPPortStateChange for whoever observes it."""
    ofp = dp.ofproto
    if reason in (ofp.OFPPR_ADD, ofp.OFPPR_MODIFY):
        dp.ports[port.port_no] = port
    elif reason == ofp.OFPPR_DELETE:
        dp.ports.pop(port.port_no, None)
    else:
        return
    dp.ofp_brick.send_event_to_observers(ofp_event.EventOFPPortStateChange(dp, reason, port.port_no), dp.state)
