"""``epmip-manager --epmip-signalling-pcap FILE`` on real OVS + Mininet: the run's signalling is in
the file as IPv6 Mobility Headers, and tshark decodes the PBU/PBA fields (MN-Identifier, HNP, P
flag, timestamp, status) of the registrations and the route-optimization messages."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime

import pytest

from integration.conftest import LOG_ROOT, write_domain
from mininet_topos.harness import Controller, Network, ensure_ovs, wait_for


@pytest.fixture(scope="module")
def captured_run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (Open vSwitch and Mininet); run ./run.sh test as root")
    tmp = tmp_path_factory.mktemp("capture")
    domain_file = write_domain(tmp, None, binding_lifetime=4, min_delay_before_bce_delete=1.5)
    log_dir = LOG_ROOT / "test_signalling_capture"
    capture = log_dir / "signalling.pcap"
    log_dir.mkdir(parents=True, exist_ok=True)
    capture.unlink(missing_ok=True)
    ensure_ovs()
    ctl = Controller(domain_file, log_dir, extra_args=("--epmip-signalling-pcap", str(capture)))
    ctl.start()
    net = None
    started = time.time()
    try:
        net = Network(domain_file, ctl)
        net.start()
        addresses = net.wait_addresses(["mn1", "mn2", "mn3", "cn2"], timeout=30)
        # (the capture is what is tested; a first ping lost under load is not this test's business)
        assert net.ping6("mn1", addresses["mn2"], count=3, interval=0.1)[1] >= 1
        wait_for(lambda: ctl.get("/epmip/v1/stats")[1]["messages"].get("PBQA", 0) >= 2, 5, "both PBQAs")
        yield ctl, capture, started
    finally:
        try:
            if net is not None:
                net.stop()
        finally:
            ctl.stop()


def _epoch(text: str) -> float:
    whole, _, fraction = text.removesuffix(" UTC").partition(".")
    moment = datetime.strptime(" ".join(whole.split()), "%b %d, %Y %H:%M:%S").replace(tzinfo=UTC)
    return moment.timestamp() + float(f"0.{fraction or 0}")


def _tshark(path, *args: str) -> str:
    return subprocess.run(["tshark", "-r", str(path), *args], capture_output=True, text=True, timeout=60,
                          check=True).stdout  # fmt: skip


def test_the_capture_holds_every_message_the_controller_counted(captured_run):
    ctl, capture, _ = captured_run
    rows = _tshark(capture, "-T", "fields", "-e", "mip6.mhtype").split()
    _, stats = ctl.get("/epmip/v1/stats")
    assert len(rows) >= stats["messages_total"] > 0  # (more may have been sent since the count)
    assert rows.count("5") >= 4 and rows.count("6") >= 4 and rows.count("11") >= 4  # PBU, PBA, PBQR/PBQA


def test_tshark_decodes_the_pbu_and_pba_fields(captured_run):
    _, capture, started = captured_run
    fields = ["mip6.mhtype", "mip6.mnid.identifier", "mip6.nemo.mnp.mnp", "mip6.nemo.mnp.pfl", "mip6.bu.p_flag",
              "mip6.ba.p_flag", "mip6.ba.status", "mip6.timestamp_tmp", "ipv6.src", "ipv6.dst"]  # fmt: skip
    out = _tshark(capture, "-T", "fields", "-E", "separator=|", *[a for f in fields for a in ("-e", f)])
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
    pbus = [r for r in rows if r["mip6.mhtype"] == "5" and r["mip6.mnid.identifier"] == "mn1"]
    pbas = [r for r in rows if r["mip6.mhtype"] == "6" and r["mip6.mnid.identifier"] == "mn1"]
    assert pbus and pbas, out[:2000]
    first_pbu, first_pba = pbus[0], pbas[0]
    assert first_pbu["ipv6.src"] == "2001:db8:ffff::1" and first_pbu["ipv6.dst"] == "2001:db8:ffff::11"
    assert first_pbu["mip6.bu.p_flag"] in ("1", "True") and first_pba["mip6.ba.p_flag"] in ("1", "True")
    assert first_pba["mip6.ba.status"] == "0"
    # the HNP elma1 assigned, a /64 of its 2001:db8:a::/48
    assert first_pba["mip6.nemo.mnp.pfl"] == "64" and first_pba["mip6.nemo.mnp.mnp"].startswith("2001:db8:a:")
    stamp = _epoch(first_pbu["mip6.timestamp_tmp"])  # as tshark read it, e.g. "Dec  3, 2026 12:00:00.5 UTC"
    assert started - 5 <= stamp <= time.time()
