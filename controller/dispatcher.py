"""One dispatcher for every signalling message.

Senders hand a message record to ``send``; the dispatcher encodes it to wire bytes, logs and counts
it (the signalling cost the benchmarks report), and queues it for the receiver named in ``dst``.
``drain`` decodes each queued message and calls the receiver's handler.  Because the queue holds
bytes, the codec is exercised on every message, and a receiver in another controller instance
would only need a different ``deliver`` - the senders would not change.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from controller.messages import AuthenticationError, Message, MessageError, decode

LOG = logging.getLogger("epmip.signalling")

Handler = Callable[[Message, float], None]


@dataclass
class LoggedMessage:
    time: float
    type: str
    src: str
    dst: str
    seq: int
    size: int


class Dispatcher:
    def __init__(self, history: int = 1000, key: bytes | None = None) -> None:
        self.key = key  # the domain's signalling key (§8); None: messages are not authenticated
        self._handlers: dict[str, Handler] = {}
        self._queue: deque[tuple[str, bytes, float]] = deque()
        self.sent: Counter[str] = Counter()
        self.bytes_sent = 0
        self.errors: Counter[str] = Counter()
        self.log: deque[LoggedMessage] = deque(maxlen=history)
        self._seq = 0

    def register(self, node: str, handler: Handler) -> None:
        self._handlers[node] = handler

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def send(self, msg: Message, now: float) -> None:
        data = msg.encode(self.key)
        self.sent[msg.TYPE] += 1
        self.bytes_sent += len(data)
        self.log.append(LoggedMessage(now, msg.TYPE, msg.src, msg.dst, msg.seq, len(data)))
        if LOG.isEnabledFor(logging.INFO):
            LOG.info("%s %s -> %s seq=%d %s", msg.TYPE, msg.src, msg.dst, msg.seq, _brief(msg))
        self._queue.append((msg.dst, data, now))

    def record(self, msg: Message, now: float) -> None:
        """Count and log a message that travels outside the dispatcher (a Hop-by-Hop query is a
        data packet) so that the signalling cost stays complete."""
        size = len(msg.encode(self.key))
        self.sent[msg.TYPE] += 1
        self.bytes_sent += size
        self.log.append(LoggedMessage(now, msg.TYPE, msg.src, msg.dst or "(hop-by-hop)", msg.seq, size))
        LOG.info("%s %s -> (hop-by-hop toward %s) seq=%d", msg.TYPE, msg.src, getattr(msg, "address", ""), msg.seq)

    def receive_bytes(self, dst: str, data: bytes, now: float) -> None:
        """Entry point for bytes that arrive from outside (another instance, a test, a fuzzer)."""
        self._queue.append((dst, data, now))

    def drain(self) -> int:
        """Deliver queued messages (and those their handlers send) until the queue is empty."""
        delivered = 0
        while self._queue:
            dst, data, now = self._queue.popleft()
            handler = self._handlers.get(dst)
            if handler is None:
                self.errors["unknown_receiver"] += 1
                LOG.error("signalling message for unknown node %r dropped", dst)
                continue
            try:
                msg = decode(data, self.key)
            except AuthenticationError as exc:
                self.errors["unauthenticated"] += 1
                LOG.error("unauthenticated signalling message for %s dropped: %s", dst, exc)
                continue
            except MessageError as exc:
                self.errors["malformed"] += 1
                LOG.error("malformed signalling message for %s dropped: %s", dst, exc)
                continue
            handler(msg, now)
            delivered += 1
        return delivered

    def recent(self, limit: int = 50) -> list[dict]:
        return [m.__dict__ for m in list(self.log)[-limit:]]


def _brief(msg: Message) -> str:
    keys = ("mn_id", "address", "status", "coa", "new_coa", "previous_coa", "lifetime")
    return " ".join(f"{k}={getattr(msg, k)}" for k in keys if getattr(msg, k, "") not in ("", None))
