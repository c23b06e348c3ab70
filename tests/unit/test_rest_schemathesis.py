"""docs/openapi.yaml against the API as served, by schemathesis: every operation of the document
(HEAD, OPTIONS and TRACE included), in-process (WSGI: the Ryu WSGIApplication behind
rest_app.JsonGuard, on the unit tests' controller with every switch connected, three MNs bound
and a predictive handoff buffer).  Each operation gets its known-good call (KNOWN: a 2xx, so the
success schemas are checked too) and EXAMPLES generated ones, valid and invalid (schemathesis'
positive and negative modes), deterministic.

Run twice: with a token configured and sent (``ignored_auth`` also checks that a successful
write call, repeated without the token or with a made-up one, is refused), and with no token
configured (every write call is 403).  The checks: no 5xx, every status code and Content-Type
documented for its operation, every response body valid against its schema, the documented
response headers (``Allow`` on 405, ``WWW-Authenticate`` on 401) present.

Plain hypothesis around ``APIOperation.as_strategy``: schemathesis' pytest plugin
(``schemathesis.pytest.from_fixture``) fails on pytest 9.2 (it reads ``request.node._nodeid``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import hypothesis.configuration
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ryu.app.wsgi import WSGIApplication
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps import rest_app

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
TOKEN = "schemathesis-token-0123456789"
EXAMPLES = 25  # per operation and run: 2 runs x 88 operations in about 30 s

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# A call per operation that the API answers with a 2xx (with the token; 405 for a method the path
# does not take): path parameters that exist, and the query and body of KNOWN, as Case arguments.
PATH_PARAMETERS = {
    "/epmip/v1/bindings/{mn_id}": {"mn_id": "mn1"},
    "/epmip/v1/switches/{name}/drf": {"name": "emag1"},
    "/epmip/v1/lmas/{name}/prefixes": {"name": "elma1"},
    "/epmip/v1/mobility/{mn_id}/link-going-down": {"mn_id": "mn1"},
}
KNOWN: dict[tuple[str, str], dict] = {
    ("GET", "/epmip/v1/locations"): {"query": {"address": "2001:db8:a:1::10"}},
    ("POST", "/epmip/v1/lmas/{name}/prefixes"): {
        "body": {"prefix": "2001:db8:e0::/48"},
        "media_type": "application/json",
    },
    ("DELETE", "/epmip/v1/lmas/{name}/prefixes"): {  # added by _app
        "body": {"prefix": "2001:db8:e::/48"},
        "media_type": "application/json",
    },
    ("GET", "/epmip/v1/messages"): {"query": {"limit": 3}},
    ("GET", "/epmip/v1/paths"): {"query": {"src": "mn1", "dst": "2001:db8:c:2::1"}},
}


def _app(net, token: str | None):
    net.domain.handoff_buffer = "predictive"  # so that link-going-down can succeed
    net.ctl.add_prefix("elma1", "2001:db8:e::/48", 0.5)  # so that DELETE can succeed
    net.attach("mn1", now=1.0)
    net.attach("mn2", now=2.0)
    net.attach("cn2", now=3.0)
    net.ctl.link_going_down("mn1", 3.5)  # so that DELETE .../link-going-down can succeed (POST again is fine)
    wsgi = WSGIApplication()
    rest_app.register_rest(wsgi, SimpleNamespace(core=net.ctl, send=lambda intents: None), token=token)
    return rest_app.JsonGuard(wsgi)


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home(tmp_path_factory):
    """Hypothesis keeps a cache in .hypothesis/ of the working directory: not in the checkout."""
    hypothesis.configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    hypothesis.configuration.set_hypothesis_home_dir(None)  # back to the default


def _operations() -> list[tuple[str, str]]:
    schema = schemathesis.openapi.from_path(OPENAPI)
    return [(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())]


OPERATIONS = _operations()


@pytest.mark.parametrize("with_token", [True, False], ids=["with-token", "without-token"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_matches_its_document(net, method, path, with_token):
    token = TOKEN if with_token else None
    # loaded from the app: GET /epmip/v1/openapi.yaml is the document tested
    schema = schemathesis.openapi.from_wsgi("/epmip/v1/openapi.yaml", _app(net, token))
    operation = schema[path][method]
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else None
    checks = [*CHECKS, ignored_auth] if with_token else CHECKS

    parameters = {"path_parameters": PATH_PARAMETERS[path]} if path in PATH_PARAMETERS else {}
    known = operation.Case(**parameters, **KNOWN.get((method, path), {}))
    answer = known.call_and_validate(headers=headers, checks=checks)
    if method not in rest_app.WRITABLE.get(path, ["GET"]):
        assert answer.status_code == 405, answer.text
    elif method == "GET" or with_token:
        assert 200 <= answer.status_code < 300, answer.text
    else:
        assert answer.status_code == 403, answer.text

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)  # fmt: skip
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    run()
