#!/usr/bin/env bash
# The two set-up commands of the README:
#   ./bootstrap.sh demo   install what the kiosk needs, then run the demo kiosk (screen on :8080)
#   ./bootstrap.sh test   install what the tests need, then run ruff, mypy and the whole test suite
# Idempotent: a second run reuses the venv, packages and models the first one installed.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-demo}"
shift || true
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*" >&2; }
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
is_pi() { grep -qi "raspberry pi" /proc/device-tree/model 2>/dev/null; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "apt: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
}

install_runtime() {
  local pkgs=(python3 python3-venv python3-dev libzbar0 libgl1 libglib2.0-0)
  if is_pi; then pkgs+=(python3-picamera2 chromium cage); fi
  apt_install "${pkgs[@]}"
  if [ ! -x .venv/bin/python ]; then
    step "creating .venv"
    if is_pi; then
      # picamera2 comes from Raspberry Pi OS (apt), so the venv must see system packages.
      "$PYTHON" -m venv --system-site-packages .venv
    else
      "$PYTHON" -m venv .venv
    fi
  fi
  step "pip: installing smilepay$1"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".$1"
  step "models: provisioning and verifying model files"
  .venv/bin/smilepay models provision
}

start_postgres() {
  apt_install postgresql
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    step "starting PostgreSQL"
    for version in $(ls /etc/postgresql); do
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  # A login role for the tests, which create and drop databases of their own.
  as_postgres psql -q -h /var/run/postgresql -tc \
    "SELECT 1 FROM pg_roles WHERE rolname = 'smilepay_test'" | grep -q 1 ||
    as_postgres psql -q -h /var/run/postgresql -c \
      "CREATE ROLE smilepay_test LOGIN CREATEDB PASSWORD 'smilepay_test'"
}

case "$mode" in
  demo)
    install_runtime "[kiosk]"
    step "starting the demo kiosk: open http://127.0.0.1:8080"
    exec .venv/bin/smilepay demo "$@"
    ;;
  test)
    apt_install chromium chromium-driver fonts-noto-cjk fonts-noto-color-emoji socat systemd
    install_runtime "[test]"
    start_postgres
    export SMILEPAY_TEST_PG_URL="${SMILEPAY_TEST_PG_URL:-postgresql+psycopg://smilepay_test:smilepay_test@127.0.0.1:5432/postgres}"
    step "ruff"
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    step "mypy (the tree and the tests; --strict on the money path)"
    .venv/bin/mypy
    .venv/bin/mypy --strict sync device/checkout.py base
    step "pytest"
    exec .venv/bin/python -m pytest -n 2 -m "not slow" "$@"
    ;;
  *)
    echo "usage: $0 demo|test [args...]" >&2
    exit 2
    ;;
esac
