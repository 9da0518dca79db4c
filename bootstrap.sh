#!/usr/bin/env bash
# The set-up commands of the README:
#   ./bootstrap.sh demo   install what the kiosk needs, then run the demo kiosk (screen on :8080)
#   ./bootstrap.sh test   install what the tests need, then run ruff, mypy and the whole test suite
#   ./bootstrap.sh install [EXTRAS]   only install (default "[kiosk]"), as on a Pi or in an image
# Idempotent: a second run reuses the venv, packages and models the first one installed.
# Every Python dependency is pinned by constraints/py3XX.txt for the interpreter's version
# (3.11: Debian 12 / Raspberry Pi OS Bookworm; 3.13: Debian 13 Trixie), so a Pi installs what
# the suite was run with, not whatever is newest that day.
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

# Debian 13 renamed libraries for 64-bit time_t (libzbar0 -> libzbar0t64, libglib2.0-0 ->
# libglib2.0-0t64): either name installed counts, and the name apt knows is the one installed.
apt_name() {
  if apt-cache show "$1t64" >/dev/null 2>&1; then echo "$1t64"; else echo "$1"; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || dpkg -s "${pkg}t64" >/dev/null 2>&1 ||
      missing+=("$(apt_name "$pkg")")
  done
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
  local constraints
  constraints="$(constraints_file)"
  step "pip: installing smilepay$1 (pinned by ${constraints:-nothing})"
  .venv/bin/python -m pip install -q --upgrade pip ${constraints:+-c "$constraints"}
  .venv/bin/python -m pip install -q -e ".$1" ${constraints:+-c "$constraints"}
  if is_pi; then install_picamera2_deps "$constraints"; fi
  step "models: provisioning and verifying model files"
  .venv/bin/smilepay models provision
  if is_pi; then check_picamera2; fi
}

constraints_file() {
  local version
  version="$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
  if [ -f "constraints/py$version.txt" ]; then
    echo "constraints/py$version.txt"
  else
    echo "bootstrap: WARNING: no constraints/py$version.txt: dependencies are not pinned" >&2
  fi
}

# Raspberry Pi OS's picamera2 (apt, seen through --system-site-packages) imports simplejpeg,
# which apt builds against numpy 1.24; the venv has numpy 2 (OpenCV 4.14 and LiteRT need it),
# and the apt build then fails with "numpy.dtype size changed". simplejpeg from PyPI (aarch64
# wheels, built against numpy 2) in the venv shadows the apt one.
install_picamera2_deps() {
  step "pip: simplejpeg for picamera2, against the venv's numpy"
  .venv/bin/python -m pip install -q simplejpeg ${1:+-c "$1"}
}

check_picamera2() {
  step "checking that picamera2 imports beside the venv's numpy"
  if ! .venv/bin/python -c "from picamera2 import Picamera2" 2>/tmp/smilepay-picamera2.err; then
    echo "bootstrap: error: 'from picamera2 import Picamera2' fails in .venv:" >&2
    cat /tmp/smilepay-picamera2.err >&2
    echo "bootstrap: the camera will not work; see docs/deployment.md (picamera2 and numpy 2)" >&2
    exit 1
  fi
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
    step "starting the demo kiosk: open the screen URL it prints (it carries the screen's secret)"
    exec .venv/bin/smilepay demo "$@"
    ;;
  install)
    install_runtime "${1:-[kiosk]}"
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
    echo "usage: $0 demo|test|install [args...]" >&2
    exit 2
    ;;
esac
