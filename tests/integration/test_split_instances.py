"""The reference domain split over three epmip-manager processes (``controllers:``: eLMA1's
region, eLMA3's region with the access router, the legacy part), signalling between them as
Mobility Headers over UDP on loopback.  The same assertions as the one-instance tests -
registration, A22 and A21 route optimization, fallback to a legacy CN, a handoff between regions
under a UDP stream - then one instance is killed: the others keep serving their own MNs and log
which peer is unreachable.  tshark decodes the PBU/PBA of a capture one instance wrote.

The tests run in file order on one network.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import pytest

from integration.conftest import LOG_ROOT, write_domain
from integration.helpers import assert_no_controller_errors, hnp, show_log_tail, tunnels
from mininet_topos.harness import Controller, Network, UdpStream, ensure_ovs, wait_for

INSTANCES = {
    "r1": ["emag1", "emag2", "elma1", "c1"],
    "r3": ["emag3", "emag4", "elma3", "ar1", "c2"],
    "legacy": ["mag5", "lma"],
}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


class Split:
    """Three running controllers and the network; ``rest`` asks the instance that serves what the
    path names (a switch, an MN's binding), so the one-instance helpers work unchanged."""

    def __init__(self, controllers: dict[str, Controller], network: Network) -> None:
        self.ctls = controllers
        self.net = network
        self.domain = network.domain
        self.addresses: dict[str, str] = {}
        self.serving = {sw: name for name, sws in INSTANCES.items() for sw in sws}

    def rest(self, path: str):
        m = re.match(r"/epmip/v1/switches/([a-z0-9]+)", path)
        if m:
            return self.ctls[self.serving[m.group(1)]].get(path)
        if path.startswith("/epmip/v1/bindings/"):
            for ctl in self.ctls.values():
                status, body = ctl.get(path)
                if status == 200:
                    return status, body
            return status, body
        raise AssertionError(f"no instance to ask for {path}")

    def stats(self, instance: str) -> dict:
        return self.ctls[instance].get("/epmip/v1/stats")[1]

    def messages(self, mtype: str) -> int:
        """Messages of a type sent by all instances together (each counts what its nodes send)."""
        return sum(self.stats(name)["messages"].get(mtype, 0) for name in self.ctls)


@pytest.fixture(scope="module")
def split(request, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (Open vSwitch and Mininet); run ./run.sh test as root")
    tmp = tmp_path_factory.mktemp("split")
    placement = [
        {"name": n, "address": "::1", "port": free_udp_port(), "switches": sws} for n, sws in INSTANCES.items()
    ]
    domain_file = write_domain(tmp, {"controllers": placement}, binding_lifetime=4, min_delay_before_bce_delete=1.5)
    ensure_ovs()
    log_root = LOG_ROOT / "test_split_instances"
    controllers: dict[str, Controller] = {}
    net = None
    try:
        for name in INSTANCES:
            args: tuple[str, ...] = ("--epmip-instance", name)
            if name == "r1":
                (log_root / name).mkdir(parents=True, exist_ok=True)
                args += ("--epmip-signalling-pcap", str(log_root / name / "signalling.pcap"))
            controllers[name] = Controller(domain_file, log_root / name, extra_args=args)
            controllers[name].start()
        net = Network(domain_file, controllers["r1"])
        net.start_split(controllers)
        sp = Split(controllers, net)
        sp.addresses = net.wait_addresses(list(sp.domain.mobile_nodes), timeout=30)
        for fn in sp.domain.fixed_nodes.values():
            sp.addresses[fn.name] = str(fn.address)
        yield sp
        for name, ctl in controllers.items():
            if ctl.proc is not None and ctl.proc.poll() is None:
                assert_no_controller_errors(sp.stats(name), ctl, name)
    finally:
        try:
            if net is not None:
                net.stop()
        finally:
            for name, ctl in controllers.items():
                ctl.stop()
                if request.session.testsfailed:
                    show_log_tail(ctl, 40, name)


def test_every_mn_registers_with_its_anchor_across_instances(split):
    coa = {name: str(sw.address) for name, sw in split.domain.switches.items()}
    for mn, mag in (("mn1", "emag1"), ("mn2", "emag4"), ("mn3", "emag2"), ("cn2", "mag5")):
        status, bce = split.rest(f"/epmip/v1/bindings/{mn}")
        assert status == 200 and bce["proxy_coa"] == coa[mag], (mn, bce)
    # each instance registered its own MNs (MAG and anchor in one process: no message on the wire)
    for name, own in (("r1", 2), ("r3", 1), ("legacy", 1)):
        assert split.stats(name)["latency"]["registration"]["count"] == own
        assert split.stats(name)["messages"]["PBU"] == own


def test_a22_route_optimization_across_instances(split):
    assert split.net.ping6("mn1", split.addresses["mn2"], count=5, interval=0.1) == (5, 5)
    assert tunnels(split, "emag1")[("mn1", hnp(split, "mn2"))] == ("direct", "emag4")
    assert tunnels(split, "emag4")[("mn2", hnp(split, "mn1"))] == ("direct", "emag1")
    # one query per direction, each to the other instance's eLMA, answered over the wire
    assert split.messages("PBQR") == 2 and split.messages("PBQA") == 2
    for name in ("r1", "r3"):
        lat = split.stats(name)["latency"]["location_query"]
        assert lat["count"] == 1 and 0.0 < lat["median_ms"] < 1000.0, (name, lat)
        assert split.stats(name)["signalling_errors"] == {}


def test_same_elma_a21_is_optimized_too_and_legacy_cn_falls_back(split):
    assert split.net.ping6("mn1", split.addresses["mn3"], count=3, interval=0.1) == (3, 3)
    assert tunnels(split, "emag1")[("mn1", hnp(split, "mn3"))] == ("direct", "emag2")
    assert split.net.ping6("mn1", split.addresses["cn2"], count=3, interval=0.1) == (3, 3)
    assert tunnels(split, "emag1")[("mn1", hnp(split, "cn2"))] == ("fallback", None)


def test_handoff_between_regions_keeps_a_udp_stream_and_the_route_optimized(split, tmp_path):
    old, new = split.net.attachment("mn1"), "emag3"  # r1's eMAG -> r3's; the anchor stays elma1 (r1)
    assert old == "emag1"
    hoa = split.addresses["mn1"]
    stream = UdpStream(split.net, "mn1", "mn2", rate=200, seconds=4, tmp=tmp_path)
    time.sleep(1.5)
    split.net.move("mn1", new)
    wait_for(lambda: split.rest("/epmip/v1/bindings/mn1")[1]["proxy_coa"] == str(split.domain.switches[new].address),
             5, "mn1's binding at elma1 (instance r1) to move to emag3 (instance r3)")  # fmt: skip
    records = stream.finish()
    got_mn1 = {r[0] for r in records["mn1"]}
    got_mn2 = {r[0] for r in records["mn2"]}
    lost_down, lost_up = stream.count - len(got_mn1), stream.count - len(got_mn2)
    assert max(got_mn1) >= stream.count - 50 and max(got_mn2) >= stream.count - 50
    assert lost_down <= 30 and lost_up <= 30, (lost_down, lost_up)
    assert split.net.global_address("mn1") == hoa
    wait_for(lambda: tunnels(split, new).get(("mn1", hnp(split, "mn2"))) == ("direct", "emag4"), 5,
             "emag3's direct tunnel toward mn2")  # fmt: skip
    assert tunnels(split, "emag4")[("mn2", hnp(split, "mn1"))] == ("direct", new)
    assert split.messages("PBCI") >= 2 and split.messages("PBCA") >= 2
    reroute = split.stats("r3")["latency"]["handoff_reroute"]  # attach at emag3 -> emag4 re-pointed
    assert reroute["count"] >= 1 and 0.0 < reroute["last_ms"] < 2000.0, reroute
    # emag3's registration went to elma1 in r1 and back: a real round trip, not a function call
    registration = split.stats("r3")["latency"]["registration"]
    assert registration["count"] == 2 and 0.0 < registration["last_ms"] < 1000.0, registration


def test_tshark_decodes_the_pbu_and_pba_an_instance_captured(split):
    path = LOG_ROOT / "test_split_instances" / "r1" / "signalling.pcap"
    fields = ["mip6.mhtype", "mip6.mnid.identifier", "mip6.bu.p_flag", "mip6.ba.status", "mip6.nemo.mnp.mnp",
              "mip6.timestamp_tmp", "ipv6.src", "ipv6.dst"]  # fmt: skip
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|",
                          *[a for f in fields for a in ("-e", f)]],
                         capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
    pbu = next(r for r in rows if r["mip6.mhtype"] == "5" and r["mip6.mnid.identifier"] == "mn1")
    assert pbu["mip6.bu.p_flag"] in ("1", "True") and pbu["mip6.nemo.mnp.mnp"] == "::"  # no HNP yet: ALL_ZERO
    assert pbu["mip6.timestamp_tmp"].endswith(" UTC") and str(time.gmtime().tm_year) in pbu["mip6.timestamp_tmp"]
    # elma1 (r1) answered emag3 (r3) over the wire after the handoff
    pba = [r for r in rows if r["mip6.mhtype"] == "6" and r["ipv6.dst"] == "2001:db8:ffff::3"]
    assert pba and pba[-1]["mip6.mnid.identifier"] == "mn1" and pba[-1]["mip6.ba.status"] == "0"
    assert pba[-1]["mip6.nemo.mnp.mnp"].startswith("2001:db8:a:")  # the HNP elma1 assigned


def test_killing_an_instance_leaves_the_others_serving_their_mns(split):
    split.ctls["r3"].stop()
    # r1's own MN still reaches the legacy CN (via r1's and the legacy instance's anchors)
    assert split.net.ping6("mn3", split.addresses["cn2"], count=3, interval=0.1) == (3, 3)
    # mn3 asks elma3 (r3, gone) where mn2 is: the query is lost, r1 says whom it cannot reach
    split.net.ping6("mn3", split.addresses["mn2"], count=2, interval=0.3)
    wait_for(lambda: "signalling peer r3" in split.ctls["r1"].tail(400), 5, "r1 to log that r3 is unreachable")
    assert re.search(r"signalling peer r3 \(\[::1\]:\d+\) is unreachable", split.ctls["r1"].tail(400))
    assert split.stats("r1")["signalling_errors"].get("peer_unreachable", 0) >= 1
    assert split.ctls["r1"].proc.poll() is None and split.ctls["legacy"].proc.poll() is None
    # and r1 registers an MN again: mn3 moves from emag2 to emag1, both r1's
    split.net.move("mn3", "emag1")
    wait_for(lambda: split.rest("/epmip/v1/bindings/mn3")[1]["proxy_coa"] == "2001:db8:ffff::1", 5,
             "mn3's binding to follow it to emag1")  # fmt: skip
    assert split.net.ping6("mn3", split.addresses["cn2"], count=3, interval=0.1) == (3, 3)
