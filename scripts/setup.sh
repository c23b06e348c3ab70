#!/usr/bin/env bash
# Install everything epmip needs on a fresh Debian 12 machine, as root, idempotently:
# Debian packages, a virtualenv (.venv) with Ryu 4.34 and the project, and a running Open vSwitch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EPMIP_VENV:-$ROOT/.venv}"
# redis-server: the shared state store an operator may choose (store: {kind: redis}); the tests start
# their own on a unix socket, so the Debian service itself need not run.
APT_PACKAGES=(openvswitch-switch openvswitch-common mininet iputils-ping net-tools arping ethtool
              iperf3 tcpdump tshark python3-venv python3-pip redis-server)

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "epmip setup: run as root (Open vSwitch and Mininet need it)" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # tshark (the signalling capture tests read it back) asks whether non-root users may capture;
  # answer for it, so that the install never waits for a question
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtualenv $VENV (system site-packages, for Debian's mininet)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import ryu" 2>/dev/null; then
  step "installing Ryu 4.34 (needs setuptools<68 and no build isolation)"
  "${PIP[@]}" "setuptools<68" pbr wheel
  "${PIP[@]}" --no-build-isolation ryu==4.34
fi
# The stamp is requirements.txt followed by pyproject.toml as last installed: a change to either
# re-runs the install.  pyproject.toml matters because the editable install writes the entry-point
# scripts (.venv/bin/epmip, epmip-manager) from its [project.scripts]; when a target module moves
# (controller.cli -> apps.cli), the old scripts would fail with ModuleNotFoundError.
stamp="$VENV/.epmip-requirements"
if ! cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | cmp -s - "$stamp" 2>/dev/null \
   || ! "$VENV/bin/python" -c "import controller, apps" 2>/dev/null; then
  step "installing Python requirements and epmip itself"
  "${PIP[@]}" -r "$ROOT/requirements.txt"
  "${PIP[@]}" --no-build-isolation --no-deps -e "$ROOT"
  cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" > "$stamp"
fi

if ! ovs-vsctl --timeout=2 show >/dev/null 2>&1; then
  step "starting Open vSwitch (userspace datapath; no kernel module here)"
  /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random --no-mlockall >/dev/null 2>&1 || true
  ovs-vsctl --timeout=10 show >/dev/null
fi
echo "epmip setup: ready (venv $VENV)"
