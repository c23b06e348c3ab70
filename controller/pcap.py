"""A minimal libpcap file writer for signalling captures: IPv6 packets with a Mobility Header,
link type LINKTYPE_RAW (the packet starts with the IPv6 header), microsecond timestamps.

``SignallingCapture`` turns each signalling message into such a packet with ``controller/wire.py``
(the same encoder that puts messages between controller instances on the wire), from the
sender's to the receiver's signalling address, so that Wireshark or tshark can read any run.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Callable
from typing import BinaryIO

from controller import wire
from controller.config import Domain
from controller.messages import HBH_PEER, Keys, Message, MessageError

LOG = logging.getLogger("epmip.pcap")

PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps
LINKTYPE_RAW = 101
SNAPLEN = 65535
HOP_LIMIT = 64
IN_CONTROLLER = "::1"  # the address of a node that is no switch (the policy store)
Addresses = Callable[[Message], tuple[str, str]]
_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_IPV6 = struct.Struct("!IHBB16s16s")


def file_header() -> bytes:
    return _FILE_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW)


def ipv6_packet(src: str, dst: str, payload: bytes, next_header: int = wire.IPPROTO_MH) -> bytes:
    """An IPv6 header (version 6, no traffic class or flow label) followed by ``payload``."""
    return (
        _IPV6.pack(
            6 << 28,
            len(payload),
            next_header,
            HOP_LIMIT,
            ipaddress.IPv6Address(src).packed,
            ipaddress.IPv6Address(dst).packed,
        )
        + payload
    )


def record(stamp: float, packet: bytes) -> bytes:
    """One pcap record: ``stamp`` (seconds since 1970) and the whole packet."""
    usec = max(round(stamp * 1_000_000), 0)
    return _RECORD.pack(usec // 1_000_000, usec % 1_000_000, len(packet), len(packet)) + packet


def signalling_addresses(domain: Domain, others: dict[str, str] | None = None) -> Addresses:
    """The IPv6 source and destination of a message: each node's address from the domain file
    (a switch's Proxy-CoA / LMA address); ``others`` for nodes that are no switch (default: the
    policy store at ``IN_CONTROLLER``); a Hop-by-Hop query goes toward the address it asks for."""
    table = {name: str(sw.address) for name, sw in domain.switches.items()}
    table.update(others or {})

    def addresses(msg: Message) -> tuple[str, str]:
        dst = table.get(msg.dst) or (getattr(msg, "address", "") if msg.dst == "" else "")
        return table.get(msg.src, IN_CONTROLLER), dst or IN_CONTROLLER

    return addresses


class SignallingCapture:
    """Writes every signalling message given to ``write`` into a pcap stream.  ``addresses`` gives
    a message's IPv6 source and destination (``signalling_addresses``); ``keys`` are the domain's
    pair keys (None: messages are not authenticated)."""

    def __init__(self, stream: BinaryIO, addresses: Addresses, keys: Keys | None, epoch: float) -> None:
        self.stream = stream
        self.addresses = addresses
        self.keys = keys
        self.epoch = epoch  # added to the dispatcher's `now` for the record's wall-clock time
        self.written = 0
        self.failed = 0
        stream.write(file_header())
        stream.flush()

    def write(self, msg: Message, now: float) -> None:
        src, dst = self.addresses(msg)
        key = self.keys(msg.src, msg.dst or HBH_PEER) if self.keys is not None else None
        try:
            mh = wire.encode(msg, key, src, dst)
        except MessageError as exc:
            self.failed += 1
            LOG.warning("signalling capture: %s %s -> %s seq=%d not written: %s", msg.TYPE, msg.src, msg.dst,
                        msg.seq, exc)  # fmt: skip
            return
        self.stream.write(record(self.epoch + now, ipv6_packet(src, dst, mh)))
        self.stream.flush()
        self.written += 1

    def close(self) -> None:
        self.stream.close()
