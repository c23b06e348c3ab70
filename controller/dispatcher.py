"""The signalling bus: one dispatcher for every signalling message between the nodes.

The composition root hands each message a handler returned to ``send``; the dispatcher logs and
counts it with its wire size (the signalling cost the benchmarks report) and queues it for the
receiver named in ``dst``.  ``deliver`` calls the receiver's handler and collects what the handler
returns: its messages are sent in turn, its flow intents are handed back to the root.

Encoded only when it leaves the process: a message between two nodes of this controller is
handed over as the record itself - no msgpack encode/decode, no HMAC.  Its size is what it would
be on the wire (the msgpack document plus the 16-byte tag when the domain has a key), so the
counted cost is unchanged.  A message that never leaves the process needs no MAC: whoever could
alter it in memory holds the domain secret anyway (docs/architecture.md, threat model).  Bytes that
come from outside (``receive_bytes``: another instance, a test, a fuzzer) are decoded strictly and
authenticated as before, and ``wire`` gives the bytes a message would leave with.  Records are
never changed after they are sent (handlers build new ones), so a receiver may keep what it got.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import NamedTuple

from controller.effects import Effects
from controller.messages import (
    AUTH_BYTES,
    HBH_PEER,
    AuthenticationError,
    Message,
    MessageError,
    Sizer,
    decode,
    pair_keys,
)
from openflow_rules.intents import Intent

LOG = logging.getLogger("epmip.signalling")

Handler = Callable[[Message, float], Effects | None]
# Called with every message sent (and every carried one recorded), e.g. the signalling capture
# (controller/pcap.py, epmip-manager --epmip-signalling-pcap)
Tap = Callable[[Message, float], None]
# A network model for tests: given a message about to be delivered, the delays (seconds) after which
# copies of it arrive - [] loses it, [0.0] is a normal delivery, [0.0, 0.0] duplicates it.
Faults = Callable[[Message], list[float]]


class LoggedMessage(NamedTuple):  # a tuple: two per route set-up (issue 13)
    time: float
    type: str
    src: str
    dst: str
    seq: int
    size: int


LOGGED_FIELDS = ("time", "type", "src", "dst", "seq", "size")


class Dispatcher:
    def __init__(self, history: int = 1000, key: bytes | None = None) -> None:
        self.key = key  # the domain's signalling secret (§8); None: messages are not authenticated
        self.keys = pair_keys(key)  # (src, dst) -> the pair's key
        self._handlers: dict[str, Handler] = {}
        self._queue: deque[tuple[str, Message | bytes, float]] = deque()
        self.sent: Counter[str] = Counter()
        self.bytes_sent = 0
        self.errors: Counter[str] = Counter()
        # the recent messages as plain tuples of LOGGED_FIELDS (``log`` names their fields): a
        # tuple of atomic values is made in C, and the collector stops tracking it
        self._log: deque[tuple[float, str, str, str, int, int]] = deque(maxlen=history)
        self._size = Sizer()
        self._tag_bytes = AUTH_BYTES if self.keys is not None else 0
        self.faults: Faults | None = None
        self._later: list[tuple[float, int, str, Message | bytes]] = []  # (due, order, dst, msg): delayed copies
        self._order = 0
        self.tap: Tap | None = None

    def register(self, node: str, handler: Handler) -> None:
        self._handlers[node] = handler

    def handler(self, node: str) -> Handler | None:
        return self._handlers.get(node)

    def wire(self, msg: Message) -> bytes:
        """The bytes ``msg`` leaves the process with: msgpack, and the pair's tag with a key (§8)."""
        return msg.encode(self.keys(msg.src, msg.dst or HBH_PEER) if self.keys is not None else None)

    def wire_size(self, msg: Message) -> int:
        """``len(self.wire(msg))`` without computing the tag."""
        return self._size(msg) + self._tag_bytes

    @property
    def log(self) -> list[LoggedMessage]:
        """The last ``history`` messages sent or carried, oldest first."""
        return [LoggedMessage(*entry) for entry in self._log]

    def send(self, msg: Message, now: float) -> None:
        size = self._size(msg) + self._tag_bytes
        mtype = msg.TYPE
        self.sent[mtype] += 1
        self.bytes_sent += size
        self._log.append((now, mtype, msg.src, msg.dst, msg.seq, size))
        if LOG.isEnabledFor(logging.DEBUG):
            # DEBUG, not INFO: two log records per route set-up were a tenth of the controller's
            # time under load; the recent messages are in ``log`` (GET /epmip/v1/messages)
            LOG.debug("%s %s -> %s seq=%d %s", msg.TYPE, msg.src, msg.dst, msg.seq, _brief(msg))
        if self.tap is not None:
            self.tap(msg, now)
        if self.faults is None:
            self._queue.append((msg.dst, msg, now))
            return
        for delay in self.faults(msg):
            if delay <= 0:
                self._queue.append((msg.dst, msg, now))
            else:
                self._order += 1
                heapq.heappush(self._later, (now + delay, self._order, msg.dst, msg))

    def release_due(self, now: float) -> None:
        """Queue the delayed copies (``faults``) whose time has come."""
        while self._later and self._later[0][0] <= now:
            due, _, dst, data = heapq.heappop(self._later)
            self._queue.append((dst, data, due))

    def record(self, msg: Message, now: float) -> None:
        """Count and log a message that travels outside the dispatcher (a Hop-by-Hop query is a
        data packet) so that the signalling cost stays complete."""
        size = self.wire_size(msg)
        self.sent[msg.TYPE] += 1
        self.bytes_sent += size
        self._log.append((now, msg.TYPE, msg.src, msg.dst or "(hop-by-hop)", msg.seq, size))
        LOG.info("%s %s -> (hop-by-hop toward %s) seq=%d", msg.TYPE, msg.src, getattr(msg, "address", ""), msg.seq)
        if self.tap is not None:
            self.tap(msg, now)

    def receive_bytes(self, dst: str, data: bytes, now: float) -> None:
        """Entry point for bytes that arrive from outside (another instance, a test, a fuzzer)."""
        self._queue.append((dst, data, now))

    def post(self, fx: Effects, now: float) -> list[Intent]:
        """Send an effect's messages (count the carried ones); its intents, for the caller."""
        for msg in fx.messages:
            self.send(msg, now)
        for msg in fx.carried:
            self.record(msg, now)
        return fx.intents

    def drain(self) -> int:
        """Deliver queued messages (and those their handlers send) until the queue is empty; how
        many were delivered.  The handlers' flow intents are dropped: see ``deliver``."""
        return self.deliver()[0]

    def deliver(self) -> tuple[int, list[Intent]]:
        """Deliver queued messages (and those their handlers send) until the queue is empty; how
        many were delivered, and the flow intents the handlers returned, in order."""
        delivered = 0
        intents: list[Intent] = []
        while self._queue:
            dst, item, now = self._queue.popleft()
            handler = self._handlers.get(dst)
            if handler is None:
                self.errors["unknown_receiver"] += 1
                LOG.error("signalling message for unknown node %r dropped", dst)
                continue
            if isinstance(item, Message):  # from a node of this process: the record itself
                msg = item
            else:  # bytes from outside: strict decoding, and the tag with a key
                try:
                    msg = decode(item, self.keys)
                except AuthenticationError as exc:
                    self.errors["unauthenticated"] += 1
                    LOG.error("unauthenticated signalling message for %s dropped: %s", dst, exc)
                    continue
                except MessageError as exc:
                    self.errors["malformed"] += 1
                    LOG.error("malformed signalling message for %s dropped: %s", dst, exc)
                    continue
            fx = handler(msg, now)
            delivered += 1
            if fx is not None:
                intents.extend(self.post(fx, now))
        return delivered, intents

    def recent(self, limit: int = 50) -> list[dict[str, object]]:
        return [dict(zip(LOGGED_FIELDS, m, strict=True)) for m in list(self._log)[-limit:]]


def _brief(msg: Message) -> str:
    keys = ("mn_id", "address", "status", "coa", "new_coa", "previous_coa", "lifetime")
    return " ".join(f"{k}={getattr(msg, k)}" for k in keys if getattr(msg, k, "") not in ("", None))
