"""A PBCI about a moving correspondent is relayed once per move, not passed back and forth between
two eMAGs that each hold a departed MN that talked to it (found by ``epmip bench load``: MNs
swapping eMAGs, then their correspondent moving, kept the controller in one event forever)."""

from __future__ import annotations

from fakeof import FakeNet


def test_swapped_mns_relay_their_correspondents_pbci_once(domain):
    net = FakeNet(domain)
    for host in ("mn1", "mn2", "mn3"):
        net.attach(host)
    net.send("mn1", net.address("mn2"))  # emag1 -> emag4: a direct entry toward mn2
    net.send("mn3", net.address("mn2"))  # emag2 -> emag4
    net.advance(0.5)
    net.move("mn1", "emag2")
    net.move("mn3", "emag1")  # emag1 and emag2 now each hold a departed MN whose correspondent is mn2
    net.advance(0.5)
    pbcis: list = []

    def count(msg):
        if msg.TYPE == "PBCI":
            pbcis.append(msg)
            assert len(pbcis) < 100, "PBCIs without end"
        return [0.0]

    net.ctl.bus.faults = count
    relayed = net.ctl.counters.get("dmf_pbci_relayed", 0)
    net.move("mn2", "emag3")
    net.ctl.bus.faults = None
    assert 0 < net.ctl.counters["dmf_pbci_relayed"] - relayed <= 2
    assert len(pbcis) < 10
    net.advance(3.0)
    for src in ("mn1", "mn3"):
        trace = net.send(src, net.address("mn2"))
        assert trace.outcome.switch == "emag3"
