"""epmip REST API (Ryu WSGI).  JSON in and out; errors are JSON ``{"error": ...}`` with a 4xx code.

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
    GET /epmip/v1/stats                      signalling messages and events counted by type
    GET /epmip/v1/messages                   the most recent signalling messages (?limit=N)
    GET /epmip/v1/paths?src=<mn_id>&dst=<ipv6>   the switches a packet crosses (model)
    GET /epmip/v1/openapi.yaml               this API's OpenAPI document
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time

from apps import compat

compat.apply()

from ryu.app.wsgi import ControllerBase, Response, route  # noqa: E402

APP_KEY = "epmip_app"
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
WRITABLE = {  # every other route is GET only
    "/epmip/v1/lmas/{name}/prefixes": ["GET", "POST", "DELETE"],
    "/epmip/v1/mobility/{mn_id}/link-going-down": ["POST"],
}


def _json(body, status: int = 200) -> Response:
    return Response(
        status=status,
        content_type="application/json",
        charset="utf-8",
        body=json.dumps(body, indent=1, sort_keys=True).encode(),
    )


def _error(status: int, message: str, **extra) -> Response:
    return _json({"error": message, "status": status, **extra}, status)


def _address_param(req, name: str):
    value = req.GET.get(name)
    if value is None:
        return None, _error(400, f"query parameter '{name}' is required (an IPv6 address)", parameter=name)
    try:
        return ipaddress.IPv6Address(value), None
    except ValueError:
        return None, _error(400, f"query parameter '{name}': {value!r} is not an IPv6 address", parameter=name)


class EpmipRestController(ControllerBase):
    def __init__(self, req, link, data, **config) -> None:
        super().__init__(req, link, data, **config)
        self.app = data[APP_KEY]

    @property
    def core(self):
        return self.app.core

    @route("epmip", "/epmip/v1/bindings", methods=["GET"])
    def list_bindings(self, req, **_kw):
        return _json({"bindings": self.core.bindings()})

    @route("epmip", "/epmip/v1/bindings/{mn_id}", methods=["GET"])
    def get_binding(self, req, mn_id, **_kw):
        bce = self.core.binding(mn_id)
        if bce is None:
            known = mn_id in self.core.domain.mobile_nodes
            why = "has no binding" if known else "is not a mobile node of this domain"
            return _error(404, f"mobile node {mn_id!r} {why}", mn_id=mn_id)
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
        state = self.core.drf(name)
        if state is None:
            known = name in self.core.domain.switches
            why = "is not an eMAG (no DRF)" if known else "is not a switch of this domain"
            return _error(404, f"switch {name!r} {why}", name=name)
        return _json(state)

    @route("epmip", "/epmip/v1/lmas/{name}/prefixes", methods=["GET"])
    def lma_prefixes(self, req, name, **_kw):
        sw = self.core.domain.switches.get(name)
        if sw is None or not sw.is_lma:
            return _error(404, f"{name!r} is not an elma or lma of this domain", name=name)
        return _json({"lma": name, "prefixes": [str(p) for p in sw.prefixes]})

    @route("epmip", "/epmip/v1/lmas/{name}/prefixes", methods=["POST"])
    def add_lma_prefix(self, req, name, **_kw):
        return self._change_prefix(req, name, self.core.add_prefix, 201)

    @route("epmip", "/epmip/v1/lmas/{name}/prefixes", methods=["DELETE"])
    def remove_lma_prefix(self, req, name, **_kw):
        return self._change_prefix(req, name, self.core.remove_prefix, 200)

    def _change_prefix(self, req, name, change, ok: int):
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            return _error(400, 'request body is not JSON; expected {"prefix": "2001:db8:e::/48"}')
        prefix = body.get("prefix") if isinstance(body, dict) else None
        if not isinstance(prefix, str):
            return _error(400, "field 'prefix' is required (a string such as 2001:db8:e::/48)", field="prefix")
        try:
            result, intents = change(name, prefix, time.monotonic())
        except LookupError as exc:
            return _error(404, str(exc), name=name)
        except ValueError as exc:
            return _error(400, str(exc), field="prefix")
        self.app.send(intents)
        return _json(result, ok)

    @route("epmip", "/epmip/v1/mobility/{mn_id}/link-going-down", methods=["POST"])
    def link_going_down(self, req, mn_id, **_kw):
        try:
            result, intents = self.core.link_going_down(mn_id, time.monotonic())
        except LookupError as exc:
            return _error(404, str(exc), mn_id=mn_id)
        except ValueError as exc:
            return _error(409, str(exc), mn_id=mn_id)
        self.app.send(intents)
        return _json(result, 202)

    @route("epmip", "/epmip/v1/stats", methods=["GET"])
    def stats(self, req, **_kw):
        return _json(self.core.stats())

    @route("epmip", "/epmip/v1/messages", methods=["GET"])
    def messages(self, req, **_kw):
        raw = req.GET.get("limit", "50")
        # isascii: str.isdigit() also accepts digits such as '²' that int() rejects
        limit = int(raw) if raw.isascii() and raw.isdigit() else 0
        if not 1 <= limit <= 1000:
            return _error(400, f"query parameter 'limit': {raw!r} is not an integer from 1 to 1000", parameter="limit")
        return _json({"messages": self.core.bus.recent(limit)})

    @route("epmip", "/epmip/v1/paths", methods=["GET"])
    def path(self, req, **_kw):
        src = req.GET.get("src")
        if not src:
            return _error(400, "query parameter 'src' is required (a mobile node id)", parameter="src")
        dst, err = _address_param(req, "dst")
        if err is not None:
            return err
        try:
            return _json({"src": src, "dst": str(dst), "switches": self.core.path(src, dst)})
        except LookupError as exc:
            return _error(404, str(exc), parameter="src")

    @route("epmip", "/epmip/v1/openapi.yaml", methods=["GET"])
    def openapi(self, req, **_kw):
        with open(OPENAPI, "rb") as fh:
            return Response(status=200, content_type="application/yaml", body=fh.read())

    @route("epmip", "/epmip/v1/{anything:.*}", methods=["GET"] + WRITE_METHODS)
    def zz_not_found(self, req, anything, **_kw):  # name sorts last: Ryu registers routes by name
        path = "/epmip/v1/" + anything.split("?")[0]
        for template in ROUTES:
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
                allowed = ", ".join(WRITABLE.get(template, ["GET"]))
                return _error(405, f"method {req.method} is not allowed on {path}; use {allowed}")
        return _error(404, f"no such endpoint {path}", endpoints=ROUTES)


def register_rest(wsgi, app) -> None:
    wsgi.register(EpmipRestController, {APP_KEY: app})
