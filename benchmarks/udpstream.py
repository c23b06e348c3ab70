#!/usr/bin/python3
"""A paced IPv6 UDP test stream: ``send`` and ``recv`` (Python 3 standard library only).

Runs inside Mininet host namespaces with the system ``/usr/bin/python3`` (no virtualenv there), so
it must not import anything from the project.  A bidirectional stream is a sender and a receiver on
each side.

    udpstream.py send --dst ADDR --port P --rate PPS --count N [--size BYTES] [--log FILE]
    udpstream.py recv --port P --out FILE [--duration S]

Packet: ``MAGIC`` (4 bytes), sequence number (u64) and send time (f64), network byte order,
zero-padded to ``--size`` bytes.  Sequence numbers run 0 .. N-1.

Records (receiver ``--out``, sender ``--log``): ``RECORD`` = (seq u64, send_time f64,
recv_time f64), little-endian, 24 bytes each, appended and flushed at least every
``FLUSH_EVERY`` seconds.  In the sender's log recv_time is 0.  ``load_records`` reads them back
(ignoring a torn last record of a killed writer).

Clock: every timestamp is ``time.time()`` (CLOCK_REALTIME).  Mininet hosts are network namespaces
of one machine and share its clock, so a sender's stamp and a receiver's stamp in another namespace
are directly comparable (one-way delay = recv_time - send_time), and so are times the orchestrator
takes with ``time.time()``.  The sender paces on ``time.monotonic()``: packet i is due at
``start + i / rate`` (absolute deadlines, so sleep overshoot never accumulates); a late sender sends
at once to catch up and reports its worst lateness.

Both modes stop by themselves (after N packets, after ``--duration``) or on SIGTERM/SIGINT.  The
sender prints one JSON summary line on stdout when it stops.  Traffic goes only to ``--dst``.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import sys
import time

MAGIC = b"EPMB"
HEADER = struct.Struct("!4sQd")  # magic, seq, send time
RECORD = struct.Struct("<Qdd")  # seq, send time, receive time
FLUSH_EVERY = 0.2  # seconds
DEFAULT_DURATION = 3600.0  # a receiver nobody stops still ends

_stop = False


def _on_signal(_signum, _frame) -> None:
    global _stop
    _stop = True


def _install_signals() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def load_records(path: str) -> list[tuple[int, float, float]]:
    """The (seq, send_time, recv_time) records of a receiver's --out or a sender's --log file."""
    with open(path, "rb") as fh:
        data = fh.read()
    usable = len(data) - len(data) % RECORD.size
    return list(RECORD.iter_unpack(data[:usable]))


def send(dst: str, port: int, rate: float, count: int, size: int, log: str | None = None) -> dict:
    if rate <= 0:
        raise ValueError("--rate must be positive")
    size = max(size, HEADER.size)
    addrinfo = socket.getaddrinfo(dst, port, socket.AF_INET6, socket.SOCK_DGRAM)
    family, socktype, proto, _, sockaddr = addrinfo[0]
    sock = socket.socket(family, socktype, proto)
    pad = bytes(size - HEADER.size)
    logf = open(log, "ab") if log else None  # noqa: SIM115 - closed below
    sent = errors = 0
    late_max = 0.0
    first = last = None
    last_flush = time.monotonic()
    start = time.monotonic() + 0.01
    try:
        for seq in range(count):
            if _stop:
                break
            due = start + seq / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now_mono = time.monotonic()
            late_max = max(late_max, now_mono - due)
            t = time.time()
            try:
                sock.sendto(HEADER.pack(MAGIC, seq, t) + pad, sockaddr)
            except OSError:  # no route / no buffer during a handoff: the packet counts as lost
                errors += 1
            sent += 1
            first = t if first is None else first
            last = t
            if logf is not None:
                logf.write(RECORD.pack(seq, t, 0.0))
                if now_mono - last_flush >= FLUSH_EVERY:
                    logf.flush()
                    last_flush = now_mono
    finally:
        sock.close()
        if logf is not None:
            logf.close()
    return {"sent": sent, "send_errors": errors, "first": first, "last": last,
            "late_max_ms": round(late_max * 1000, 3), "rate": rate, "size": size}  # fmt: skip


def _record(fh, data: bytes, t: float) -> bool:
    if len(data) < HEADER.size:
        return False
    magic, seq, sent_at = HEADER.unpack_from(data)
    if magic != MAGIC:
        return False
    fh.write(RECORD.pack(seq, sent_at, t))
    return True


def recv(port: int, out: str, duration: float = DEFAULT_DURATION) -> dict:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(("::", port))
    sock.settimeout(0.1)
    end = time.monotonic() + duration
    received = ignored = 0
    last_flush = time.monotonic()
    with open(out, "ab") as fh:
        try:
            while not _stop:
                now = time.monotonic()
                if now >= end:
                    break
                if now - last_flush >= FLUSH_EVERY:
                    fh.flush()
                    last_flush = now
                try:
                    data = sock.recv(65535)
                except TimeoutError:
                    continue
                if _record(fh, data, time.time()):
                    received += 1
                else:
                    ignored += 1
            sock.setblocking(False)  # what is already queued was received before the stop: keep it
            while True:
                try:
                    data = sock.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                if _record(fh, data, time.time()):
                    received += 1
                else:
                    ignored += 1
        finally:
            sock.close()
    return {"received": received, "ignored": ignored}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="udpstream.py", description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("send", help="send --count packets to --dst at --rate packets/s")
    p.add_argument("--dst", required=True, help="IPv6 address of the receiver")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="packets per second")
    p.add_argument("--count", type=int, required=True, help="packets to send, then stop")
    p.add_argument("--size", type=int, default=64, help=f"UDP payload bytes (at least {HEADER.size})")
    p.add_argument("--log", default=None, help="append a (seq, send_time, 0) record per packet here")
    p = sub.add_parser("recv", help="record packets arriving on [::]:--port into --out")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True, help="binary record file (appended)")
    p.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="stop after S seconds")
    args = parser.parse_args(argv)
    _install_signals()
    if args.mode == "send":
        summary = send(args.dst, args.port, args.rate, args.count, args.size, args.log)
    else:
        summary = recv(args.port, args.out, args.duration)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
