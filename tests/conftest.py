"""Shared fixtures: the reference domain, a fresh controller and a harness that connects switches
and attaches mobile nodes the way the Ryu shim would report them.

``apps.compat.apply()`` runs at import so that any test may import ``ryu.app.wsgi`` (and
``apps.rest_app``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from apps import compat

compat.apply()

from fakeof import FakeNet  # noqa: E402

from controller.config import Domain, access_port_mac, load_domain, parse_domain  # noqa: E402
from controller.core import EpmipController, PortInfo  # noqa: E402
from controller.messages import Message  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DOMAIN = REPO / "examples" / "domain.yaml"


def trunk_mac(dpid: int, port: int) -> str:
    """A MAC for a switch's trunk port that no access-port MAC can equal (first octet 0x0a)."""
    return f"0a:00:00:{(dpid >> 8) & 0xFF:02x}:{dpid & 0xFF:02x}:{port & 0xFF:02x}"


def host_port(domain: Domain, switch: str, offset: int = 0) -> int:
    """The first port after the trunk ports of ``switch`` (plus ``offset``): where hosts go."""
    return max(domain.trunk_ports(switch), default=0) + 1 + offset


def reference_doc() -> dict:
    """The reference domain file as a plain (mutable) document, without its signalling key (see
    the ``domain`` fixture)."""
    doc = yaml.safe_load(EXAMPLE_DOMAIN.read_text(encoding="utf-8"))
    doc.pop("security", None)
    return doc


def domain_from_doc(doc: dict) -> Domain:
    return parse_domain(yaml.safe_dump(doc, sort_keys=False), source="<test>")


class Harness:
    """Drives an ``EpmipController`` like the Ryu shim does and records every message sent."""

    def __init__(self, ctl: EpmipController) -> None:
        self.ctl = ctl
        self.domain = ctl.domain
        self.sent: list[Message] = []
        original = ctl.bus.send

        def recording_send(msg: Message, now: float) -> None:
            self.sent.append(msg)
            original(msg, now)

        ctl.bus.send = recording_send  # instance attribute: the MAG/LMA functions call this one

    def dpid(self, switch: str) -> int:
        return self.domain.switches[switch].dpid

    def host_port(self, switch: str, offset: int = 0) -> int:
        return host_port(self.domain, switch, offset)

    def connect(self, switch: str, now: float = 0.0) -> list:
        sw = self.domain.switches[switch]
        ports = [PortInfo(p, trunk_mac(sw.dpid, p)) for p in self.domain.trunk_ports(switch)]
        return self.ctl.switch_up(sw.dpid, ports, now)

    def connect_all(self, now: float = 0.0) -> list:
        out: list = []
        for name in self.domain.switches:
            out += self.connect(name, now)
        return out

    def attach(self, mn_id: str, switch: str | None = None, port: int | None = None, now: float = 1.0) -> list:
        """The MN's access port appears on ``switch`` (default: where the domain file puts it)."""
        mn = self.domain.mobile_nodes[mn_id]
        switch = switch or mn.attach
        port = port if port is not None else host_port(self.domain, switch)
        info = PortInfo(port, access_port_mac(mn.mac), f"{switch}-{mn_id}")
        return self.ctl.port_added(self.dpid(switch), info, now)

    def detach(self, switch: str, port: int | None = None, now: float = 2.0) -> list:
        port = port if port is not None else host_port(self.domain, switch)
        return self.ctl.port_removed(self.dpid(switch), port, now)

    def messages(self, mtype: str | None = None) -> list[Message]:
        return [m for m in self.sent if mtype is None or m.TYPE == mtype]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wire-fuzz",
        type=int,
        default=0,
        metavar="N",
        help="tests/unit/test_wire.py: N hypothesis examples per fuzz/property test instead of the CI budget",
    )
    group = parser.getgroup("model", "randomized model test (tests/unit/test_model.py, tests/model/)")
    group.addoption(
        "--soak",
        type=int,
        default=0,
        metavar="N",
        help="run N sequences with fresh random seeds instead of the fixed CI budget",
    )
    group.addoption("--model-seeds", default="", metavar="A:B", help="run the seeds A..B-1 instead")
    group.addoption(
        "--model-all",
        action="store_true",
        help="ignore KNOWN_GAPS (tests/model/gaps.py): draw every event, make every check",
    )
    group.addoption(
        "--model-jobs", type=int, default=0, metavar="J", help="processes for the sequences (default: 2 if 2 cores)"
    )


@pytest.fixture
def domain_path() -> str:
    return str(EXAMPLE_DOMAIN)


@pytest.fixture
def domain() -> Domain:
    """The reference domain, loaded afresh for every test - without its signalling key, so that
    tests may inject hand-made messages; tests/unit/test_security.py covers the key (and the
    integration tests run with it, from the example file)."""
    domain = load_domain(str(EXAMPLE_DOMAIN))
    domain.signalling_key = None
    return domain


@pytest.fixture
def doc() -> dict:
    """The reference domain file as a document a test may change (see ``domain_from_doc``)."""
    return copy.deepcopy(reference_doc())


@pytest.fixture
def build_domain():
    """``build_domain(doc)``: a Domain from a (changed) document, validated like a file."""
    return domain_from_doc


@pytest.fixture
def controller(domain: Domain) -> EpmipController:
    return EpmipController(domain)


@pytest.fixture
def make_net():
    """``make_net(domain)``: a connected harness over a fresh controller for another domain."""

    def make(domain: Domain, now: float = 0.0) -> Harness:
        h = Harness(EpmipController(domain))
        h.connect_all(now)
        return h

    return make


@pytest.fixture
def net(controller: EpmipController) -> Harness:
    """A harness whose switches are all connected (with their trunk ports) at t=0."""
    h = Harness(controller)
    h.connect_all(0.0)
    return h


@pytest.fixture
def fake(domain: Domain) -> FakeNet:
    """The in-memory tables (tests/fakeof.py): every switch connected, every host of the
    reference domain attached where the file says."""
    net = FakeNet(domain)
    for host in ("mn1", "mn2", "mn3", "cn1", "cn2"):
        net.attach(host)
    return net


@pytest.fixture
def redis_url(tmp_path):
    """A private redis-server for this test (unix socket in the test's temp dir).  Missing
    redis-server fails the test: scripts/setup.sh installs it."""
    import shutil

    from mininet_topos.harness import RedisServer

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed; run scripts/setup.sh")
    server = RedisServer(tmp_path / "redis")
    try:
        yield server.url
    finally:
        server.stop()
