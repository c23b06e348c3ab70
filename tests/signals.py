"""Test helpers to watch and steer the controller's signalling (shared by the DAF test files)."""

from __future__ import annotations

from fakeof import FakeNet

from controller.messages import Message


class Signals:
    """The dispatcher log as (type, src, dst) since the last ``take``, and the messages themselves
    (also Hop-by-Hop queries, which the dispatcher only records)."""

    def __init__(self, net: FakeNet) -> None:
        self.net, self.sent, self.last = net, [], []
        bus = net.ctl.bus
        send, record = bus.send, bus.record

        def sending(msg: Message, now: float) -> None:
            self.sent.append(msg)
            send(msg, now)

        def recording(msg: Message, now: float) -> None:
            self.sent.append(msg)
            record(msg, now)

        bus.send, bus.record = sending, recording
        self._log, self._sent = len(bus.log), 0

    def take(self) -> list[tuple[str, str, str]]:
        log = [(m.type, m.src, m.dst) for m in list(self.net.ctl.bus.log)[self._log :]]
        self.last = self.sent[self._sent :]
        assert [(t, s) for t, s, _ in log] == [(m.TYPE, m.src) for m in self.last]
        assert all(d == m.dst for (_, _, d), m in zip(log, self.last, strict=True) if m.dst)
        self._log, self._sent = len(self.net.ctl.bus.log), len(self.sent)
        return log


class Hold:
    """Messages for ``node`` that ``pick`` selects are held back until ``release``."""

    def __init__(self, net: FakeNet, node: str, pick) -> None:
        self.net, self.node, self.held = net, node, []
        self.handler = net.ctl.bus.handler(node)

        def handle(msg: Message, now: float):
            if pick(msg):
                self.held.append(msg)
                return None
            return self.handler(msg, now)

        net.ctl.bus.register(node, handle)

    def release(self) -> None:
        self.net.ctl.bus.register(self.node, self.handler)
        for msg in self.held:
            self.net.apply(self.net.ctl.receive_signalling(self.node, msg.encode(), self.net.now))
