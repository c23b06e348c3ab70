"""End to end, mode lr (RFC 6705 localized routing), the baseline of issue 5: the LMA localizes
A21 (same LMA) but not A22 (different LMAs), and re-establishes after a handoff."""

from __future__ import annotations

import time

from integration.helpers import anchor_packets, settled
from mininet_topos.harness import UdpStream, dump_flows, wait_for
from openflow_rules.pipeline import Fn

DOMAIN = {"mode": "lr"}


def localized(switch: str, peer_label: int) -> bool:
    """Does ``switch`` hold a MAG-MAG tunnel entry toward the switch with that label?"""
    return any(
        (f["cookie"] >> 48) & 0xFF == Fn.DRF and f"set_field:{peer_label}->mpls_label" in f["actions"]
        for f in dump_flows(switch, 2)
    )


def test_a21_is_localized_after_the_lma_sees_the_pair(live):
    assert live.net.ping6("mn1", live.addresses["mn3"], count=3, interval=0.1) == (3, 3)
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["messages"]["LRI"] == 2 and stats["messages"]["LRA"] == 2
    assert localized("emag1", live.domain.switches["emag2"].label)
    before = settled(lambda: anchor_packets("elma1"))
    assert live.net.ping6("mn1", live.addresses["mn3"], count=10, interval=0.05) == (10, 10)
    assert settled(lambda: anchor_packets("elma1")) == before


def test_a22_stays_on_the_anchored_path(live):
    before = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))
    assert live.net.ping6("mn1", live.addresses["mn2"], count=10, interval=0.05) == (10, 10)
    after = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))
    assert after[0] - before[0] >= 10 and after[1] - before[1] >= 10
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["messages"]["LRI"] == 2  # nothing new for A22


def test_handoff_reestablishes_the_localized_route(live, tmp_path):
    stream = UdpStream(live.net, "mn1", "mn3", rate=200, seconds=3, tmp=tmp_path)
    time.sleep(1.0)
    live.net.move("mn1", "emag3")
    coa = str(live.domain.switches["emag3"].address)
    wait_for(lambda: live.rest("/epmip/v1/bindings/mn1")[1]["proxy_coa"] == coa, 5, "mn1 at emag3")
    records = stream.finish()
    assert stream.figures(records["mn1"])[0] <= 30 and stream.figures(records["mn3"])[0] <= 30
    wait_for(lambda: localized("emag2", live.domain.switches["emag3"].label), 3, "emag2's tunnel to emag3")
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["events"]["lr_reestablished"] >= 1
