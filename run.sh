#!/usr/bin/env bash
# The two commands of the README:
#   ./run.sh demo   set everything up, then run the demo (OVS + controller + Mininet, a moving MN)
#   ./run.sh test   set everything up, then run lint, the type checker and the whole test suite (unit + integration)
# Anything after the command is passed on (to `epmip demo` or to pytest).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${EPMIP_VENV:-$ROOT/.venv}"
cmd="${1:-}"
shift || true
case "$cmd" in
  demo)
    bash "$ROOT/scripts/setup.sh"
    exec "$VENV/bin/epmip" demo "$@"
    ;;
  test)
    bash "$ROOT/scripts/setup.sh"
    cd "$ROOT"
    echo "==> ruff check"
    "$VENV/bin/ruff" check .
    echo "==> mypy"
    "$VENV/bin/mypy" controller openflow_rules apps benchmarks mininet_topos
    echo "==> pytest (unit, flow-table and integration tests)"
    exec "$VENV/bin/python" -m pytest -ra "$@"
    ;;
  *)
    echo "usage: $0 demo|test [args...]" >&2
    exit 2
    ;;
esac
