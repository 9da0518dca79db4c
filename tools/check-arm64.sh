#!/bin/bash
# Prove smilepay on arm64 without a Raspberry Pi: build a Debian arm64 root with debootstrap on
# a Debian x86_64 host, run it through qemu-user imitating a Pi 4 (Cortex-A72) or a Pi 5
# (Cortex-A76) with an ARM /proc/cpuinfo, install smilepay the way bootstrap.sh does on a Pi,
# provision the models, run `smilepay demo --scripted --json` and the test suite (browser tests
# aside: Chromium does not run under qemu-user), and print the times.
#
#   sudo tools/check-arm64.sh [--release bookworm|trixie] [--cpu cortex-a72|cortex-a76]
#                             [--roots /var/tmp/smilepay-arm64] [--steps install,provision,demo,tests]
#                             [--tests "tests/unit tests/queue ..."] [--slowdown 20]
#                             [--workers 1]
#
# Times printed: root (debootstrap, first run only), install (bootstrap.sh install "[test]",
# which also provisions the models), provision (a fresh model directory, on its own), demo, tests.
# `--workers N` runs the tests in N pytest-xdist processes (each takes a host core); pytest -v
# prints each test's outcome as it ends, so a run stopped early still says how far it got.
#
# Not part of .ci/run: emulation is 10-30x slower than native (a full run takes hours on two
# cores). Run it before each release and put its last result in docs/deployment.md.
# Everything runs under `nice -n 19`. The root is built once per release and reused
# (ROOTS/RELEASE, marked complete by ROOTS/RELEASE/.smilepay-root); each run copies this
# working tree into it afresh and reuses its .venv (delete ROOTS/RELEASE/opt/smilepay/.venv
# for a clean install). Tests use the host's PostgreSQL (the chroot shares the network) through
# SMILEPAY_TEST_PG_URL and the shared test data through SMILEPAY_TEST_DATA, bind-mounted.
#
# What emulation does not cover: the Raspberry Pi OS packages (python3-picamera2, libcamera)
# are not in Debian, so bootstrap.sh's Pi-only steps (simplejpeg, the picamera2 import check)
# run only on a real Pi; GPIO, the camera and serial devices are simulated.
set -euo pipefail

RELEASE=bookworm
CPU=cortex-a72
ROOTS=/var/tmp/smilepay-arm64
STEPS=install,provision,demo,tests
TESTS="tests"
SLOWDOWN=20
WORKERS=1
HERE=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT_PACKAGES=ca-certificates,python3,python3-venv,python3-dev,python3-pip,libzbar0,libgl1,libglib2.0-0,sqlite3,socat,procps
# systemd-analyze (the unit tests) and psql/pg_dump (the ledger install and backup tests, which
# reach the host's PostgreSQL through its socket, bind-mounted, as a postgres user of the same uid)
ROOT_PACKAGES=$ROOT_PACKAGES,systemd,postgresql-client

die() { echo "check-arm64: error: $*" >&2; exit 2; }
say() { echo "check-arm64: $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --release) RELEASE=${2:?}; shift 2 ;;
        --cpu) CPU=${2:?}; shift 2 ;;
        --roots) ROOTS=${2:?}; shift 2 ;;
        --steps) STEPS=${2:?}; shift 2 ;;
        --tests) TESTS=${2:?}; shift 2 ;;
        --slowdown) SLOWDOWN=${2:?}; shift 2 ;;
        --workers) WORKERS=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done
case "$RELEASE" in bookworm|trixie) ;; *) die "--release must be bookworm or trixie" ;; esac
case "$WORKERS" in [1-9]) ;; *) die "--workers must be a number from 1 to 9" ;; esac
case "$CPU" in cortex-a72) CPUINFO=cpuinfo-pi4.txt ;; cortex-a76) CPUINFO=cpuinfo-pi5.txt ;;
    *) die "--cpu must be cortex-a72 (Pi 4) or cortex-a76 (Pi 5)" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and mounts need it)"
[ "$(uname -m)" = x86_64 ] || die "this is for an x86_64 host"
# Trixie's libraries carry the t64 names: let debootstrap's --include use them.
[ "$RELEASE" = trixie ] && ROOT_PACKAGES=${ROOT_PACKAGES//libzbar0,/libzbar0t64,} \
    && ROOT_PACKAGES=${ROOT_PACKAGES//libglib2.0-0,/libglib2.0-0t64,}
ROOT=$ROOTS/$RELEASE
declare -A TIMES

host_tools() {
    local missing=()
    for pkg in qemu-user-static binfmt-support debootstrap; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt: installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive nice -n 19 apt-get install -y -q "${missing[@]}" >&2
    fi
    # Two runs (one per release) may start together: the loser of the mount race finds it mounted.
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || [ -e /proc/sys/fs/binfmt_misc/register ] || die "cannot mount binfmt_misc"
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "qemu-aarch64 is not registered with binfmt_misc"
}

build_root() {
    if [ -e "$ROOT/.smilepay-root" ]; then say "reusing the $RELEASE arm64 root at $ROOT"; return; fi
    mkdir -p "$ROOTS"
    say "debootstrap: a Debian $RELEASE arm64 root in $ROOT (once; minutes)"
    rm -rf "$ROOT.partial"
    timed root nice -n 19 debootstrap --arch=arm64 --variant=minbase --include="$ROOT_PACKAGES" \
        "$RELEASE" "$ROOT.partial" "$MIRROR" >&2
    mv "$ROOT.partial" "$ROOT"
    date -u +%FT%TZ > "$ROOT/.smilepay-root"
}

MOUNTED=()
mount_root() {
    mount -t proc proc "$ROOT/proc"; MOUNTED+=("$ROOT/proc")
    mount --bind /sys "$ROOT/sys"; MOUNTED+=("$ROOT/sys")
    mount --bind /dev "$ROOT/dev"; MOUNTED+=("$ROOT/dev")
    mount --bind /dev/pts "$ROOT/dev/pts"; MOUNTED+=("$ROOT/dev/pts")
    mount -t tmpfs tmpfs "$ROOT/dev/shm"; MOUNTED+=("$ROOT/dev/shm")
    # LiteRT's bundled cpuinfo (XNNPACK) crashes on the x86 /proc/cpuinfo qemu passes through.
    mount --bind "$HERE/tools/arm64/$CPUINFO" "$ROOT/proc/cpuinfo"; MOUNTED+=("$ROOT/proc/cpuinfo")
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # The host's trusted CAs (a host behind a TLS-inspecting proxy trusts its CA there too).
    cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$ROOT/etc/ssl/host-ca-bundle.crt"
    if [ -d /run/postgresql ] && id postgres >/dev/null 2>&1; then
        mkdir -p "$ROOT/run/postgresql"
        mount --bind /run/postgresql "$ROOT/run/postgresql"; MOUNTED+=("$ROOT/run/postgresql")
    fi
    if [ -n "${SMILEPAY_TEST_DATA:-}" ] && [ -d "$SMILEPAY_TEST_DATA" ]; then
        mkdir -p "$ROOT/srv/test-data"
        mount --bind -o ro "$SMILEPAY_TEST_DATA" "$ROOT/srv/test-data"; MOUNTED+=("$ROOT/srv/test-data")
    fi
}

unmount_root() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[i]}" 2>/dev/null || true; done
}

copy_tree() {
    say "copying $HERE into $ROOT/opt/smilepay (keeping its .venv)"
    mkdir -p "$ROOT/opt/smilepay"
    (cd "$HERE" && tar -c --exclude=./.venv --exclude=./.git --exclude='__pycache__' \
        --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache .) |
        tar -x -C "$ROOT/opt/smilepay"
}

in_root() {  # run a shell command inside the arm64 root as the Pi being imitated
    local ca=/etc/ssl/host-ca-bundle.crt
    nice -n 19 chroot "$ROOT" /usr/bin/env -i QEMU_CPU="$CPU" HOME=/root LANG=C.UTF-8 \
        SSL_CERT_FILE=$ca PIP_CERT=$ca REQUESTS_CA_BUNDLE=$ca PIP_DEFAULT_TIMEOUT=180 PIP_RETRIES=10 \
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin SMILEPAY_SLOWDOWN="$SLOWDOWN" \
        SMILEPAY_TEST_DATA=/srv/test-data \
        SMILEPAY_TEST_PG_URL="${SMILEPAY_TEST_PG_URL:-postgresql+psycopg://smilepay_test:smilepay_test@127.0.0.1:5432/postgres}" \
        /bin/bash -o pipefail -c "cd /opt/smilepay && $1"
}

timed() {  # name, command...: run it, keep its wall time in TIMES[name]
    local name=$1 started rc=0
    shift
    started=$(date +%s)
    "$@" || rc=$?
    TIMES[$name]=$(($(date +%s) - started))
    RESULTS+=("$name=$([ $rc -eq 0 ] && echo ok || echo "failed($rc)")")
    say "$name: $([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)") in ${TIMES[$name]} s"
    return 0
}

RESULTS=()
step_wanted() { case ",$STEPS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

host_tools
build_root
trap unmount_root EXIT
# Stopped (Ctrl-C, kill): unmount and stop; without the exit bash would go on to the next step.
trap 'unmount_root; exit 130' INT TERM
mount_root
copy_tree
# A root built by an older version of this script may lack a package the suite uses.
in_root "dpkg -s ${ROOT_PACKAGES//,/ } >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${ROOT_PACKAGES//,/ })" >&2
if id postgres >/dev/null 2>&1; then
    in_root "id postgres >/dev/null 2>&1 || useradd --system --no-create-home --uid $(id -u postgres) postgres" >&2
fi
in_root 'uname -m; python3 --version; grep -m1 "CPU part" /proc/cpuinfo' >&2
if step_wanted install; then
    timed install in_root './bootstrap.sh install "[test]" >/tmp/install.log 2>&1 || { tail -40 /tmp/install.log; exit 1; }'
fi
if step_wanted provision; then
    # bootstrap.sh already provisioned its model dir during install; time a fresh one.
    timed provision in_root 'rm -rf /tmp/provision-check && .venv/bin/smilepay models provision --model-dir /tmp/provision-check'
fi
if step_wanted demo; then
    timed demo in_root 'rm -rf /tmp/demo; .venv/bin/smilepay demo --scripted --json --data-dir /tmp/demo 2>/tmp/demo.err | tail -1'
fi
if step_wanted tests; then
    parallel=""
    [ "$WORKERS" -gt 1 ] && parallel="-n $WORKERS"
    timed tests in_root ".venv/bin/python -m pytest -v -rfE -p no:cacheprovider $parallel -m 'not browser and not slow and not hw' -o timeout=$((600 * SLOWDOWN)) $TESTS"
fi
summary="{\"release\": \"$RELEASE\", \"cpu\": \"$CPU\", \"slowdown\": $SLOWDOWN, \"workers\": $WORKERS"
for name in root install provision demo tests; do
    [ -n "${TIMES[$name]:-}" ] && summary="$summary, \"${name}_s\": ${TIMES[$name]}"
done
summary="$summary, \"results\": \"${RESULTS[*]}\", \"tests\": \"$TESTS\", \"load_average\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
echo "$summary"
case "${RESULTS[*]}" in *failed*) exit 1 ;; esac
