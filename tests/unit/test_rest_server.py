"""The REST API over real sockets, as Ryu serves it: ``ryu.app.wsgi.WSGIServer`` with epmip's
hardening (rest_app.harden_ryu_server) in a child process (rest_server_child.py) on 127.0.0.1, and
the real launcher (epmip-manager) for its defaults.  No switch, no Open vSwitch: only the REST
port and the OpenFlow listener on loopback ports picked at random."""

from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("rest_server_child.py")
TOKEN = "server-test-token-0123456789"
SOCKET_TIMEOUT = 1.0  # the child's (the controller's are 10 s and 5 s)
KEEPALIVE_TIMEOUT = 1.0
SECRET = "secret-detail-4711"  # in the child's fault message


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EPMIP_REST_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("rest-server") / "server.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(SOCKET_TIMEOUT), str(KEEPALIVE_TIMEOUT), TOKEN],
            stdout=subprocess.PIPE, stderr=err, text=True, env=_env(), cwd=ROOT,
        )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit():
            pytest.fail(f"REST server did not start: {log.read_text()[-2000:]}")
        yield int(line), log
    finally:
        _stop(proc)


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None and "Transfer-Encoding" not in (headers or {}):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()  # headers: case-insensitive (eventlet capitalizes)
    finally:
        conn.close()


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _closed_by_server(s: socket.socket, deadline: float) -> bool:
    try:
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


# ---------------------------------------------------------------- no traceback, JSON for everything


def test_a_fault_is_a_json_500_without_traceback_which_goes_to_the_log(server):
    port, log = server
    status, headers, body = _request(port, "GET", "/epmip/v1/stats")
    assert status == 500 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"error": "internal error", "status": 500}
    time.sleep(0.2)
    text = log.read_text()
    assert "Traceback" in text and SECRET in text  # the details are in the log only
    status, _, body = _request(port, "GET", "/epmip/v1/bindings")  # and the server still answers
    assert status == 200 and json.loads(body) == {"bindings": []}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("OPTIONS", "/epmip/v1/bindings", 405),
        ("TRACE", "/epmip/v1/bindings", 405),
        ("PROPFIND", "/epmip/v1/stats", 405),
        ("GET", "/", 404),
        ("GET", "/epmip/v1/bindings%0A", 404),
        ("GET", "/epmip/v1/bindings%3Fx=1", 404),
        ("GET", "/epmip/v1/nothing%0d%0aSet-Cookie:%20x", 404),
        ("DELETE", "/nowhere", 404),
    ],
)
def test_every_method_and_path_gets_json(server, method, path, status):
    got, headers, body = _request(server[0], method, path)
    assert got == status and headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == status
    assert "Set-Cookie" not in headers
    if status == 405:
        assert headers["Allow"] == "GET"


def test_head_is_405_with_allow_and_no_body(server):
    status, headers, body = _request(server[0], "HEAD", "/epmip/v1/bindings")
    assert status == 405 and headers["Allow"] == "GET" and body == b""


def test_question_mark_in_a_path_parameter_is_part_of_it(server):
    status, _, body = _request(server[0], "GET", "/epmip/v1/bindings/mn1%3Fx=1")
    assert status == 404 and json.loads(body)["mn_id"] == "mn1?x=1"


# ---------------------------------------------------------------- limits


def test_body_over_64_kib_is_413_without_echo(server):
    body = b'{"prefix": "' + b"SECRETBODY" * 7000 + b'"}'
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    status, headers, answer = _request(server[0], "POST", "/epmip/v1/lmas/elma1/prefixes", body, auth)
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert b"SECRETBODY" not in answer and json.loads(answer)["status"] == 413


def test_chunked_body_over_64_kib_is_413(server):
    data = b"[" * (70 * 1024)
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(data[i : i + 8192]), data[i : i + 8192]) for i in range(0, len(data), 8192)
    )
    request = (
        b"POST /epmip/v1/lmas/elma1/prefixes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked
        + b"0\r\n\r\n"
    )
    answer = _raw(server[0], request)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"application/json" in answer


def test_deeply_nested_json_is_refused_not_a_500(server):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    path = "/epmip/v1/lmas/elma1/prefixes"
    status, _, _ = _request(server[0], "POST", path, b"[" * 100_000 + b"]" * 100_000, auth)
    assert status == 413  # 200,000 bytes: over the body limit before it is parsed
    status, _, body = _request(server[0], "POST", path, b"[" * 30_000 + b"]" * 30_000, auth)
    assert status == 400 and json.loads(body)["field"] == "body"  # within the limit: too deep to parse


def test_a_5000_digit_limit_is_400(server):
    status, _, body = _request(server[0], "GET", "/epmip/v1/messages?limit=" + "7" * 5000)
    assert status == 400 and json.loads(body)["parameter"] == "limit"


def test_header_limits(server):
    port = server[0]
    many = {f"X-Filler-{i}": "y" * 10 for i in range(70)}
    status, _, body = _request(port, "GET", "/epmip/v1/bindings", headers=many)
    assert status == 431 and json.loads(body)["status"] == 431
    big = {f"X-Filler-{i}": "y" * 4000 for i in range(5)}  # 20 KiB in all, each line under eventlet's 8 KiB
    assert _request(port, "GET", "/epmip/v1/bindings", headers=big)[0] == 431
    # a header line or a request line over 8 KiB: eventlet answers before the API, with no body
    answer = _raw(port, b"GET /epmip/v1/bindings HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400 ") and answer.endswith(b"\r\n\r\n")
    answer = _raw(port, b"GET /epmip/v1/bindings?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 414 ")


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"needs {need} file descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def test_a_thousand_half_open_connections_neither_stall_the_api_nor_stay_open(server):
    port = server[0]
    _raise_fd_limit(1200)
    held: list[socket.socket] = []
    try:
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:  # half send a request whose headers never end; half send nothing at all
                s.sendall(b"GET /epmip/v1/bindings HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        start = time.monotonic()
        status, _, body = _request(port, "GET", "/epmip/v1/bindings")
        assert status == 200 and json.loads(body) == {"bindings": []}
        assert time.monotonic() - start < 2.0
        # the server drops each of them after its timeout (1 s here: 5 s and 10 s in the controller)
        deadline = time.monotonic() + KEEPALIVE_TIMEOUT + SOCKET_TIMEOUT + 5
        still_open = sum(not _closed_by_server(s, deadline) for s in held)
        assert still_open == 0
    finally:
        for s in held:
            s.close()


def test_a_slow_client_is_dropped_after_the_socket_timeout(server):
    port = server[0]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /epmip/v1/lmas/elma1/prefixes HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        start = time.monotonic()
        assert _closed_by_server(s, start + SOCKET_TIMEOUT + 5)
        assert time.monotonic() - start < SOCKET_TIMEOUT + 4


# ---------------------------------------------------------------- the launcher's defaults


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hexport = fields[1].rsplit(":", 1)
            if int(hexport, 16) == port and fields[3] == "0A":  # LISTEN
                found.add(address)
    return found


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    """epmip-manager as the README starts it, with no --wsapi-host, the token in the environment."""
    log = tmp_path_factory.mktemp("manager") / "controller.log"
    rest_port, of_port = _free_port(), _free_port()
    cmd = [
        sys.executable, "-c", "from apps.launcher import main; main()",  # the epmip-manager script
        "--epmip-config", str(ROOT / "examples" / "domain.yaml"), "--epmip-reset-state",  # not an earlier run's
        "--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(of_port), "--wsapi-port", str(rest_port),
        str(ROOT / "apps" / "epmip_app.py"),
    ]  # fmt: skip
    env = {**_env(), "EPMIP_REST_TOKEN": TOKEN}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not _listening_addresses(rest_port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"epmip-manager did not start: {log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield rest_port, log
    finally:
        _stop(proc)


def test_manager_listens_on_loopback_only_by_default(manager):
    port, log = manager
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0
    assert "write calls need the bearer token from EPMIP_REST_TOKEN" in log.read_text()


def test_manager_takes_writes_with_the_token_only(manager):
    port = manager[0]
    body = json.dumps({"prefix": "2001:db8:e::/48"}).encode()
    path = "/epmip/v1/lmas/elma1/prefixes"
    status, headers, answer = _request(port, "POST", path, body)
    assert status == 401 and "Bearer" in headers["WWW-Authenticate"]
    assert _request(port, "POST", path, body, {"Authorization": "Bearer not-the-token-at-all"})[0] == 401
    assert json.loads(_request(port, "GET", path)[2])["prefixes"] == ["2001:db8:a::/48"]  # unchanged
    status, _, answer = _request(port, "POST", path, body, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 201 and json.loads(answer)["prefixes"] == ["2001:db8:a::/48", "2001:db8:e::/48"]


def test_the_harness_controller_gives_its_process_a_token_and_sends_it(tmp_path, monkeypatch):
    """What the integration tests and benchmarks use for write calls (mininet_topos/harness.py):
    no Open vSwitch or Mininet needed for the controller process alone."""
    from mininet_topos.harness import Controller

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the launcher script then imports this checkout
    monkeypatch.delenv("EPMIP_REST_TOKEN", raising=False)
    ctl = Controller(str(ROOT / "examples" / "domain.yaml"), tmp_path)
    other = Controller(str(ROOT / "examples" / "domain.yaml"), tmp_path / "other")
    assert len(ctl.rest_token) >= 32 and ctl.rest_token != other.rest_token  # random, per run
    assert ctl.rest_token not in repr(ctl)
    ctl.start()
    try:
        body = {"prefix": "2001:db8:e::/48"}
        status, answer = ctl.post("/epmip/v1/lmas/elma1/prefixes", body)
        assert status == 201 and "2001:db8:e::/48" in answer["prefixes"], answer
        status, _, _ = _request(ctl.rest_port, "POST", "/epmip/v1/lmas/elma1/prefixes", json.dumps(body).encode())
        assert status == 401  # without the header
        assert ctl.get("/epmip/v1/lmas/elma1/prefixes")[0] == 200
    finally:
        ctl.stop()
    assert ctl.rest_token not in (tmp_path / "controller.log").read_text()
