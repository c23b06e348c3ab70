"""One domain, several controller instances: which instance serves which node, and the signalling
between instances as Mobility Headers on the wire (docs/signalling-wire.md).

Every instance builds every node (each needs the whole domain in its view), but only the nodes
of its own switches - and, in the first instance, the policy store - are reached on its bus.  For
every other node the bus gets ``WireLink.forward`` as the handler: a message for it is encoded with
``controller/wire.py`` and handed to the transport (``apps/signalling_transport.py``: a UDP
datagram to the serving instance).  ``WireLink.receive`` takes a datagram in: decoded, the §8 tag
and the checksum checked, meant for a node of this instance; the message is then handed to
``EpmipController.receive_signalling`` like any other message from outside the process.

Framework-free: the transport is a function given to ``WireLink``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from controller import wire
from controller.config import ControllerInstance, Domain
from controller.dispatcher import Dispatcher
from controller.effects import Effects
from controller.messages import HBH_PEER, AuthenticationError, Keys, Message, MessageError
from controller.policy import NAME as POLICY

LOG = logging.getLogger("epmip.placement")
UNKNOWN_NODE = "::"  # checksum address of a name no instance serves (the message is refused anyway)
# (datagram, the instance to send it to) -> whether that instance refused earlier datagrams (ICMP
# port unreachable: nothing listens there); raises OSError if the datagram could not be sent
Send = Callable[[bytes, ControllerInstance], bool]


class PlacementError(ValueError):
    pass


class Placement:
    """Which controller instance serves each node of the domain, seen from ``instance``."""

    def __init__(self, domain: Domain, instance: str) -> None:
        instances = {c.name: c for c in domain.controllers}
        if not instances:
            raise PlacementError(f"{domain.source} has no controllers: section; run without --epmip-instance")
        if instance not in instances:
            raise PlacementError(f"instance {instance!r} is not one of the domain's controllers {sorted(instances)}")
        self.me = instances[instance]
        self.instances = instances
        self.serving: dict[str, ControllerInstance] = {sw: c for c in domain.controllers for sw in c.switches}
        self.serving[POLICY] = domain.controllers[0]
        # a node's address: its switch's; the policy store's: its instance's signalling address
        self.address = {name: str(sw.address) for name, sw in domain.switches.items()}
        self.address[POLICY] = str(domain.controllers[0].address)

    def local(self, node: str) -> bool:
        server = self.serving.get(node)
        return server is not None and server.name == self.me.name

    def remote_nodes(self) -> list[str]:
        return [node for node, c in self.serving.items() if c.name != self.me.name]

    def addresses(self, src: str, dst: str) -> tuple[str, str]:
        """The IPv6 source and destination a message between two nodes has (checksum, capture)."""
        return self.address.get(src, UNKNOWN_NODE), self.address.get(dst, UNKNOWN_NODE)


class WireLink:
    """The signalling of this instance's nodes with the nodes of other instances."""

    def __init__(self, placement: Placement, send: Send, keys: Keys | None, errors: Counter[str]) -> None:
        self.placement = placement
        self.send = send
        self.keys = keys
        self.errors = errors  # the bus's error counters (/epmip/v1/stats signalling_errors)
        self.unreachable: set[str] = set()  # instances that refused our datagrams (until they send again)
        self.datagrams_sent = 0
        self.datagrams_received = 0
        self.bytes_sent = 0

    def _key(self, src: str, dst: str) -> bytes | None:
        return self.keys(src, dst or HBH_PEER) if self.keys is not None else None

    def forward(self, msg: Message, now: float) -> Effects | None:
        """The bus handler of a node another instance serves: the message goes on the wire."""
        peer = self.placement.serving.get(msg.dst)
        if peer is None:
            self.errors["unknown_receiver"] += 1
            LOG.error("%s for %r dropped: no controller instance serves that node", msg.TYPE, msg.dst)
            return None
        try:
            data = wire.encode(msg, self._key(msg.src, msg.dst), *self.placement.addresses(msg.src, msg.dst))
        except MessageError as exc:
            self.errors["unencodable"] += 1
            LOG.error("%s %s -> %s seq=%d not sent to instance %s: %s", msg.TYPE, msg.src, msg.dst, msg.seq,
                      peer.name, exc)  # fmt: skip
            return None
        try:
            refused = self.send(data, peer)
        except OSError as exc:
            refused = True
            LOG.debug("sending to instance %s failed: %s", peer.name, exc)
        self.datagrams_sent += 1
        self.bytes_sent += len(data)
        if refused:
            self.errors["peer_unreachable"] += 1
            if peer.name not in self.unreachable:
                self.unreachable.add(peer.name)
                LOG.error("signalling peer %s ([%s]:%d) is unreachable (nothing listens there): messages to %s "
                          "are lost until it is back; %s %s -> %s seq=%d may be among them", peer.name,
                          peer.address, peer.port, ", ".join(peer.switches), msg.TYPE, msg.src, msg.dst,
                          msg.seq)  # fmt: skip
        return None

    def receive(self, data: bytes) -> tuple[str, bytes] | None:
        """A datagram from another instance: (receiver node, the message as the bus takes it from
        outside, ``EpmipController.receive_signalling``), or None when it is dropped (counted and
        logged)."""
        self.datagrams_received += 1
        try:
            msg = wire.decode(data, self.keys, self.placement.addresses)
        except AuthenticationError as exc:
            self.errors["unauthenticated"] += 1
            LOG.error("unauthenticated signalling datagram (%d octets) dropped: %s", len(data), exc)
            return None
        except MessageError as exc:
            self.errors["malformed"] += 1
            LOG.error("malformed signalling datagram (%d octets) dropped: %s", len(data), exc)
            return None
        if not self.placement.local(msg.dst):
            self.errors["not_served_here"] += 1
            LOG.error("%s %s -> %s dropped: instance %s does not serve %r", msg.TYPE, msg.src, msg.dst,
                      self.placement.me.name, msg.dst)  # fmt: skip
            return None
        sender = self.placement.serving.get(msg.src)
        if sender is not None and sender.name in self.unreachable:
            self.unreachable.discard(sender.name)
            LOG.warning("signalling peer %s ([%s]:%d) is reachable again", sender.name, sender.address, sender.port)
        return msg.dst, msg.encode(self._key(msg.src, msg.dst))


def serve_placement(bus: Dispatcher, link: WireLink) -> None:
    """Make ``bus`` send every message for a node of another instance through ``link``."""
    for node in link.placement.remote_nodes():
        bus.register(node, link.forward)
