"""What a handler does, as a value: the flow intents and signalling messages it produced.

Every entity handler (an OpenFlow event, a message, a timer) returns an ``Effects``; it never
writes into a shared sink.  The composition root (``controller/core.py``) sends the intents to the
switches and the messages through the signalling bus, whose receivers return their own
``Effects`` in turn.  Faucet's valve works the same way with lists of OpenFlow messages.

Counters and latency samples are not effects: each entity owns its own ``Stats`` and the root
adds them up for ``/epmip/v1/stats``.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from controller.messages import Message, decode
from openflow_rules.intents import Intent

LATENCY_SAMPLES = 1000
V = TypeVar("V")


class Effects:
    """Flow intents for switches, messages for other entities, and messages that travel inside a
    data packet (a Hop-by-Hop query: sent as a ``PacketOut``, only counted by the bus).  Slotted,
    with a plain ``__init__``: every handler makes one (half the cost of the dataclass's)."""

    __slots__ = ("intents", "messages", "carried")

    def __init__(self) -> None:
        self.intents: list[Intent] = []
        self.messages: list[Message] = []
        self.carried: list[Message] = []

    def __repr__(self) -> str:
        return f"Effects(intents={self.intents!r}, messages={self.messages!r}, carried={self.carried!r})"

    def flow(self, *intents: Intent) -> None:
        self.intents.extend(intents)

    def send(self, msg: Message) -> None:
        self.messages.append(msg)

    def merge(self, other: Effects) -> Effects:
        self.intents.extend(other.intents)
        self.messages.extend(other.messages)
        self.carried.extend(other.carried)
        return self

    def __bool__(self) -> bool:
        return bool(self.intents or self.messages or self.carried)


class Stats:
    """One entity's event counters and latency samples (seconds)."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.latencies: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=LATENCY_SAMPLES))

    def count(self, what: str, n: int = 1) -> None:
        self.counters[what] += n

    def latency(self, what: str, seconds: float) -> None:
        self.latencies[what].append(seconds)


class TimerQueue:
    """Wake-ups ``(when, key)`` popped in ``(when, key)`` order, as from a heap of such tuples.
    Entries that come in that order - the common case: now plus a fixed time (a PBA timeout, a
    binding lifetime) - go to two deques, the others to a heap; ``pop_due`` merges both.  An entry
    in order costs two deque slots (16 B) instead of a tuple and a heap slot (about 65 B): one
    per MN in an LMA and in a MAG (memory per MN, issue 13), and no O(log n) push."""

    __slots__ = ("_whens", "_keys", "_heap")

    def __init__(self) -> None:
        self._whens: deque[float] = deque()
        self._keys: deque[str] = deque()
        self._heap: list[tuple[float, str]] = []

    def push(self, when: float, key: str) -> None:
        whens = self._whens
        if not whens or when > whens[-1] or (when == whens[-1] and key >= self._keys[-1]):
            whens.append(when)
            self._keys.append(key)
        else:
            heapq.heappush(self._heap, (when, key))

    def pop_due(self, now: float) -> str | None:
        """The key of the earliest entry if it is due at ``now`` (taken out), else None."""
        whens, heap = self._whens, self._heap
        if whens and whens[0] <= now and not (heap and heap[0] < (whens[0], self._keys[0])):
            whens.popleft()
            return self._keys.popleft()
        if heap and heap[0][0] <= now:
            return heapq.heappop(heap)[1]
        return None

    def __len__(self) -> int:
        return len(self._whens) + len(self._heap)

    def __iter__(self) -> Iterator[tuple[float, str]]:
        """Every entry, in no particular order."""
        yield from zip(self._whens, self._keys, strict=True)
        yield from self._heap


class Sequence:
    """A sender's own 16-bit sequence numbers (RFC 5213 §8.1: per sender, wrapping).  Each value is
    one int object per sender (``_ints``, filled on the first round): a MAG's attachment keeps the
    number of its last PBU, and past 65,536 MNs per MAG those would otherwise be a million
    duplicate ints above 256 (32 B each; issue 13)."""

    def __init__(self) -> None:
        self._seq = 0
        self._ints: list[int] = [0]  # value -> its int object, for the values given so far in order

    def next(self) -> int:
        seq = (self._seq + 1) & 0xFFFF
        ints = self._ints
        if seq < len(ints):
            seq = ints[seq]
        elif seq == len(ints):
            ints.append(seq)
        self._seq = seq
        return seq

    @property
    def last(self) -> int:
        return self._seq

    def resume(self, last: int) -> None:
        """Go on after ``last`` (a restart: answers to requests sent before it keep matching, and
        new requests do not reuse their numbers at once)."""
        self._seq = last & 0xFFFF


class PortTable(Generic[V]):
    """A dict by a switch's port number, for what is kept per access port (one per MN): a list
    indexed by port while the ports are dense (a switch numbers its ports 1, 2, 3 ...), 8 B per
    port where a dict entry is 40-50 B (memory per MN, issue 13); a port far past the list's end
    goes to a dict.  ``get``, ``[port] = value`` and ``pop`` as a dict's (None is no value)."""

    __slots__ = ("_list", "_dict")

    def __init__(self) -> None:
        self._list: list[V | None] = []
        self._dict: dict[int, V] = {}

    def get(self, port: int) -> V | None:
        if 0 <= port < len(self._list):
            return self._list[port]
        return self._dict.get(port)

    def __setitem__(self, port: int, value: V) -> None:
        table = self._list
        size = len(table)
        if 0 <= port < size:
            table[port] = value
        elif port == size and not self._dict:  # the next port, nothing beyond the list: the common case
            table.append(value)
        elif size <= port <= 2 * size + 64:  # dense enough: grow the list to it
            table.extend([None] * (port + 1 - size))
            table[port] = value
            for p in [p for p in self._dict if size <= p <= port]:
                table[p] = self._dict.pop(p)
        else:
            self._dict[port] = value

    def pop(self, port: int, default: V | None = None) -> V | None:
        if 0 <= port < len(self._list):
            value = self._list[port]
            self._list[port] = None
            return value if value is not None else default
        return self._dict.pop(port, default)


class Numbering:
    """Small stable numbers for correspondent prefixes, part of one switch's flow cookies (a DRF
    entry's cookie packs the MN's number and the correspondent's)."""

    def __init__(self) -> None:
        self._ids: dict[ipaddress.IPv6Network, int] = {}
        self._next = 1
        self.changed: set[ipaddress.IPv6Network] = set()  # numbers given since the store last saw them

    def of(self, prefix: ipaddress.IPv6Network) -> int:
        n = self._ids.get(prefix)
        if n is None:
            n = self._ids[prefix] = self._next
            self._next += 1
            self.changed.add(prefix)
        return n

    def mark_all(self) -> None:
        self.changed.update(self._ids)

    def get(self, prefix: ipaddress.IPv6Network) -> int | None:
        return self._ids.get(prefix)

    def restore(self, prefix: ipaddress.IPv6Network, n: int) -> None:
        """A number given before a restart: the same cookies again, so the resync replaces the
        switch's flows in place; ``of`` goes on after the highest."""
        self._ids[prefix] = n
        self._next = max(self._next, n + 1)


@dataclass
class Pending:
    msg: Message
    sent_at: float
    tries: int = 1


class Outstanding:
    """Requests awaiting an answer, sent again with RFC 5213-style exponential back-off (the first
    wait ``timeout``, doubled each time) and given up after ``tries`` sends.  A resent request is
    the same message (same sequence number), so the receiver can treat it as a duplicate."""

    def __init__(self, timeout: float, tries: int) -> None:
        self.timeout = timeout
        self.tries = tries
        self.pending: dict[object, Pending] = {}

    def add(self, key: object, msg: Message, now: float) -> None:
        self.pending[key] = Pending(msg, now)

    def answered(self, key: object) -> Message | None:
        p = self.pending.pop(key, None)
        return p.msg if p is not None else None

    def __contains__(self, key: object) -> bool:
        return key in self.pending

    def dump(self, match: Callable[[object], bool], epoch: float) -> list[list[Any]]:
        """The requests whose key ``match``es, as store records: [key, wire bytes (hex), sent at
        (wall clock), tries].  A key is a tuple of strings (or a string)."""
        return [
            [list(k) if isinstance(k, tuple) else k, p.msg.encode().hex(), p.sent_at + epoch, p.tries]
            for k, p in self.pending.items()
            if match(k)
        ]

    def load(self, records: list[list[Any]], epoch: float) -> None:
        """Take ``dump``'s records back: each is sent again when its back-off says, as before."""
        for key, wire, sent_at, tries in records:
            self.pending[tuple(key) if isinstance(key, list) else key] = Pending(
                decode(bytes.fromhex(wire)), float(sent_at) - epoch, int(tries)
            )

    def due(self, now: float) -> tuple[list[Message], list[tuple[object, Message]]]:
        """(requests to send again now, (key, request) given up)."""
        resend: list[Message] = []
        gave_up: list[tuple[object, Message]] = []
        for key, p in list(self.pending.items()):
            if now - p.sent_at < self.timeout * 2 ** (p.tries - 1):
                continue
            if p.tries >= self.tries:
                del self.pending[key]
                gave_up.append((key, p.msg))
                continue
            p.tries += 1
            p.sent_at = now
            resend.append(p.msg)
        return resend, gave_up
