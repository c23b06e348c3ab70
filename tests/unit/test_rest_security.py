"""A REST API that is safe to expose (issue 10, item 4), in-process: the token for write calls
(domain file, environment, 401/403), validation of every input before any state changes, JSON
errors for every method and path, bounded sizes, no traceback to a client, the hardened server's
options and the launcher's loopback default.  Over real sockets: test_rest_server.py."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import webob
from conftest import domain_from_doc, reference_doc
from ryu.app.wsgi import ControllerBase, Response, WSGIApplication, route

from apps import launcher, rest_app
from controller.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
API = "/epmip/v1"
TOKEN = "security-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIXES = f"{API}/lmas/elma1/prefixes"


class Api:
    """The API as Ryu's server runs it (WSGIApplication behind JsonGuard) over the unit tests'
    controller; records the intents it sends to switches."""

    def __init__(self, net, token: str | None) -> None:
        self.net = net
        self.sent: list = []
        wsgi = WSGIApplication()
        rest_app.register_rest(wsgi, SimpleNamespace(core=net.ctl, send=self.sent.extend), token=token)
        self.app = rest_app.JsonGuard(wsgi)

    def call(self, path: str, method: str = "GET", body: bytes | None = None, headers=None) -> webob.Response:
        req = webob.Request.blank(path, method=method, headers=headers or {})
        if body is not None:
            req.body = body
        return req.get_response(self.app)

    def json(self, path: str, status: int, method: str = "GET", body=None, headers=None) -> dict:
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        resp = self.call(path, method, body, headers)
        assert resp.status_int == status, resp.body
        assert resp.content_type == "application/json"
        answer = json.loads(resp.body)
        if status >= 400:
            assert answer["status"] == status and isinstance(answer["error"], str) and "\n" not in answer["error"]
        return answer

    def state(self) -> tuple:
        """Everything a write call could change: every switch's prefixes, every node's view of
        who owns which prefix, the counters, and what was sent to switches."""
        ctl = self.net.ctl
        views = {name: sorted(map(str, node.view.lma_prefixes)) for name, node in ctl.nodes.items()}
        prefixes = {name: [str(p) for p in sw.prefixes] for name, sw in ctl.domain.switches.items()}
        return prefixes, views, dict(ctl.counters), len(self.sent)


@pytest.fixture
def api(net):
    net.attach("mn1", now=1.0)
    return Api(net, TOKEN)


@pytest.fixture
def readonly(net):
    return Api(net, None)


# ---------------------------------------------------------------- where the token comes from


def _doc_with_rest(rest) -> dict:
    doc = reference_doc()
    doc["rest"] = rest
    return doc


def test_domain_file_token_is_read_and_not_shown():
    domain = domain_from_doc(_doc_with_rest({"token": TOKEN}))
    assert domain.rest_token == TOKEN
    assert TOKEN not in repr(domain)
    assert domain_from_doc(reference_doc()).rest_token is None


@pytest.mark.parametrize(
    ("rest", "field"),
    [
        ({"token": "short-token"}, "rest.token"),  # under 16 characters
        ({"token": "a token with spaces in it"}, "rest.token"),
        ({"token": "tøken-with-non-ascii-chars"}, "rest.token"),
        ({"token": "x" * 513}, "rest.token"),
        ({"token": 1234567890123456789}, "rest.token"),
        ({"key": TOKEN}, "rest.key"),
        ("just-a-string", "rest"),
    ],
)
def test_domain_file_token_is_validated(rest, field):
    with pytest.raises(ConfigError) as exc:
        domain_from_doc(_doc_with_rest(rest))
    assert str(exc.value).startswith(field)
    if isinstance(rest, dict) and isinstance(rest.get("token"), str):
        assert rest["token"] not in str(exc.value)  # a (bad) secret is not printed


def test_environment_token_wins_over_the_domain_file():
    env_token = "from-the-environment-0123"
    assert rest_app.resolve_token(TOKEN, {"EPMIP_REST_TOKEN": env_token}) == (env_token, "EPMIP_REST_TOKEN")
    assert rest_app.resolve_token(TOKEN, {"EPMIP_REST_TOKEN": ""}) == (TOKEN, "the domain file (rest.token)")
    assert rest_app.resolve_token(TOKEN, {}) == (TOKEN, "the domain file (rest.token)")
    assert rest_app.resolve_token(None, {}) == (None, "nowhere")
    for bad in ("short", "has a space in it!!", "x" * 513):
        with pytest.raises(ValueError, match="EPMIP_REST_TOKEN") as exc:
            rest_app.resolve_token(TOKEN, {"EPMIP_REST_TOKEN": bad})
        assert bad not in str(exc.value)


# ---------------------------------------------------------------- write calls need the token


def test_without_a_token_configured_every_write_is_403_and_reads_are_open(readonly):
    before = readonly.state()
    for method, path, body in (
        ("POST", PREFIXES, {"prefix": "2001:db8:e::/48"}),
        ("DELETE", PREFIXES, {"prefix": "2001:db8:a::/48"}),
        ("POST", f"{API}/mobility/mn1/link-going-down", {}),
    ):
        for headers in (None, AUTH):
            answer = readonly.json(path, 403, method, body, headers)
            assert "EPMIP_REST_TOKEN" in answer["error"] and "rest.token" in answer["error"]
    assert readonly.state() == before
    assert readonly.json(PREFIXES, 200)["prefixes"] == ["2001:db8:a::/48"]
    assert readonly.call(f"{API}/bindings").status_int == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        "Bearer " + "x" * 10_000,
        "Bearer tøken-ünïcode-0123456789",
        f"Bearer{TOKEN}",
    ],
)
def test_a_missing_or_wrong_token_is_401_and_changes_nothing(api, authorization):
    before = api.state()
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = api.call(PREFIXES, "POST", json.dumps({"prefix": "2001:db8:e::/48"}).encode(), headers)
    assert resp.status_int == 401 and resp.content_type == "application/json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in resp.text
    assert api.state() == before


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_right_token_is_accepted_in_any_case_of_the_scheme(api, scheme):
    answer = api.json(PREFIXES, 201, "POST", {"prefix": "2001:db8:e::/48"}, {"Authorization": f"{scheme} {TOKEN}"})
    assert "2001:db8:e::/48" in answer["prefixes"]


def test_the_token_is_compared_in_constant_time(api, monkeypatch):
    seen = []

    def spy(a, b):
        seen.append((a, b))
        return a == b

    monkeypatch.setattr(rest_app.hmac, "compare_digest", spy)
    api.json(PREFIXES, 401, "POST", {"prefix": "2001:db8:e::/48"}, {"Authorization": "Bearer wrong-token-0123456789"})
    api.json(PREFIXES, 201, "POST", {"prefix": "2001:db8:e::/48"}, AUTH)
    assert seen == [(b"wrong-token-0123456789", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_the_token_is_checked_before_the_body_or_the_lma(api):
    assert api.json(f"{API}/lmas/nope/prefixes", 401, "POST", b"not json")["status"] == 401
    assert api.json(f"{API}/mobility/nobody/link-going-down", 401, "POST")["status"] == 401


# ---------------------------------------------------------------- no bad call changes anything


@pytest.mark.parametrize(
    "body",
    [
        {"prefix": "2001:db8:e::%eth0/48"},  # ipaddress takes a scope; no switch would
        {"prefix": "2001:db8:e::/４８"},
        {"prefix": " 2001:db8:e::/48"},
        {"prefix": "2001:db8:e::/48\n"},
        {"prefix": "2001:db8:e::/48", "lma": "elma3"},
        {"prefix": "2001:db8:e::1/48"},
        {"prefix": "2001:db8:e::/" + "4" * 70},
        {"prefix": 48},
        {"prefix": None},
        {"prefix": ["2001:db8:e::/48"]},
        {"prefix": {"prefix": "2001:db8:e::/48"}},
        {"prefix": "2001:db8:a:8000::/49"},  # overlaps elma1's own
        {"prefix": "2001:db8:c::/48"},  # elma3's
        {"prefix": "2001:db8::/16"},  # wider than /32
        {"prefix": "2001:db8:e::/96"},  # longer than /64
        {},
        [],
        "2001:db8:e::/48",
        None,
        b'{"prefix": "2001:db8:e::/48", "prefix": "2001:db8:f::/48"}',
        b'{"prefix": NaN}',
        b"\xff\xfe{}",
        '{"prefix": "2001:db8:e::/48"}'.encode("utf-16"),
        b"[" * 30_000 + b"]" * 30_000,  # within 64 KiB, too deep for the parser
        b'{"prefix": "2001:db8:e::/48"',
        b"",
    ],
)
def test_a_bad_prefix_call_is_400_and_changes_nothing(api, body):
    before = api.state()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = api.json(PREFIXES, 400, "POST", raw, AUTH)
    assert answer["field"] in ("prefix", "body")
    assert len(answer["error"]) < 300
    assert api.state() == before
    delete = api.call(PREFIXES, "DELETE", raw, AUTH)  # checks the same (404: a prefix elma1 does not have)
    assert delete.status_int in (400, 404) and delete.content_type == "application/json"
    assert api.state() == before


def test_scoped_prefix_is_refused_by_the_core_too(net):
    """The REST layer refuses '%' first; the core does not rely on it."""
    prefixes = list(net.ctl.domain.switches["elma1"].prefixes)
    with pytest.raises(ValueError):
        net.ctl.add_prefix("elma1", "2001:db8:e::%eth0/48", 1.0)
    assert list(net.ctl.domain.switches["elma1"].prefixes) == prefixes


@pytest.mark.parametrize("name", ["emag1", "nope", "%C3%A9", "x" * 300, "elma1%0A"])
def test_a_prefix_call_on_no_lma_is_404_and_changes_nothing(api, name):
    before = api.state()
    assert api.json(f"{API}/lmas/{name}/prefixes", 404, "POST", {"prefix": "2001:db8:e::/48"}, AUTH)
    assert api.state() == before


@pytest.mark.parametrize("body", [b"[]", b'{"mn": "mn1"}', b"null", b"x", b"[" * 30_000])
def test_a_bad_hint_body_is_400_and_changes_nothing(net, body):
    net.domain.handoff_buffer = "predictive"
    net.attach("mn1", now=1.0)
    api = Api(net, TOKEN)
    before = api.state()
    api.json(f"{API}/mobility/mn1/link-going-down", 400, "POST", body, AUTH)
    assert api.state() == before
    answer = api.json(f"{API}/mobility/mn1/link-going-down", 202, "POST", b"{}", AUTH)
    assert answer == {"mn_id": "mn1", "mag": "emag1", "buffering": True}


# ---------------------------------------------------------------- JSON for every method and path


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", f"{API}/bindings", "GET"),
        ("TRACE", f"{API}/stats", "GET"),
        ("CONNECT", f"{API}/stats", "GET"),
        ("BREW", PREFIXES, "GET, POST, DELETE"),
        ("PUT", PREFIXES, "GET, POST, DELETE"),
        ("OPTIONS", f"{API}/mobility/mn1/link-going-down", "POST, DELETE"),
        ("GET", f"{API}/mobility/mn1/link-going-down", "POST, DELETE"),
    ],
)
def test_a_method_a_path_does_not_take_is_405_json_with_allow(api, method, path, allow):
    answer = api.json(path, 405, method, headers=AUTH)
    assert method in answer["error"]
    assert api.call(path, method).headers["Allow"] == allow


def test_head_is_405_with_allow(api):
    resp = api.call(f"{API}/bindings", "HEAD")
    assert resp.status_int == 405 and resp.headers["Allow"] == "GET"
    assert resp.content_type == "application/json"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/stats",
        "/epmip",
        "/epmip/v2/bindings",
        f"{API}/bindings%0A",  # routes' '$' would match before a final newline
        f"{API}/bindings%0Aextra",
        f"{API}/bindings%3F",  # '?' inside the path: not the bindings list
        f"{API}/bindings%3Fmn_id=mn1",
        f"{API}/nothing%3F/x",
        f"{API}/bindings/mn1/extra",
        f"{API}/bindings/%FF",  # not UTF-8
        f"{API}/bindings/mn1%00",
        f"{API}/" + "a" * 5000,
    ],
)
def test_an_unknown_path_is_404_json(api, path):
    for method in ("GET", "POST", "DELETE", "OPTIONS"):
        answer = api.json(path, 404, method, headers=AUTH)
        assert "no such endpoint" in answer["error"] and len(answer["error"]) < 200


def test_question_mark_in_a_path_parameter_is_kept(api):
    answer = api.json(f"{API}/bindings/mn1%3Fx=1", 404)
    assert answer["mn_id"] == "mn1?x=1" and "'mn1?x=1'" in answer["error"]
    answer = api.json(f"{API}/switches/emag1%3F/drf", 404)
    assert answer["name"] == "emag1?"
    answer = api.json(f"{API}/nothing%3Fhere", 404)
    assert "nothing?here" in answer["error"] and answer["endpoints"] == rest_app.ROUTES


def test_unicode_path_parameters_are_decoded_and_bounded(api):
    answer = api.json(f"{API}/bindings/%C3%A9t%C3%A9", 404)
    assert answer["mn_id"] == "été"
    long = "%C3%A9" * 1000
    answer = api.json(f"{API}/bindings/{long}", 404)
    assert len(answer["error"]) < 200 and len(answer["mn_id"]) <= rest_app.SHOWN


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("messages?limit=" + "9" * 5000, "limit"),
        ("messages?limit=0" + "0" * 100 + "5", "limit"),
        ("messages?limit=%EF%BC%95", "limit"),  # a full-width 5
        ("locations?address=fe80::1%25eth0", "address"),
        ("locations?address=" + "1" * 5000, "address"),
        ("locations?address=%FF", "query"),
        ("paths?src=" + "m" * 65 + "&dst=2001:db8::1", "src"),
        ("paths?src=mn1%0A&dst=2001:db8::1", "src"),
        ("bindings?x=%C0%AF", "query"),
    ],
)
def test_bad_query_parameters_are_400_json(api, query, parameter):
    answer = api.json(f"{API}/{query}", 400)
    assert answer["parameter"] == parameter and len(answer["error"]) < 200


# ---------------------------------------------------------------- sizes


def test_a_body_over_64_kib_is_413_without_echo(api):
    before = api.state()
    body = b'{"prefix": "' + b"SECRETBODY" * 7000 + b'"}'
    resp = api.call(PREFIXES, "POST", body, AUTH)
    assert resp.status_int == 413 and resp.content_type == "application/json"
    assert b"SECRETBODY" not in resp.body and json.loads(resp.body)["status"] == 413
    deep = b"[" * 100_000 + b"]" * 100_000  # deep, and over the limit: refused before parsing
    assert api.call(PREFIXES, "POST", deep, AUTH).status_int == 413
    assert api.state() == before


def _chunked(api: Api, data: bytes) -> webob.Response:
    """A request without Content-Length, its body read to the end (as eventlet gives a chunked one)."""
    req = webob.Request.blank(PREFIXES, method="POST", headers={**AUTH, "Transfer-Encoding": "chunked"})
    req.environ["wsgi.input"] = io.BytesIO(data)
    req.environ.pop("CONTENT_LENGTH", None)
    return req.get_response(api.app)


def test_a_chunked_body_is_bounded_too(api):
    before = api.state()
    assert _chunked(api, b"[" * (rest_app.MAX_BODY + 1)).status_int == 413
    assert api.state() == before
    resp = _chunked(api, json.dumps({"prefix": "2001:db8:e::/48"}).encode())
    assert resp.status_int == 201, resp.body


def test_a_bad_content_length_is_400(api):
    req = webob.Request.blank(PREFIXES, method="POST", headers=AUTH)
    req.environ["CONTENT_LENGTH"] = "12abc"
    resp = req.get_response(api.app)
    assert resp.status_int == 400 and resp.content_type == "application/json"


def test_header_limits_are_431(api):
    many = {f"X-Filler-{i}": "y" for i in range(rest_app.MAX_HEADERS + 1)}
    assert api.json(f"{API}/bindings", 431, headers=many)["status"] == 431
    big = {"X-Filler": "y" * (rest_app.MAX_HEADER_BYTES + 1)}
    assert api.json(PREFIXES, 431, "POST", {"prefix": "2001:db8:e::/48"}, {**AUTH, **big})["status"] == 431


# ---------------------------------------------------------------- faults


def test_a_fault_is_a_json_500_and_the_traceback_goes_to_the_log(net, caplog):
    class Broken:
        domain = net.ctl.domain

        def bindings(self):
            raise RuntimeError("database password is hunter2")

    wsgi = WSGIApplication()
    rest_app.register_rest(wsgi, SimpleNamespace(core=Broken(), send=None), token=TOKEN)
    with caplog.at_level(logging.ERROR, logger="epmip.rest"):
        resp = webob.Request.blank(f"{API}/bindings").get_response(rest_app.JsonGuard(wsgi))
    assert resp.status_int == 500 and resp.content_type == "application/json"
    assert json.loads(resp.body) == {"error": "internal error", "status": 500}
    assert "hunter2" in caplog.text and "Traceback" in caplog.text


def test_the_server_runs_without_debug_tracebacks_and_with_timeouts():
    options = rest_app.server_options()
    assert options["debug"] is False
    assert options["socket_timeout"] == rest_app.SOCKET_TIMEOUT > 0
    assert isinstance(options["keepalive"], float) and options["keepalive"] > 0
    assert options["url_length_limit"] >= 6000  # a 5,000-digit ?limit= reaches the API (400, not 414)
    assert 16 <= options["max_size"] <= rest_app.MAX_CONNECTIONS
    from ryu.app import wsgi

    rest_app.harden_ryu_server()
    assert wsgi.WSGIServer.serve_forever is rest_app._serve_forever


# ---------------------------------------------------------------- the launcher listens on loopback


def _wsapi_host(*args: str) -> str:
    code = (
        "import sys; from apps import compat; compat.apply(); from apps import launcher; "
        "launcher.register_options(); launcher.default_wsapi_host(); from ryu import cfg; "
        "cfg.CONF(args=sys.argv[1:], project='ryu'); print(cfg.CONF.wsapi_host)"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_launcher_defaults_wsapi_host_to_loopback_unless_given():
    assert launcher.DEFAULT_WSAPI_HOST == "127.0.0.1"
    assert _wsapi_host() == "127.0.0.1"
    assert _wsapi_host("--wsapi-host", "0.0.0.0") == "0.0.0.0"
    assert _wsapi_host("--wsapi-host=::1") == "::1"


# ---------------------------------------------------------------- other Ryu apps on the same server


class _FlowApp(ControllerBase):
    """Stands for ryu.app.ofctl_rest, which README runs beside epmip: a write route of its own."""

    changed: list = []

    @route("flows", "/stats/flowentry/add", methods=["POST"])
    def add(self, req, **_kw):
        _FlowApp.changed.append(req.body)
        return Response(status=200, body=b"")

    @route("flows", "/stats/flow/{dpid}", methods=["GET"])
    def flows(self, req, dpid, **_kw):
        return Response(status=200, content_type="application/json", body=b"{}")


@pytest.mark.parametrize("token", [TOKEN, None])
def test_write_calls_of_other_ryu_apps_need_the_token_too(net, token):
    _FlowApp.changed = []
    api = Api(net, token)
    wsgi = api.app.app
    wsgi.register(_FlowApp)
    assert api.call("/stats/flow/1").status_int == 200  # reads stay open
    answer = api.json("/stats/flowentry/add", 401 if token else 403, "POST", b'{"dpid": 1}')
    assert answer["status"] in (401, 403) and _FlowApp.changed == []
    wrong = {"Authorization": "Bearer not-the-token-0123456789"}
    assert api.call("/stats/flowentry/add", "POST", b'{"dpid": 1}', wrong).status_int == (401 if token else 403)
    resp = api.call("/stats/flowentry/add", "POST", b'{"dpid": 1}', AUTH)
    assert resp.status_int == (200 if token else 403)
    assert _FlowApp.changed == ([b'{"dpid": 1}'] if token else [])
    assert api.json("/stats/flowentry/add", 405, "GET")["status"] == 405


def test_the_controller_checks_the_token_without_the_guard_too(net):
    wsgi = WSGIApplication()
    sent: list = []
    rest_app.register_rest(wsgi, SimpleNamespace(core=net.ctl, send=sent.extend), token=TOKEN)
    body = json.dumps({"prefix": "2001:db8:e::/48"}).encode()
    bare = webob.Request.blank(PREFIXES, method="POST", body=body)
    bare.environ["epmip.authorized"] = False
    assert bare.get_response(wsgi).status_int == 401
    ok = webob.Request.blank(PREFIXES, method="POST", body=body, headers=AUTH)
    assert ok.get_response(wsgi).status_int == 201 and sent


def test_launcher_help_tells_the_loopback_default():
    code = "from apps.launcher import main; main()"
    out = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    help_text = " ".join(out.stdout.split())
    assert "webapp listen host (epmip-manager's default 127.0.0.1; ryu-manager's 0.0.0.0)" in help_text
