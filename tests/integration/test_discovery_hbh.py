"""End to end, §4.4.2: the PBQR travels as an IPv6 packet with a Hop-by-Hop options header toward
the correspondent's address; the eLMA managing the prefix (or the access router's LMF) intercepts
it.  A correspondent nobody answers for costs retries and a timeout, then PMIP routing (§5.1)."""

from __future__ import annotations

import subprocess
import time

from integration.helpers import anchor_packets, hnp, settled, tunnels
from mininet_topos.harness import wait_for

DOMAIN = {"lmf_discovery": "hbh"}
CN1 = "2001:db8:f::10"


def trunk_toward(live, switch: str, neighbour: str) -> str:
    """The interface name on ``switch`` of its link to ``neighbour`` (Mininet: <switch>-eth<port>)."""
    for link in live.domain.links:
        if (link.a, link.b) == (switch, neighbour):
            return f"{switch}-eth{link.a_port}"
        if (link.b, link.a) == (switch, neighbour):
            return f"{switch}-eth{link.b_port}"
    raise LookupError(f"no link {switch} - {neighbour}")


def test_442_query_is_a_hop_by_hop_packet_that_tcpdump_decodes(live):
    intf = trunk_toward(live, "c2", "elma3")  # the last link before eLMA3
    cap = subprocess.Popen(
        ["timeout", "10", "tcpdump", "-n", "-vv", "-l", "-c", "1", "-i", intf, "ip6 proto 0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    assert live.net.ping6("mn1", live.addresses["mn2"], count=3, interval=0.1) == (3, 3)
    out, _ = cap.communicate(timeout=15)
    assert "HBH" in out and "mobility" in out, out
    assert f"> {live.addresses['mn2']}" in out  # addressed to the correspondent itself
    assert tunnels(live, "emag1")[("mn1", hnp(live, "mn2"))] == ("direct", "emag4")
    _, stats = live.rest("/epmip/v1/stats")
    assert stats["events"]["hbh_query_intercepted"] >= 1
    before = settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))
    assert live.net.ping6("mn1", live.addresses["mn2"], count=10, interval=0.05) == (10, 10)
    assert (settled(lambda: anchor_packets("elma1")), settled(lambda: anchor_packets("elma3"))) == before


def test_442_fixed_cn_is_answered_by_the_access_routers_lmf(live):
    assert live.net.ping6("mn1", CN1, count=3, interval=0.1) == (3, 3)
    wait_for(lambda: tunnels(live, "emag1").get(("mn1", "2001:db8:f::/64")) == ("direct", "ar1"), 3,
             "a direct tunnel to ar1")  # fmt: skip


def test_51_unanswered_query_times_out_to_pmip_routing(live):
    """CN2's prefix belongs to a legacy LMA, which does not look at the option: no answer."""
    _, s0 = live.rest("/epmip/v1/stats")
    t0 = time.monotonic()
    sent, received = live.net.ping6("mn1", live.addresses["cn2"], count=8, interval=0.2)
    assert received == sent  # the session works all along, via the eLMA
    wait_for(lambda: tunnels(live, "emag1").get(("mn1", hnp(live, "cn2"))) == ("fallback", None), 5,
             "the query to time out into a fallback entry")  # fmt: skip
    elapsed = time.monotonic() - t0
    _, s1 = live.rest("/epmip/v1/stats")
    timers = live.domain.timers
    assert s1["events"]["drf_query_timeout"] - s0["events"].get("drf_query_timeout", 0) == 1
    refreshes = s1["events"].get("drf_refresh_query", 0) - s0["events"].get("drf_refresh_query", 0)
    assert s1["messages"]["PBQR"] - s0["messages"]["PBQR"] - refreshes == 1 + timers.query_retries  # retried
    assert elapsed >= timers.query_timeout * (1 + timers.query_retries)
