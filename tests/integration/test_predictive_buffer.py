"""End to end: the predictive handoff buffer (a link-going-down hint before each move) loses no
downlink packet; uplink loss is only what the host sends while its link is down (L2 gap)."""

from __future__ import annotations

import time

from integration.helpers import hnp, tunnels
from mininet_topos.harness import UdpStream, wait_for

DOMAIN = {"handoff_buffer": "predictive"}


def test_three_moves_with_hints_lose_no_downlink_packet(live, tmp_path):
    assert live.net.ping6("mn1", live.addresses["mn2"], count=3, interval=0.1) == (3, 3)  # routes set up
    stream = UdpStream(live.net, "mn1", "mn2", rate=300, seconds=6, tmp=tmp_path)
    time.sleep(1.0)
    gaps = []
    for target in ("emag2", "emag1", "emag2"):
        status, body = live.ctl.post("/epmip/v1/mobility/mn1/link-going-down", {})
        assert status == 202 and body["buffering"] is True, body
        t0 = time.time()
        live.net.move("mn1", target)
        gaps.append((t0, time.time()))
        coa = str(live.domain.switches[target].address)
        wait_for(lambda coa=coa: live.rest("/epmip/v1/bindings/mn1")[1]["proxy_coa"] == coa, 5, f"mn1 at {target}")
        time.sleep(1.2)
    records = stream.finish()
    down_lost, _ = stream.figures(records["mn1"])
    assert down_lost == 0, f"{down_lost} downlink packets lost with predictive buffering"
    # uplink: whatever was lost was sent while the host's link was down
    got = {r[0] for r in records["mn2"]}
    start = min(r[1] for r in records["mn2"])
    interval = 1.0 / stream.rate
    lost_times = [start + seq * interval for seq in range(stream.count) if seq not in got]
    outside = [t for t in lost_times if not any(a - 0.05 <= t <= b + 0.05 for a, b in gaps)]
    assert len(outside) <= 1, f"uplink packets lost outside the link-down gaps: {len(outside)}"
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["events"]["buffer_packets_released"] > 0
    assert stats["events"].get("buffer_dropped_overflow", 0) == 0
    assert tunnels(live, "emag4")[("mn2", hnp(live, "mn1"))] == ("direct", "emag2")


def test_hint_for_an_unknown_mn_is_a_json_404(live):
    status, body = live.ctl.post("/epmip/v1/mobility/nobody/link-going-down", {})
    assert status == 404 and "nobody" in body["error"]
