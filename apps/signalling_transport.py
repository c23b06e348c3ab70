"""UDP transport of the signalling between controller instances (``controllers:`` in the domain
file; docs/signalling-wire.md says why UDP and not raw IPv6 protocol 135).

Each instance receives on its own (address, port) in a green thread and sends from one socket per
peer instance, *connected* to the peer: then the ICMP "port unreachable" that a datagram to a
stopped instance causes is reported by the kernel on the next send to it (ECONNREFUSED), which is
how an instance knows - and logs - which peer is unreachable.  The sending sockets are the
unpatched (blocking-free, non-blocking) ones: sending happens inside a core call, which must not
yield to another green thread half-way.
"""

from __future__ import annotations

import logging
from typing import Any

from eventlet import patcher

from controller.config import ControllerInstance

LOG = logging.getLogger("epmip.transport")
MAX_DATAGRAM = 65535

_socket = patcher.original("socket")


class UdpTransport:
    def __init__(self, me: ControllerInstance) -> None:
        import socket  # the green one (ryu.lib.hub patched it): the receiver waits in a green thread

        self.me = me
        self.receiver = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.receiver.bind((str(me.address), me.port))
        self.peers: dict[str, Any] = {}

    def _peer(self, peer: ControllerInstance) -> Any:
        sock = self.peers.get(peer.name)
        if sock is None:
            sock = _socket.socket(_socket.AF_INET6, _socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((str(peer.address), peer.port))
            self.peers[peer.name] = sock
        return sock

    def send(self, data: bytes, peer: ControllerInstance) -> bool:
        """Send one datagram; whether the peer refused earlier ones (then this one is sent again:
        the error took the place of the first try)."""
        sock = self._peer(peer)
        try:
            sock.send(data)
            return False
        except ConnectionRefusedError:
            try:
                sock.send(data)
            except ConnectionRefusedError:
                pass
            return True
        except BlockingIOError:
            LOG.warning("signalling to instance %s dropped: the socket's send buffer is full", peer.name)
            return False

    def recv(self) -> bytes:
        data, _ = self.receiver.recvfrom(MAX_DATAGRAM)
        return bytes(data)

    def close(self) -> None:
        self.receiver.close()
        for sock in self.peers.values():
            sock.close()
