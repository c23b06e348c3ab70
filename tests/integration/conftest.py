"""Integration fixtures: the real launcher, Open vSwitch and Mininet, on the reference domain.

One network per test module (building and registering takes about a second).  The domain file is
the shipped example with short timers, so refresh and de-registration happen within the test.
Everything is torn down in ``finally``; the controller's log is printed if a test failed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from integration.helpers import assert_no_controller_errors, show_log_tail
from mininet_topos.harness import Controller, Network, ensure_ovs, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "domain.yaml"
LOG_ROOT = ROOT / "var" / "logs"


OVS_LOCK = "/run/epmip-ovs.lock"


@pytest.fixture(scope="session", autouse=True)
def ovs_exclusive():
    """Only one run may use Open vSwitch and Mininet on a machine: bridges and hosts share global
    names, and ``mn -c`` of one run tears down the other's.  A second run waits here for the first
    (``flock /run/epmip-ovs.lock CMD`` gives any other user of OVS the same turn-taking)."""
    import fcntl

    with open(OVS_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def write_domain(tmp_path: Path, top: dict | None = None, example: Path = EXAMPLE, **timers) -> str:
    doc = yaml.safe_load(example.read_text())
    doc["timers"].update(timers)
    doc.update(top or {})
    path = tmp_path / "domain.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


class Live:
    """A running controller + network with small helpers for the tests."""

    def __init__(self, controller: Controller, network: Network) -> None:
        self.ctl = controller
        self.net = network
        self.domain = network.domain
        self.addresses: dict[str, str] = {}

    def rest(self, path: str):
        return self.ctl.get(path)


@pytest.fixture(scope="module")
def live(request, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (Open vSwitch and Mininet); run ./run.sh test as root")
    tmp = tmp_path_factory.mktemp("domain")
    # a test module may set DOMAIN = {...} to change top-level fields (e.g. the mode)
    top = getattr(request.module, "DOMAIN", None)
    # ... and EXAMPLE_FILE = "domain-alt.yaml" to start from another example (the §7 deployment)
    example = ROOT / "examples" / getattr(request.module, "EXAMPLE_FILE", "domain.yaml")
    domain_file = write_domain(tmp, top, example, binding_lifetime=4, min_delay_before_bce_delete=1.5)
    ensure_ovs()
    ctl = Controller(domain_file, LOG_ROOT / request.module.__name__.rsplit(".", 1)[-1])
    ctl.start()
    net = None
    try:
        net = Network(domain_file, ctl)
        net.start()
        # every switch programmed before the first test: the MNs' addresses only need their eMAGs,
        # and a core switch that connects a moment later loses a test's first packets
        wait_for(lambda: all(s["connected"] for s in ctl.get("/epmip/v1/switches")[1]["switches"]), 20,
                 "every switch to connect")  # fmt: skip
        lv = Live(ctl, net)
        hosts = list(lv.domain.mobile_nodes)
        lv.addresses = net.wait_addresses(hosts, timeout=30)
        for fn in lv.domain.fixed_nodes.values():
            lv.addresses[fn.name] = str(fn.address)
        yield lv
        status, stats = ctl.get("/epmip/v1/stats")
        assert_no_controller_errors(stats, ctl)
    finally:
        try:
            if net is not None:
                net.stop()
        finally:
            ctl.stop()
            if request.session.testsfailed:
                show_log_tail(ctl, 60)
