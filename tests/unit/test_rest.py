"""The REST API in-process: a Ryu WSGIApplication with the epmip controller registered behind
rest_app.JsonGuard (as Ryu's server runs it), driven by webob requests (no socket, no eventlet
server).  Also checks docs/openapi.yaml against ROUTES.  Security: test_rest_security.py."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import webob
import yaml
from ryu.app.wsgi import WSGIApplication

from apps import rest_app

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
API = "/epmip/v1"
TOKEN = "unit-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Client:
    def __init__(self, wsgi) -> None:
        self.wsgi = rest_app.JsonGuard(wsgi)

    def request(self, path: str, method: str = "GET") -> webob.Response:
        return webob.Request.blank(path, method=method).get_response(self.wsgi)

    def json(self, path: str, status: int = 200, method: str = "GET") -> dict:
        resp = self.request(path, method)
        assert resp.status_int == status, resp.body
        assert resp.content_type == "application/json"
        return json.loads(resp.body)


@pytest.fixture
def rest(net):
    net.attach("mn1", now=1.0)
    net.attach("mn2", now=2.0)
    net.attach("cn2", now=3.0)
    wsgi = WSGIApplication()
    rest_app.register_rest(wsgi, SimpleNamespace(core=net.ctl), token=TOKEN)
    return Client(wsgi)


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def _error(body: dict, status: int) -> str:
    assert set(body) >= {"error", "status"}
    assert body["status"] == status
    assert isinstance(body["error"], str) and "\n" not in body["error"]
    return body["error"]


# ---------------------------------------------------------------- bindings


def test_list_bindings(rest):
    body = rest.json(f"{API}/bindings")
    by_mn = {b["mn_id"]: b for b in body["bindings"]}
    assert set(by_mn) == {"mn1", "mn2", "cn2"}
    assert by_mn["mn1"]["lma"] == "elma1" and by_mn["mn1"]["proxy_coa"] == "2001:db8:ffff::1"
    assert by_mn["mn2"]["lma"] == "elma3" and by_mn["mn2"]["proxy_coa"] == "2001:db8:ffff::4"
    assert by_mn["cn2"]["lma"] == "lma" and by_mn["cn2"]["hnps"] == ["2001:db8:1:5::/64"]
    assert all(b["state"] == "active" for b in body["bindings"])


def test_one_binding(rest, spec):
    body = rest.json(f"{API}/bindings/mn1")
    assert body["mn_id"] == "mn1"
    assert body["hnps"] == ["2001:db8:a:1::/64"]
    assert body["previous_coa"] is None
    assert body["expires_at"] == 61.0
    assert set(body) == set(spec["components"]["schemas"]["Binding"]["required"])


def test_unknown_mn_is_404_naming_it(rest):
    body = rest.json(f"{API}/bindings/mn99", status=404)
    assert "mn99" in _error(body, 404)
    assert "not a mobile node" in body["error"]
    assert body["mn_id"] == "mn99"


def test_known_mn_without_binding_is_404(rest):
    body = rest.json(f"{API}/bindings/mn3", status=404)
    assert "mn3" in _error(body, 404) and "has no binding" in body["error"]


# ---------------------------------------------------------------- locations


def test_location_of_bound_address(rest, spec):
    body = rest.json(f"{API}/locations?address=2001:db8:a:1::10")
    assert body["lma"] == "elma1" and body["lmf"] is True
    assert body["coa"] == "2001:db8:ffff::1" and body["coa_switch"] == "emag1"
    assert body["mn_id"] == "mn1" and body["hnp"] == "2001:db8:a:1::/64"
    assert set(body) == set(spec["components"]["schemas"]["Location"]["required"])


def test_location_on_legacy_lma_and_fixed_network(rest):
    legacy = rest.json(f"{API}/locations?address=2001:db8:1:5::1")
    assert legacy["lma"] == "lma" and legacy["lmf"] is False and legacy["coa_switch"] == "mag5"
    fixed = rest.json(f"{API}/locations?address=2001:db8:f::10")
    assert fixed["lma"] is None and fixed["fixed_network"] == "2001:db8:f::/64"
    assert fixed["coa_switch"] == "ar1"
    unbound = rest.json(f"{API}/locations?address=2001:db8:a:77::1")
    assert unbound["lma"] == "elma1" and unbound["coa"] is None


@pytest.mark.parametrize(
    "query",
    [
        "address=zzz",
        "address=",
        "address=2001:db8:a::/64",
        "address=10.0.0.1",
        "address=2001:db8:a:1::1&address=x",
    ],
)
def test_malformed_address_is_400_naming_parameter(rest, query):
    body = rest.json(f"{API}/locations?{query}", status=400)
    assert "'address'" in _error(body, 400)
    assert body["parameter"] == "address"


def test_missing_address_is_400(rest):
    body = rest.json(f"{API}/locations", status=400)
    assert "'address'" in _error(body, 400) and "required" in body["error"]
    assert body["parameter"] == "address"


# ---------------------------------------------------------------- switches, stats, messages, paths


def test_switches(rest, spec):
    switches = {s["name"]: s for s in rest.json(f"{API}/switches")["switches"]}
    assert len(switches) == 11
    assert all(s["connected"] for s in switches.values())
    emag1 = switches["emag1"]
    assert emag1["role"] == "emag" and emag1["dpid"] == 1 and emag1["label"] == 1
    (att,) = emag1["attached"]
    assert att["mn_id"] == "mn1" and att["state"] == "bound" and att["daf"] is True
    assert switches["mag5"]["attached"][0]["daf"] is False
    assert switches["elma1"]["bindings"] == 1 and switches["elma1"]["prefixes"] == ["2001:db8:a::/48"]
    assert "attached" not in switches["c1"] and "bindings" not in switches["c1"]
    required = set(spec["components"]["schemas"]["Switch"]["required"])
    assert all(required <= set(s) for s in switches.values())


def test_stats_count_pbu_and_pba(rest):
    body = rest.json(f"{API}/stats")
    assert body["messages"] == {"PBA": 3, "PBU": 3}
    assert body["messages_total"] == 6
    assert body["signalling_bytes"] > 0
    assert body["signalling_errors"] == {}
    assert body["events"]["registration_completed"] == 3
    assert body["latency"]["registration"]["count"] == 3


def test_messages(rest):
    msgs = rest.json(f"{API}/messages")["messages"]
    assert [(m["type"], m["src"], m["dst"]) for m in msgs] == [
        ("PBU", "emag1", "elma1"), ("PBA", "elma1", "emag1"),
        ("PBU", "emag4", "elma3"), ("PBA", "elma3", "emag4"),
        ("PBU", "mag5", "lma"), ("PBA", "lma", "mag5"),
    ]  # fmt: skip
    last = rest.json(f"{API}/messages?limit=2")["messages"]
    assert [m["src"] for m in last] == ["mag5", "lma"]


@pytest.mark.parametrize("limit", ["bad", "0", "1001", "-1", "1.5", "%C2%B2", ""])
def test_messages_bad_limit_is_400(rest, limit):
    body = rest.json(f"{API}/messages?limit={limit}", status=400)
    assert "'limit'" in _error(body, 400)
    assert body["parameter"] == "limit"


def test_paths(rest):
    body = rest.json(f"{API}/paths?src=mn1&dst=2001:db8:c:2::1")
    assert body["switches"][0] == "emag1" and body["switches"][-1] == "emag4"
    assert "elma1" in body["switches"] and "elma3" in body["switches"]
    assert _error(rest.json(f"{API}/paths?dst=2001:db8:c:2::1", status=400), 400)
    assert rest.json(f"{API}/paths?src=mn1&dst=nope", status=400)["parameter"] == "dst"
    body = rest.json(f"{API}/paths?src=mn3&dst=2001:db8:c:2::1", status=404)
    assert "mn3" in _error(body, 404) and body["parameter"] == "src"


# ---------------------------------------------------------------- errors for paths and methods


@pytest.mark.parametrize("path", [f"{API}/nothing", f"{API}/bindings/mn1/extra", f"{API}/binding"])
def test_unknown_endpoint_is_404_json(rest, path):
    body = rest.json(path, status=404)
    assert "no such endpoint" in _error(body, 404)
    assert body["endpoints"] == rest_app.ROUTES


@pytest.mark.parametrize("method", [*rest_app.WRITE_METHODS, "OPTIONS", "TRACE", "BREW"])
@pytest.mark.parametrize(
    "path",
    [
        f"{API}/bindings",
        f"{API}/bindings/mn1",
        f"{API}/locations",
        f"{API}/stats",
        f"{API}/openapi.yaml",
    ],
)
def test_write_methods_are_405_json(rest, method, path):
    body = rest.json(path, status=405, method=method)
    assert method in _error(body, 405) and "GET" in body["error"]
    assert rest.request(path, method).headers["Allow"] == "GET"
    assert rest.json(f"{API}/bindings")["bindings"]  # nothing was changed


# ---------------------------------------------------------------- the OpenAPI document


def test_openapi_is_served(rest):
    resp = rest.request(f"{API}/openapi.yaml")
    assert resp.status_int == 200
    assert resp.content_type == "application/yaml"
    assert yaml.safe_load(resp.body) == yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def test_openapi_describes_every_route(spec):
    assert spec["openapi"].startswith("3.0")
    assert set(spec["paths"]) == set(rest_app.ROUTES)
    for path in rest_app.ROUTES:
        item = spec["paths"][path]
        taken = rest_app.WRITABLE.get(path, ["GET"])
        for method in ["GET", *rest_app.WRITE_METHODS, *rest_app.OTHER_METHODS]:
            responses = item[method.lower()]["responses"]
            assert "500" in responses, (path, method)
            if method in taken:
                assert {"413", "431"} <= set(responses), (path, method)
                assert "405" not in responses, (path, method)
            else:
                assert "405" in responses, (path, method)
            writes = method in taken and method != "GET"
            assert ("security" in item[method.lower()]) == writes, (path, method)
            if writes:
                assert {"401", "403"} <= set(responses), (path, method)
    assert "201" in spec["paths"][f"{API}/lmas/{{name}}/prefixes"]["post"]["responses"]
    assert "202" in spec["paths"][f"{API}/mobility/{{mn_id}}/link-going-down"]["post"]["responses"]
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    # every path parameter in a route is declared
    assert spec["paths"][f"{API}/bindings/{{mn_id}}"]["parameters"][0]["name"] == "mn_id"


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        for part in node["$ref"].removeprefix("#/").split("/"):
            spec = spec[part]
        node = spec if isinstance(spec, dict) else {}
    return node


def test_openapi_error_responses_use_the_error_schema(spec):
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "status"}
    root = spec
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            for code, response in op["responses"].items():
                if code[0] in "45":
                    schema = _resolve(root, response)["content"]["application/json"]["schema"]
                    assert "#/components/schemas/Error" in set(_refs(schema)), (path, method, code)
    for ref in _refs(spec):  # every reference resolves
        node = spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    for name, headers in (("MethodNotAllowed", {"Allow"}), ("Unauthorized", {"WWW-Authenticate"})):
        declared = spec["components"]["responses"][name]["headers"]
        assert set(declared) == headers and all(h["required"] for h in declared.values())


def test_add_prefix_at_run_time(net):
    sent: list = []
    wsgi = WSGIApplication()
    rest_app.register_rest(wsgi, SimpleNamespace(core=net.ctl, send=sent.extend), token=TOKEN)
    app = rest_app.JsonGuard(wsgi)

    def post(path: str, body, method: str = "POST") -> tuple[int, dict]:
        req = webob.Request.blank(path, method=method, body=json.dumps(body).encode(), headers=AUTH)
        resp = req.get_response(app)
        return resp.status_int, json.loads(resp.body)

    status, body = post(f"{API}/lmas/elma1/prefixes", {"prefix": "2001:db8:e::/48"})
    assert status == 201 and "2001:db8:e::/48" in body["prefixes"]
    # every other switch got a route toward elma1 for it, and the LMF answers for it
    routed = {i.dpid for i in sent if getattr(i, "match", {}).get("ipv6_dst") == "2001:db8:e::/48"}
    assert routed == {sw.dpid for sw in net.ctl.domain.switches.values() if sw.name != "elma1"}
    assert net.ctl.locate(ipaddress.IPv6Address("2001:db8:e::1"))["lma"] == "elma1"
    assert net.ctl.find_lmf(ipaddress.IPv6Address("2001:db8:e::1")) == "elma1"
    for bad in ({"prefix": "2001:db8:a::/56"}, {"prefix": "zz"}, {}, {"prefix": "2001:db8:e0::/120"}):
        status, body = post(f"{API}/lmas/elma1/prefixes", bad)
        assert status == 400 and body["field"] == "prefix", body
    status, body = post(f"{API}/lmas/emag1/prefixes", {"prefix": "2001:db8:9::/48"})
    assert status == 404 and "emag1" in body["error"]
    status, body = post(f"{API}/lmas/elma1/prefixes", {}, method="PUT")
    assert status == 405 and "GET, POST, DELETE" in body["error"]
    status, body = post(f"{API}/lmas/elma1/prefixes", {"prefix": "8000::/1"})
    assert status == 400 and "wider than /32" in body["error"]


def test_remove_a_prefix_added_at_run_time(net):
    sent: list = []
    wsgi = WSGIApplication()
    rest_app.register_rest(wsgi, SimpleNamespace(core=net.ctl, send=sent.extend), token=TOKEN)
    app = rest_app.JsonGuard(wsgi)

    def call(method: str, body) -> tuple[int, dict]:
        req = webob.Request.blank(
            f"{API}/lmas/elma1/prefixes", method=method, body=json.dumps(body).encode(), headers=AUTH
        )
        resp = req.get_response(app)
        return resp.status_int, json.loads(resp.body)

    assert call("POST", {"prefix": "2001:db8:e::/48"})[0] == 201
    added = [i for i in sent if getattr(i, "match", {}).get("ipv6_dst") == "2001:db8:e::/48"]
    sent.clear()
    status, body = call("DELETE", {"prefix": "2001:db8:e::/48"})
    assert status == 200 and "2001:db8:e::/48" not in body["prefixes"]
    removed = [i for i in sent if getattr(i, "match", {}).get("ipv6_dst") == "2001:db8:e::/48"]
    assert {(i.dpid, i.command) for i in removed} == {(i.dpid, "delete_strict") for i in added}
    assert net.ctl.find_lmf(ipaddress.IPv6Address("2001:db8:e::1")) is None
    assert call("DELETE", {"prefix": "2001:db8:e::/48"})[0] == 404  # no longer managed
    status, body = call("DELETE", {"prefix": "2001:db8:a::/48"})
    assert status == 400 and "first prefix" in body["error"]  # elma1's HNP pool stays
