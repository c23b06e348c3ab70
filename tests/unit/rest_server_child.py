"""Ryu's REST server as the controller runs it, in a child process for test_rest_server.py:
``ryu.app.wsgi.WSGIServer`` (hardened by rest_app.register_rest) on 127.0.0.1, an ephemeral port,
serving the epmip API over the reference domain.  GET /epmip/v1/stats raises (a fault with a
secret in its message), so that the test sees what a client gets from a 500.

    python rest_server_child.py SOCKET_TIMEOUT KEEPALIVE_TIMEOUT TOKEN

Prints the port on its first line, then serves until killed; logs go to stderr.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from apps import compat  # noqa: E402

compat.apply()

from ryu import cfg  # noqa: E402
from ryu.app import wsgi  # noqa: E402

from apps import rest_app  # noqa: E402
from controller.config import load_domain  # noqa: E402
from controller.core import EpmipController  # noqa: E402

SECRET = "secret-detail-4711"


class FaultyCore(EpmipController):
    def stats(self) -> dict[str, object]:
        raise RuntimeError(f"stats exploded: {SECRET}")


def main() -> None:
    socket_timeout, keepalive, token = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    rest_app.SOCKET_TIMEOUT = socket_timeout
    rest_app.KEEPALIVE_TIMEOUT = keepalive
    cfg.CONF(args=["--wsapi-host", "127.0.0.1", "--wsapi-port", "0"], project="ryu")
    app = wsgi.WSGIApplication()
    core = FaultyCore(load_domain(str(ROOT / "examples" / "domain.yaml")))
    rest_app.register_rest(app, SimpleNamespace(core=core, send=lambda intents: None), token=token)
    server = wsgi.WSGIServer(app)  # what ryu.app.wsgi.start_service makes
    print(server.server.getsockname()[1], flush=True)
    server()  # serve_forever: the patched one


if __name__ == "__main__":
    main()
