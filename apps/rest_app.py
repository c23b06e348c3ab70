"""epmip REST API (Ryu WSGI).  JSON in and out; every error, whatever the method or path, is JSON
``{"error": <one line>, "status": <code>, ...}``.

Endpoints (docs/openapi.yaml describes them in full):

    GET /epmip/v1/bindings                   every binding cache entry of every (e)LMA
    GET /epmip/v1/bindings/{mn_id}           one MN's entry (404 if it has none)
    GET /epmip/v1/locations?address=<ipv6>   the LMF's answer: which (e)LMA, which CoA
    GET /epmip/v1/switches                   switches, roles, connection state, attached MNs
    GET /epmip/v1/switches/{name}/drf        an eMAG's location cache, tunnels, redirects
    GET /epmip/v1/lmas/{name}/prefixes      the prefixes an (e)LMA manages
    POST /epmip/v1/lmas/{name}/prefixes      {"prefix": "2001:db8:e::/48"}: manage one more (§4.4.1)
    DELETE /epmip/v1/lmas/{name}/prefixes    {"prefix": "2001:db8:e::/48"}: stop managing it
    POST /epmip/v1/mobility/{mn_id}/link-going-down   predictive handoff hint: buffer the MN's downlink
    DELETE /epmip/v1/mobility/{mn_id}/link-going-down the hint is withdrawn: deliver on the MN's port again
    GET /epmip/v1/stats                      signalling messages and events counted by type
    GET /epmip/v1/messages                   the most recent signalling messages (?limit=N)
    GET /epmip/v1/paths?src=<mn_id>&dst=<ipv6>   the switches a packet crosses (model)
    GET /epmip/v1/openapi.yaml               this API's OpenAPI document

Safe to expose (docs/rest-security.md has the threat model):

* Write calls (POST, DELETE) need ``Authorization: Bearer <token>``; the token comes from
  ``EPMIP_REST_TOKEN`` or the domain file's ``rest.token``.  Without a token configured they are
  refused (403).  Reads are open.  ``epmip-manager`` listens on 127.0.0.1 unless told otherwise.
* ``JsonGuard`` stands in front of the whole WSGI application: unknown paths and methods, bodies
  and headers over their limits, a query string that is not UTF-8, and any exception become JSON
  errors before (or instead of) a handler runs; a traceback only goes to the log.
* Every input is checked before the core is called, and the core's own changes (add_prefix,
  remove_prefix, link_going_down) check everything before they change anything.
* ``harden_ryu_server`` makes Ryu's WSGI server run eventlet without debug tracebacks, with
  socket and keep-alive timeouts and a bounded request line (see its docstring).
"""

from __future__ import annotations

import contextlib
import hmac
import io
import ipaddress
import json
import logging
import os
import re
import resource
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from apps import compat

compat.apply()

from ryu.app.wsgi import ControllerBase, Response, route  # noqa: E402

LOG = logging.getLogger("epmip.rest")

APP_KEY = "epmip_app"
TOKEN_KEY = "epmip_token"
TOKEN_ATTR = "epmip_rest_token"  # on the WSGIApplication: JsonGuard's token for every write call
AUTHORIZED_KEY = "epmip.authorized"  # environ: JsonGuard accepted the token
READ_METHODS = ("GET", "HEAD", "OPTIONS")  # any other method a route takes is a write call
OPENAPI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "openapi.yaml")
ROUTES = [
    "/epmip/v1/bindings",
    "/epmip/v1/bindings/{mn_id}",
    "/epmip/v1/locations",
    "/epmip/v1/switches",
    "/epmip/v1/switches/{name}/drf",
    "/epmip/v1/lmas/{name}/prefixes",
    "/epmip/v1/mobility/{mn_id}/link-going-down",
    "/epmip/v1/stats",
    "/epmip/v1/messages",
    "/epmip/v1/paths",
    "/epmip/v1/openapi.yaml",
]
WRITE_METHODS = ["POST", "PUT", "DELETE", "PATCH"]
OTHER_METHODS = ["HEAD", "OPTIONS", "TRACE"]  # answered 405 like any method a path does not take
WRITABLE = {  # every other route is GET only
    "/epmip/v1/lmas/{name}/prefixes": ["GET", "POST", "DELETE"],
    "/epmip/v1/mobility/{mn_id}/link-going-down": ["POST", "DELETE"],
}
PROBE_METHODS = ["GET", *WRITE_METHODS, *OTHER_METHODS]  # tried on a path to fill in a 405's Allow

TOKEN_ENV = "EPMIP_REST_TOKEN"
TOKEN_RE = re.compile(r"[\x21-\x7e]{16,512}")  # the same rule as the domain file's rest.token
NO_TOKEN = (
    "write calls are disabled: no REST token is configured; set the environment variable "
    f"{TOKEN_ENV} or rest.token in the domain file (16+ visible ASCII characters) and send "
    "'Authorization: Bearer <token>'"
)

# Limits.  eventlet's own come first: a request line over URL_LIMIT bytes is answered 414, a header
# line over 8 KiB or headers over 64 KiB 400 (both with an empty body, before any of this runs).
MAX_BODY = 64 * 1024  # bytes of a request body (413 above)
MAX_HEADER_BYTES = 16 * 1024  # all request header names and values together (431 above)
MAX_HEADERS = 64  # request headers (431 above)
MAX_PARAM = 64  # characters of a query parameter, a path parameter, a prefix (400 or 404 above)
MAX_PATH = 1024  # characters of a path (404 above)
SHOWN = 48  # characters of a client's value repeated in an error message

# Ryu's WSGI server (harden_ryu_server).
URL_LIMIT = 8192  # request line, bytes (eventlet's default; a 5,000-digit ?limit= still reaches the API)
SOCKET_TIMEOUT = 10.0  # seconds one read or write on a client's socket may take
KEEPALIVE_TIMEOUT = 5.0  # seconds a connection may wait for its (next) request line
MAX_CONNECTIONS = 2048  # concurrent connections, fewer if the file descriptor limit is low
LISTEN_BACKLOG = 1024  # connections the kernel queues before accept (Ryu's socket has eventlet's 50)
FD_RESERVE = 256  # file descriptors kept for OpenFlow switches, logs and the rest of the process


# ---------------------------------------------------------------- responses


def _json(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    resp = Response(
        status=status,
        content_type="application/json",
        charset="utf-8",
        body=json.dumps(body, indent=1, sort_keys=True).encode(),
    )
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _error(status: int, message: str, headers: Mapping[str, str] | None = None, **extra: object) -> Response:
    return _json({"error": message, "status": status, **extra}, status, headers)


def _shown(value: object) -> str:
    """A client's value for an error message: repr (so one line, control characters escaped),
    at most SHOWN characters of it."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:SHOWN]) + ("..." if len(text) > SHOWN else "")


def _clip(value: str) -> str:
    return value[:SHOWN]


def _text(value: str) -> str | None:
    """A path parameter as the client sent it: WSGI hands over the URL's bytes as latin-1; they must
    be UTF-8 without control characters, at most MAX_PARAM characters.  None otherwise."""
    try:
        text = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    if len(text) > MAX_PARAM or _has_control(text):
        return None
    return text


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


# ---------------------------------------------------------------- tokens


def resolve_token(file_token: str | None, environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """The token write calls need and where it came from: ``EPMIP_REST_TOKEN`` if set and not
    empty (it wins), else the domain file's ``rest.token``, else none.  Raises ValueError for an
    environment token that breaks the rule (the domain file's is checked when it is loaded)."""
    env = os.environ if environ is None else environ
    value = env.get(TOKEN_ENV, "")
    if value:
        if not TOKEN_RE.fullmatch(value):
            raise ValueError(f"{TOKEN_ENV} must be 16-512 visible ASCII characters (no spaces)")
        return value, TOKEN_ENV
    if file_token is not None:
        return file_token, "the domain file (rest.token)"
    return None, "nowhere"


def check_token(token: str | None, authorization: str | None) -> Response | None:
    """None if ``authorization`` (the header) carries ``token`` as a bearer token; else the answer:
    403 if no token is configured, 401 (with WWW-Authenticate) if it is missing or wrong."""
    if token is None:
        return _error(403, NO_TOKEN)
    given = _bearer(authorization)
    if given is None:
        return _error(
            401,
            "write calls need 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="epmip"'},
        )
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
        return _error(
            401,
            "the bearer token is not the one configured",
            headers={"WWW-Authenticate": 'Bearer realm="epmip", error="invalid_token"'},
        )
    return None


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


# ---------------------------------------------------------------- the controller


class EpmipRestController(ControllerBase):
    def __init__(self, req, link, data, **config) -> None:
        super().__init__(req, link, data, **config)
        self.app = data[APP_KEY]
        self.token: str | None = data.get(TOKEN_KEY)

    @property
    def core(self):
        return self.app.core

    # ------------------------------------------------------------ reads

    @route("epmip", "/epmip/v1/bindings", methods=["GET"])
    def list_bindings(self, req, **_kw):
        return _json({"bindings": self.core.bindings()})

    @route("epmip", "/epmip/v1/bindings/{mn_id}", methods=["GET"])
    def get_binding(self, req, mn_id, **_kw):
        mn = _text(mn_id)
        bce = self.core.binding(mn) if mn is not None else None
        if bce is None:
            known = mn is not None and mn in self.core.domain.mobile_nodes
            why = "has no binding" if known else "is not a mobile node of this domain"
            return _error(404, f"mobile node {_shown(mn or mn_id)} {why}", mn_id=_clip(mn or mn_id))
        return _json(bce)

    @route("epmip", "/epmip/v1/locations", methods=["GET"])
    def locate(self, req, **_kw):
        address, err = _address_param(req, "address")
        if err is not None:
            return err
        return _json(self.core.locate(address))

    @route("epmip", "/epmip/v1/switches", methods=["GET"])
    def switches(self, req, **_kw):
        return _json({"switches": self.core.switches()})

    @route("epmip", "/epmip/v1/switches/{name}/drf", methods=["GET"])
    def drf(self, req, name, **_kw):
        sw = _text(name)
        state = self.core.drf(sw) if sw is not None else None
        if state is None:
            known = sw is not None and sw in self.core.domain.switches
            why = "is not an eMAG (no DRF)" if known else "is not a switch of this domain"
            return _error(404, f"switch {_shown(sw or name)} {why}", name=_clip(sw or name))
        return _json(state)

    @route("epmip", "/epmip/v1/lmas/{name}/prefixes", methods=["GET"])
    def lma_prefixes(self, req, name, **_kw):
        lma = _text(name)
        sw = self.core.domain.switches.get(lma) if lma is not None else None
        if sw is None or not sw.is_lma:
            return _error(404, f"{_shown(lma or name)} is not an elma or lma of this domain", name=_clip(lma or name))
        return _json({"lma": lma, "prefixes": [str(p) for p in sw.prefixes]})

    @route("epmip", "/epmip/v1/stats", methods=["GET"])
    def stats(self, req, **_kw):
        out = self.core.stats()
        heap = getattr(self.app, "heap", None)
        if heap is not None:  # apps/heap.py: a leak among frozen objects would show here
            out["heap"] = heap.stats()
        return _json(out)

    @route("epmip", "/epmip/v1/messages", methods=["GET"])
    def messages(self, req, **_kw):
        raw = req.GET.get("limit", "50")
        # length first: int() of more than 4300 digits raises; isascii: str.isdigit() also accepts
        # digits such as '²' that int() rejects
        limit = int(raw) if len(raw) <= 4 and raw.isascii() and raw.isdigit() else 0
        if not 1 <= limit <= 1000:
            return _bad_param("limit", f"{_shown(raw)} is not an integer from 1 to 1000")
        return _json({"messages": self.core.bus.recent(limit)})

    @route("epmip", "/epmip/v1/paths", methods=["GET"])
    def path(self, req, **_kw):
        src = req.GET.get("src")
        if not src:
            return _bad_param("src", "is required (a mobile node id)")
        if len(src) > MAX_PARAM or _has_control(src):
            return _bad_param("src", f"{_shown(src)} is not a mobile node id (at most {MAX_PARAM} characters)")
        dst, err = _address_param(req, "dst")
        if err is not None:
            return err
        try:
            return _json({"src": src, "dst": str(dst), "switches": self.core.path(src, dst)})
        except LookupError:
            return _error(404, f"mobile node {_shown(src)} is not attached", parameter="src")

    @route("epmip", "/epmip/v1/openapi.yaml", methods=["GET"])
    def openapi(self, req, **_kw):
        with open(OPENAPI, "rb") as fh:
            return Response(status=200, content_type="application/yaml", body=fh.read())

    # ------------------------------------------------------------ writes (token required)

    @route("epmip", "/epmip/v1/lmas/{name}/prefixes", methods=["POST"])
    def add_lma_prefix(self, req, name, **_kw):
        return self._change_prefix(req, name, self.core.add_prefix, 201)

    @route("epmip", "/epmip/v1/lmas/{name}/prefixes", methods=["DELETE"])
    def remove_lma_prefix(self, req, name, **_kw):
        return self._change_prefix(req, name, self.core.remove_prefix, 200)

    def _change_prefix(self, req, name, change, ok: int):
        denied = self._authorize(req)
        if denied is not None:
            return denied
        body, err = _json_body(req)
        if err is not None:
            return err
        if not isinstance(body, dict) or set(body) != {"prefix"}:
            return _bad_field("prefix", 'the body must be {"prefix": "<IPv6 prefix>"} and nothing else')
        prefix = body["prefix"]
        if not isinstance(prefix, str) or not PREFIX_CHARS.fullmatch(prefix):
            return _bad_field("prefix", f"{_shown(prefix)} is not an IPv6 prefix such as 2001:db8:e::/48")
        lma = _text(name)
        if lma is None:
            return _error(404, f"{_shown(name)} is not an elma or lma of this domain", name=_clip(name))
        # the core checks everything (LMA, prefix, overlap, use) before it changes anything
        with self._exclusive():
            try:
                result, intents = change(lma, prefix, time.monotonic())
            except LookupError as exc:
                return _error(404, str(exc), name=lma)
            except ValueError as exc:
                return _bad_field("prefix", str(exc))
            self.app.send(intents)
        return _json(result, ok)

    @route("epmip", "/epmip/v1/mobility/{mn_id}/link-going-down", methods=["POST"])
    def link_going_down(self, req, mn_id, **_kw):
        return self._hint(req, mn_id, self.core.link_going_down, 202)

    @route("epmip", "/epmip/v1/mobility/{mn_id}/link-going-down", methods=["DELETE"])
    def cancel_link_going_down(self, req, mn_id, **_kw):
        return self._hint(req, mn_id, self.core.cancel_link_going_down, 200)

    def _hint(self, req, mn_id, change, ok: int):
        """Give (POST) or withdraw (DELETE) a predictive handoff hint for ``mn_id``."""
        denied = self._authorize(req)
        if denied is not None:
            return denied
        if req.body:  # optional; if sent, an empty JSON object
            body, err = _json_body(req)
            if err is not None:
                return err
            if body != {}:
                return _error(400, "the body must be empty or {}", field="body")
        mn = _text(mn_id)
        if mn is None:
            return _error(404, f"mobile node {_shown(mn_id)} is not attached anywhere", mn_id=_clip(mn_id))
        with self._exclusive():
            try:
                result, intents = change(mn, time.monotonic())
            except LookupError as exc:
                return _error(404, str(exc), mn_id=_clip(mn))
            except ValueError as exc:  # handoff buffering is not 'predictive'
                return _error(409, str(exc), mn_id=_clip(mn))
            self.app.send(intents)
        return _json(result, ok)

    def _exclusive(self):
        """The app's lock around every change of the core and the sending of its intents (a store
        write may yield to another green thread: see ``EpmipApp.core_lock``)."""
        return getattr(self.app, "core_lock", None) or contextlib.nullcontext()

    def _authorize(self, req) -> Response | None:
        if req.environ.get(AUTHORIZED_KEY):  # JsonGuard checked it (a client cannot set environ keys)
            return None
        return check_token(self.token, req.headers.get("Authorization"))


PREFIX_CHARS = re.compile(rf"[0-9A-Fa-f:./]{{1,{MAX_PARAM}}}")


def _bad_param(name: str, what: str) -> Response:
    return _error(400, f"query parameter '{name}': {what}", parameter=name)


def _bad_field(name: str, what: str) -> Response:
    return _error(400, f"field '{name}': {what}", field=name)


def _address_param(req, name: str):
    value = req.GET.get(name)
    if value is None:
        return None, _bad_param(name, "is required (an IPv6 address)")
    # '%' would be a scope (fe80::1%eth0): ipaddress takes it, no switch knows it
    if len(value) > MAX_PARAM or "%" in value:
        return None, _bad_param(name, f"{_shown(value)} is not an IPv6 address")
    try:
        return ipaddress.IPv6Address(value), None
    except ValueError:
        return None, _bad_param(name, f"{_shown(value)} is not an IPv6 address")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _json_body(req) -> tuple[object, Response | None]:
    """The request body as JSON: UTF-8, at most MAX_BODY bytes, no duplicate keys, no NaN or
    Infinity, nested no deeper than Python's recursion limit lets the parser go."""
    if req.content_length is not None and req.content_length > MAX_BODY:
        return None, _too_large()
    raw = req.body
    if len(raw) > MAX_BODY:
        return None, _too_large()
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_reject_constant), None
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, _error(
            400, "request body is not JSON (UTF-8, no duplicate keys, not too deeply nested)", field="body"
        )


def _too_large() -> Response:
    return _error(413, f"request body is larger than {MAX_BODY} bytes")


def register_rest(wsgi, app, token: str | None = None) -> None:
    """Serve the API for ``app`` (it has ``core`` and ``send``).  ``token``: what write calls must
    send as a bearer token; None refuses them (403).  Also hardens Ryu's WSGI server."""
    harden_ryu_server()
    setattr(wsgi, TOKEN_ATTR, token)
    wsgi.register(EpmipRestController, {APP_KEY: app, TOKEN_KEY: token})


# ---------------------------------------------------------------- in front of every handler

StartResponse = Callable[..., Any]


class JsonGuard:
    """WSGI middleware in front of Ryu's WSGIApplication (all its controllers, epmip's and any other
    Ryu app's): whatever a request is, the answer is JSON and no exception escapes.

    Before a handler runs, in this order: a path that is not UTF-8, has control characters or is
    longer than MAX_PATH -> 404; a path no route has -> 404 (under /epmip/ with the list of
    endpoints); a method the path does not take -> 405 with ``Allow``; over MAX_HEADERS headers or
    MAX_HEADER_BYTES of them -> 431; a write call (any method but GET, HEAD, OPTIONS, on any
    route: ofctl_rest's flow changes too) without the bearer token -> 401, or 403 with no token
    configured; a query string that is not UTF-8 -> 400; a body over MAX_BODY (by Content-Length,
    or read up to the limit when chunked) -> 413.  An exception anywhere -> 500
    ``{"error": "internal error"}`` and the traceback to the log.

    ``token``: the bearer token; by default the one register_rest put on ``app`` (none: every
    write call is refused)."""

    def __init__(self, app, token: str | None = None) -> None:
        self.app = app
        self.mapper = getattr(app, "mapper", None)
        self.token = token if token is not None else getattr(app, TOKEN_ATTR, None)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = False

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal started
            started = True
            return start_response(status, headers, exc_info)

        try:
            refused = self._screen(environ)
            if refused is not None:
                return refused(environ, start)
            return self.app(environ, start)
        except Exception:
            LOG.exception(
                "REST %s %s failed", str(environ.get("REQUEST_METHOD"))[:16], _shown(environ.get("PATH_INFO", ""))
            )
            resp = _error(500, "internal error")
            # PEP 3333: exc_info only when replacing headers already given (the server re-raises if
            # they were sent, and a webob test client re-raises whenever it is passed)
            start_response(resp.status, resp.headerlist, *([sys.exc_info()] if started else []))
            return [resp.body]

    def _screen(self, environ: dict[str, Any]) -> Response | None:
        method = str(environ.get("REQUEST_METHOD", ""))
        raw_path = str(environ.get("PATH_INFO", ""))
        path = _text_path(raw_path)
        if path is None:
            return _error(404, f"no such endpoint {_shown(raw_path)}")
        if self.mapper is not None and self.mapper.match(raw_path, {"REQUEST_METHOD": method}) is None:
            allowed = [m for m in PROBE_METHODS if self.mapper.match(raw_path, {"REQUEST_METHOD": m}) is not None]
            if allowed:
                return _error(
                    405,
                    f"method {_shown(method)} is not allowed on {_shown(path)}; use {', '.join(allowed)}",
                    headers={"Allow": ", ".join(allowed)},
                )
            if path.startswith("/epmip/"):
                return _error(404, f"no such endpoint {_shown(path)}", endpoints=ROUTES)
            return _error(404, f"no such endpoint {_shown(path)}")
        headers = [
            (k, str(v)) for k, v in environ.items() if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")
        ]
        if len(headers) > MAX_HEADERS or sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
            return _error(431, f"request headers are larger than {MAX_HEADER_BYTES} bytes or more than {MAX_HEADERS}")
        if method not in READ_METHODS:
            denied = check_token(self.token, environ.get("HTTP_AUTHORIZATION"))
            if denied is not None:
                return denied
            environ[AUTHORIZED_KEY] = True
        try:
            urllib.parse.parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            return _error(400, "the query string is not UTF-8", parameter="query")
        return self._screen_body(environ)

    @staticmethod
    def _screen_body(environ: dict[str, Any]) -> Response | None:
        length = str(environ.get("CONTENT_LENGTH") or "")
        if length:
            if not (length.isascii() and length.isdigit()):
                return _error(400, "Content-Length is not a number")
            if len(length) > 12 or int(length) > MAX_BODY:
                return _too_large()
            return None
        if "chunked" not in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
            return None
        try:  # no length given: read up to the limit (and a byte more, to know it was passed)
            data = environ["wsgi.input"].read(MAX_BODY + 1)
        except (OSError, ValueError):
            return _error(400, "the chunked request body is malformed")
        if len(data) > MAX_BODY:
            return _too_large()
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        return None


def _text_path(raw: str) -> str | None:
    try:
        path = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    if len(path) > MAX_PATH or _has_control(path):
        return None
    return path


# ---------------------------------------------------------------- Ryu's WSGI server


def server_options() -> dict[str, Any]:
    """What ``eventlet.wsgi.server`` is given (Ryu 4.34 passes none of it: debug tracebacks on,
    no socket timeout, keep-alive forever, 8 KiB request lines, 1024 connections)."""
    return {
        "debug": False,  # a 500 from eventlet itself carries no traceback (JsonGuard answers first anyway)
        "socket_timeout": SOCKET_TIMEOUT,
        "keepalive": KEEPALIVE_TIMEOUT,
        "url_length_limit": URL_LIMIT,
        "max_size": _max_connections(),
    }


def _max_connections() -> int:
    """MAX_CONNECTIONS, or fewer so that a full pool cannot use up the process's file descriptors
    (accept() failing with EMFILE would end eventlet's server loop).  The soft limit is raised to
    the hard one first where it is lower than the pool needs."""
    want = MAX_CONNECTIONS + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - FD_RESERVE))


def _serve_forever(self) -> None:
    """Replaces ``ryu.lib.hub.WSGIServer.serve_forever`` for Ryu's REST server (``ryu.app.wsgi.
    WSGIServer``), which is ``eventlet.wsgi.server(self.server, self.handle, self.logger)`` in Ryu
    4.34 - eventlet's defaults, so a traceback in every 500 (debug=True) and no socket timeout (a
    half-open connection holds its slot in the 1024-connection pool for ever) - on a socket
    listening with a backlog of 50 (a burst of connections makes clients wait for SYN retries).
    Ryu takes no options for either, hence the patch; the only changes are JsonGuard,
    ``server_options`` and the backlog."""
    import eventlet.wsgi
    from ryu.lib import hub

    self.logger = hub.LoggingWrapper()
    self.server.listen(LISTEN_BACKLOG)  # again, on the bound socket: only the queue length changes
    eventlet.wsgi.server(self.server, JsonGuard(self.handle), self.logger, **server_options())


def harden_ryu_server() -> None:
    """Install ``_serve_forever`` on Ryu's REST server class (idempotent).  Call before Ryu starts
    the server (``ryu.app.wsgi.start_service``, after every app is instantiated)."""
    from ryu.app import wsgi

    wsgi.WSGIServer.serve_forever = _serve_forever
