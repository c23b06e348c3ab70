"""Run the real thing: Open vSwitch, the epmip controller (epmip-manager) and a Mininet network.

Used by the demo and by the integration tests.  It cleans up only what it created (its bridges,
its veths, its controller process, by name and PID) - never ``mn -c``, which would also kill
other people's controllers and delete /tmp/*.log.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from controller.config import Domain, load_domain

ROOT = Path(__file__).resolve().parent.parent
OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"


class HarnessError(RuntimeError):
    pass


def ovs_running() -> bool:
    return subprocess.run(["ovs-vsctl", "--timeout=2", "show"], capture_output=True).returncode == 0


def ensure_ovs() -> None:
    if ovs_running():
        return
    subprocess.run([OVS_CTL, "start", "--system-id=random", "--no-mlockall"], capture_output=True, check=False)
    for _ in range(50):
        if ovs_running():
            return
        time.sleep(0.1)
    raise HarnessError("Open vSwitch did not start (ovs-ctl start); see /var/log/openvswitch/")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def remove_leftovers(domain: Domain) -> None:
    """Delete bridges and veths of an earlier crashed run of this domain (by name only)."""
    names = set(domain.switches)
    out = subprocess.run(["ovs-vsctl", "--timeout=5", "list-br"], capture_output=True, text=True).stdout.split()
    for br in out:
        if br in names:
            subprocess.run(["ovs-vsctl", "--timeout=5", "--if-exists", "del-br", br], capture_output=True)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    hosts = set(domain.mobile_nodes) | set(domain.fixed_nodes)
    for m in re.finditer(r"^\d+: ([^:@]+)[@:]", links, re.M):
        intf = m.group(1)
        if intf.split("-eth")[0] in names | hosts and "-eth" in intf:
            subprocess.run(["ip", "link", "del", intf], capture_output=True)


@dataclass
class Controller:
    domain_file: str
    log_dir: Path
    of_port: int = field(default_factory=free_port)
    rest_port: int = field(default_factory=free_port)
    extra_apps: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()  # more epmip-manager options, e.g. ("--epmip-signalling-pcap", FILE)
    proc: subprocess.Popen | None = None
    # REST write calls need a bearer token (apps/rest_app.py): a fresh one for every controller,
    # given to its process as EPMIP_REST_TOKEN and sent by post().
    rest_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # The domain file's state store (default SQLite under var/state/) would give a controller the
    # bindings of an earlier run: demos, benchmarks and tests start clean unless they restart one.
    keep_state: bool = False

    def start(self, timeout: float = 20.0) -> None:
        if port_open(self.of_port):
            raise HarnessError(f"port {self.of_port} is already in use; stop the other controller")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / "controller.log"
        launcher = shutil.which("epmip-manager") or str(Path(sys.executable).parent / "epmip-manager")
        cmd = [
            launcher, "--epmip-config", self.domain_file,
            "--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(self.of_port),
            "--wsapi-host", "127.0.0.1", "--wsapi-port", str(self.rest_port), *self.extra_args,
            str(ROOT / "apps" / "epmip_app.py"), *self.extra_apps,
        ]  # fmt: skip
        if not self.keep_state:
            cmd.insert(1, "--epmip-reset-state")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "EPMIP_REST_TOKEN": self.rest_token}
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True, env=env
        )
        try:
            wait_for(
                lambda: self.proc.poll() is not None or (port_open(self.of_port) and port_open(self.rest_port)),
                timeout,
                "the controller's OpenFlow and REST ports",
            )
        except HarnessError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise HarnessError(f"controller exited with {self.proc.returncode}: {self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def kill(self) -> None:
        """SIGKILL the controller (a crash: no cleanup, no last write)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.rest_port}{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.rest_token}"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def get(self, path: str) -> tuple[int, dict]:
        url = f"http://127.0.0.1:{self.rest_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


class RedisServer:
    """A private ``redis-server`` on a unix socket in ``directory`` (no TCP port, no snapshots):
    for tests and demos of the Redis state store.  ``url`` is what the domain file's
    ``store.url`` takes.  scripts/setup.sh installs redis-server."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise HarnessError("redis-server is not installed; run scripts/setup.sh")
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.log_path = directory / "redis.log"
        cmd = [
            binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(directory), "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or self._answers(), 10, "redis-server to answer")
        except HarnessError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise HarnessError(f"redis-server exited with {self.proc.returncode}; see {self.log_path}")

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect(str(self.socket))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Network:
    """A Mininet network of the domain, attached to a running controller."""

    def __init__(self, domain_file: str, controller: Controller) -> None:
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import RemoteController

        from mininet_topos.epmip_topo import EpmipTopo

        setLogLevel("warning")
        self.domain = load_domain(domain_file)
        remove_leftovers(self.domain)
        self.net = Mininet(
            topo=EpmipTopo(self.domain), controller=None, build=False, autoSetMacs=False, waitConnected=False,
        )  # fmt: skip

        class ProbelessRemoteController(RemoteController):
            """Mininet's RemoteController probes the port with telnet and decodes what telnet prints as
            UTF-8; when the print includes Ryu's OpenFlow HELLO (a random xid), that raises
            UnicodeDecodeError now and then.  Controller.start already waited for the port."""

            def checkListening(self) -> None:
                pass

        self.controller_class = ProbelessRemoteController
        self.net.addController("c0", controller=ProbelessRemoteController, ip="127.0.0.1", port=controller.of_port)
        self.controller = controller

    def start(self) -> None:
        self.net.build()
        self.net.start()

    def stop(self) -> None:
        try:
            for host in self.net.hosts:
                host.cmd("kill %% 2>/dev/null")
            # iperf3 servers the tests daemonise (-D) outlive their host's shell; only ours
            # (ports 5201-5299) are stopped - hosts share the machine's process list.
            subprocess.run(["pkill", "-f", "iperf3 -s -1 -D -p 52[0-9][0-9]"], capture_output=True)
            self.net.stop()
        finally:
            remove_leftovers(self.domain)

    def host(self, name: str):
        return self.net.get(name)

    def start_split(self, controllers: dict[str, Controller]) -> None:
        """Start with each switch connected only to the controller instance that serves it
        (``controllers:`` of the domain file; ``controllers`` maps instance names to running
        controllers) instead of every switch to ``controller``."""
        from itertools import groupby

        serving = {sw: c.name for c in self.domain.controllers for sw in c.switches}
        self.net.controllers = []
        for name, ctl in controllers.items():
            self.net.addController(f"c{name}", controller=self.controller_class, ip="127.0.0.1", port=ctl.of_port)
        by_instance = {c.name[1:]: c for c in self.net.controllers}
        self.net.build()
        for c in self.net.controllers:
            c.start()
        for switch in self.net.switches:
            switch.start([by_instance[serving[switch.name]]])
        for swclass, switches in groupby(sorted(self.net.switches, key=lambda s: str(type(s))), type):
            if hasattr(swclass, "batchStartup"):
                swclass.batchStartup(tuple(switches))

    def attachment(self, name: str) -> str:
        """The switch a host is attached to now."""
        intf = self.host(name).defaultIntf()
        link = intf.link
        other = link.intf2 if link.intf1 is intf else link.intf1
        return other.node.name

    def move(self, name: str, new_switch: str) -> int:
        """Move a host's access link to another switch (a handoff, as Mininet's mobility example
        does it); returns the new port number.  The host itself sends no RS after the move."""
        host = self.host(name)
        old = self.net.get(self.attachment(name))
        new = self.net.get(new_switch)
        _hintf, sintf = host.connectionsTo(old)[0]
        port = max(new.ports.values(), default=0) + 1
        old.moveIntf(sintf, new, port=port)
        return port

    def leave(self, name: str) -> None:
        """The host leaves for good: its access port is taken off the switch (PortStatus DELETE)
        and put nowhere else."""
        host = self.host(name)
        old = self.net.get(self.attachment(name))
        _hintf, sintf = host.connectionsTo(old)[0]
        old.detach(sintf)

    def global_address(self, name: str) -> str | None:
        out = self.host(name).cmd(f"ip -6 -o addr show dev {name}-eth0 scope global")
        m = re.search(r"inet6 ([0-9a-f:]+)/", out)
        return m.group(1) if m else None

    def wait_addresses(self, names, timeout: float = 20.0) -> dict[str, str]:
        return wait_for(
            lambda: (lambda a: a if all(a.values()) else None)({n: self.global_address(n) for n in names}),
            timeout, f"global addresses on {', '.join(names)}",
        )  # fmt: skip

    def ping6(self, src: str, dst: str, count: int = 3, interval: float = 0.2) -> tuple[int, int]:
        out = self.host(src).cmd(f"ping -6 -c {count} -i {interval} -W 1 {dst}")
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        if not m:
            raise HarnessError(f"ping from {src} to {dst} printed no summary: {out.strip()[-200:]}")
        return int(m.group(1)), int(m.group(2))


def dump_flows(bridge: str, table: int | None = None) -> list[dict]:
    """Parse ``ovs-ofctl dump-flows`` (OpenFlow 1.3) into dicts with cookie, table, priority,
    n_packets, match and actions."""
    cmd = ["ovs-ofctl", "-O", "OpenFlow13", "--no-names", "dump-flows", bridge]
    if table is not None:
        cmd.append(f"table={table}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    flows = []
    for line in out.splitlines():
        if "actions=" not in line:
            continue
        head, actions = line.strip().split(" actions=", 1)
        fields = [f.strip() for f in head.split(",") if f.strip()]
        d: dict = {
            "cookie": 0,
            "table": 0,
            "priority": 32768,
            "n_packets": 0,
            "match": {},
            "actions": actions,
        }
        for f in fields:
            key, _, value = f.partition("=")
            if key == "cookie":
                d["cookie"] = int(value, 16)
            elif key == "table":
                d["table"] = int(value)
            elif key == "priority":
                d["priority"] = int(value)
            elif key == "n_packets":
                d["n_packets"] = int(value)
            elif key in ("duration", "n_bytes", "idle_age", "hard_age", "reset_counts"):
                continue
            else:
                d["match"][key] = value if _ else True
        flows.append(d)
    return flows


def packets_through(bridge: str, table: int, predicate) -> int:
    return sum(f["n_packets"] for f in dump_flows(bridge, table) if predicate(f))


def table_packets(bridges: Iterable[str], table: int = 0) -> dict[str, int]:
    """Packets matched by each bridge's flows in ``table``.  In table 0 every packet that enters a
    switch counts exactly once, so the growth of these counts is the traffic through each switch."""
    return {br: sum(f["n_packets"] for f in dump_flows(br, table)) for br in bridges}


def settled_table_packets(
    bridges: Iterable[str], table: int = 0, quiet: float = 1.2, timeout: float = 8.0, slack: int = 2
) -> dict[str, int]:
    """``table_packets`` once Open vSwitch has caught up: it updates flow statistics lazily (about
    every 0.5 s), so read until the total has changed by at most ``slack`` packets (stray ND/MLD)
    for ``quiet`` seconds; after ``timeout`` the last read."""
    names = list(bridges)
    deadline = time.monotonic() + timeout
    ref = table_packets(names, table)
    since = time.monotonic()
    while True:
        time.sleep(0.25)
        now = table_packets(names, table)
        t = time.monotonic()
        if abs(sum(now.values()) - sum(ref.values())) > slack:
            ref, since = now, t
        if t - since >= quiet or t >= deadline:
            return now


UDPSTREAM = str(ROOT / "benchmarks" / "udpstream.py")


class UdpStream:
    """A bidirectional paced UDP stream between two hosts (benchmarks/udpstream.py on both
    sides; it runs with the system Python inside the host namespaces)."""

    def __init__(
        self, net: Network, a: str, b: str, rate: int, seconds: float, tmp: Path, port: int = 9000,
        one_way: bool = False,
    ) -> None:  # fmt: skip
        """``one_way``: only ``a`` sends (to ``b``), and only ``b`` receives."""
        self.files = {b: tmp / f"{b}.rec"} if one_way else {a: tmp / f"{a}.rec", b: tmp / f"{b}.rec"}
        self.count = int(rate * seconds)
        self.rate = rate
        self.receivers = [
            net.host(h).popen(
                ["/usr/bin/python3", UDPSTREAM, "recv", "--port", str(port), "--out", str(self.files[h]),
                 "--duration", str(seconds + 5)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for h in self.files
        ]  # fmt: skip
        time.sleep(0.3)
        self.senders = [
            net.host(src).popen(
                ["/usr/bin/python3", UDPSTREAM, "send", "--dst", net.global_address(dst), "--port", str(port),
                 "--rate", str(rate), "--count", str(self.count)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            for src, dst in (((a, b),) if one_way else ((a, b), (b, a)))
        ]  # fmt: skip

    def finish(self) -> dict[str, list]:
        """Wait for the senders, stop the receivers; records per receiving host."""
        from benchmarks.udpstream import load_records

        summaries = []
        for s in self.senders:
            out, _ = s.communicate(timeout=120)
            summaries.append(json.loads(out.strip().splitlines()[-1]))
        time.sleep(1.0)
        for p in self.receivers:
            p.terminate()
            p.wait(10)
        if any(x.get("sent") != self.count for x in summaries):
            raise HarnessError(f"a sender did not send all {self.count} packets: {summaries}")
        return {host: load_records(str(path)) for host, path in self.files.items()}

    def figures(self, records: list) -> tuple[int, float]:
        """(packets lost, longest gap between arrivals in ms) of one direction's records."""
        got = sorted(r[2] for r in records)
        gaps = [b - a for a, b in zip(got, got[1:], strict=False)]
        return self.count - len({r[0] for r in records}), 1000 * max(gaps, default=0.0)


def split_by_anchor(domain: Domain) -> list[dict]:
    """A ``controllers:`` placement with one instance per (e)LMA: the anchor and the (e)MAGs whose
    default LMA it is; every other switch (core, access router) goes with the first.  For the
    reference domain: eLMA1's region, eLMA3's region and the legacy part.  UDP ports are free ones
    on ::1 at the time of the call."""
    lmas = [sw.name for sw in domain.switches.values() if sw.is_lma]
    groups: dict[str, list[str]] = {lma: [lma] for lma in lmas}
    for sw in domain.switches.values():
        if sw.is_lma:
            continue
        groups[sw.lma if sw.is_mag and sw.lma in groups else lmas[0]].append(sw.name)
    out = []
    for lma, switches in groups.items():
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
            out.append({"name": f"i{lma}"[:10], "address": "::1", "port": s.getsockname()[1], "switches": switches})
    return out


class SplitControllers:
    """Several controller instances of one domain (``controllers:``) behind the interface of one
    ``Controller`` (``start``, ``stop``, ``get``, ``post``, ``tail``): a GET for a switch goes to the
    instance that serves it, one for a binding to whichever instance has it, ``/epmip/v1/stats``
    adds the instances' figures up; POSTs go to each instance until one accepts."""

    def __init__(self, domain_file: str, log_dir: Path, extra_args: tuple[str, ...] = ()) -> None:
        domain = load_domain(domain_file)
        if not domain.controllers:
            raise HarnessError(f"{domain_file} has no controllers: section")
        self.serving = {sw: c.name for c in domain.controllers for sw in c.switches}
        self.instances = {
            c.name: Controller(domain_file, log_dir / c.name, extra_args=("--epmip-instance", c.name, *extra_args))
            for c in domain.controllers
        }
        self.log_path = next(iter(self.instances.values())).log_dir / "controller.log"

    def start(self, timeout: float = 20.0) -> None:
        for ctl in self.instances.values():
            ctl.start(timeout)

    def stop(self) -> None:
        for ctl in self.instances.values():
            ctl.stop()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(f"--- {name} ---\n{ctl.tail(lines)}" for name, ctl in self.instances.items())

    def get(self, path: str) -> tuple[int, dict]:
        m = re.match(r"/epmip/v1/switches/([a-z0-9]+)", path)
        if m and m.group(1) in self.serving:
            return self.instances[self.serving[m.group(1)]].get(path)
        if path == "/epmip/v1/stats":
            return 200, merge_stats([ctl.get(path)[1] for ctl in self.instances.values()])
        answer: tuple[int, dict] = (404, {})
        for ctl in self.instances.values():
            answer = ctl.get(path)
            if answer[0] == 200:
                return answer
        return answer

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        answer: tuple[int, dict] = (404, {})
        for ctl in self.instances.values():
            answer = ctl.post(path, body)
            if answer[0] < 400:
                return answer
        return answer


def merge_stats(parts: list[dict]) -> dict:
    """``/epmip/v1/stats`` of several instances as one: counts added up; a latency's count added,
    its max the largest, its last (and median) those of the only instance that has it, else None."""

    def add(key: str) -> dict:
        total: dict = {}
        for p in parts:
            for k, v in (p.get(key) or {}).items():
                total[k] = total.get(k, 0) + v
        return total

    latency: dict = {}
    for name in sorted({n for p in parts for n in p.get("latency") or {}}):
        having = [p["latency"][name] for p in parts if name in (p.get("latency") or {})]
        one = having[0] if len(having) == 1 else None
        latency[name] = {
            "count": sum(h["count"] for h in having), "max_ms": max(h["max_ms"] for h in having),
            "median_ms": one["median_ms"] if one else None, "last_ms": one["last_ms"] if one else None,
        }  # fmt: skip
    return {
        "messages": add("messages"),
        "messages_total": sum(p.get("messages_total", 0) for p in parts),
        "signalling_bytes": sum(p.get("signalling_bytes", 0) for p in parts),
        "signalling_errors": add("signalling_errors"),
        "events": add("events"),
        "latency": latency,
    }
