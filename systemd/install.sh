#!/bin/sh
# Install the smilepay kiosk as systemd services on a Raspberry Pi (64-bit Raspberry Pi OS or
# Debian 12), or stage the files into an image with --root.
#
#   sudo systemd/install.sh [--prefix /opt/smilepay] [--data-dir /var/lib/smilepay]
#                           [--no-screen] [--ledger [--no-kiosk] [--db URL] [--db-admin URL]
#                           [--ledger-port 8700] [--ledger-host 127.0.0.1]]
#                           [--no-start] [--root DIR] [--allow-volatile-data]
#                           [--ledger-url URL [--registration-token-file FILE]]
#
# What it does:
#   - creates the system users: `smilepay` (kiosk and sync agent; groups video, dialout and gpio
#     when present), `smilepay-screen` (the Chromium kiosk browser; groups video, render, input),
#     and with --ledger `smilepay-ledger`;
#   - installs smilepay-kiosk.service, smilepay-sync.service, smilepay-screen.service (unless
#     --no-screen) and smilepay-ledger.service (with --ledger) into /etc/systemd/system, with
#     ExecStart pointed at PREFIX/venv/bin/smilepay;
#   - writes /etc/smilepay/kiosk.toml if there is none (data_dir = the data directory, models in
#     PREFIX/models), naming the hardware it finds on this machine: a libcamera camera
#     (rpicam-hello --list-cameras) or a USB webcam (/dev/video*), a serial code scanner and an
#     ESC/POS printer (/dev/serial/by-id/*, USB printer-class devices), GPIO (/dev/gpiochip0).
#     What it does not find is left commented out and said: the kiosk refuses to start until
#     every role is named (`smilepay kiosk --check --config /etc/smilepay/kiosk.toml`);
#   - with --ledger: creates the operator (admin) and metrics token files
#     (/etc/smilepay/ledger-*.token), the customer-token issuer key and the template key
#     (/etc/smilepay/ledger-{issuer,template}.key; all 0600, owned by smilepay-ledger; kiosks
#     register with single-use codes: `smilepay ledger registration-code`) and /etc/smilepay/ledger.env
#     (0600, root: systemd reads it), unless they exist. With --db postgresql://USER[:PW]@HOST/DB
#     it creates the role and the database (as the local `postgres` superuser, or through
#     --db-admin URL), with a generated password when the URL has none; without --db the ledger
#     uses SQLite in /var/lib/smilepay-ledger. Then it runs the migrations (`smilepay ledger
#     migrate`), starts the unit and waits until /v1/time answers. --no-kiosk installs the
#     ledger alone (a server, not a kiosk);
#   - provisions the face models into PREFIX/models if they are not there yet
#     (`smilepay models provision`);
#   - with --ledger-url, registers this device with the ledger as the `smilepay` user
#     (`smilepay device init`), unless the data directory already holds an identity;
#   - enables and starts the units (unless --no-start or --root).
#
# With --root DIR nothing is started and no user is created: files are written under DIR (an
# image being built, or a test). --db still sets up that database: its server must be reachable
# from here.
#
# The data partition. The sale queue, the face gallery and the device keys live in the data
# directory (/var/lib/smilepay). It MUST be on persistent storage: a sale acknowledged to a
# customer is only safe once it is on a disk that survives power loss. Kiosks often run with a
# read-only or overlay root (raspi-config "Overlay file system"), where every write to / is lost
# at reboot; then give the data directory its own ext4 partition, for example:
#     sudo mkfs.ext4 -L smilepay-data /dev/mmcblk0p3      (or a USB SSD: more write endurance)
#     echo 'LABEL=smilepay-data /var/lib/smilepay ext4 defaults,noatime,commit=1 0 2' \
#         | sudo tee -a /etc/fstab
#     sudo mkdir -p /var/lib/smilepay && sudo mount /var/lib/smilepay
# This script refuses a data directory on overlay, tmpfs, ramfs or squashfs (override with
# --allow-volatile-data for a throw-away demo). The units make the data directory the only path
# the kiosk can write (ProtectSystem=strict).
#
# Chromium and its compositor come from apt: `sudo apt-get install chromium cage`.
set -eu

PREFIX=/opt/smilepay
DATA_DIR=/var/lib/smilepay
ROOT=/
SCREEN=yes
LEDGER=no
START=yes
ALLOW_VOLATILE=no
LEDGER_URL=
REGISTRATION_TOKEN_FILE=
KIOSK=yes
DB_URL=
DB_ADMIN_URL=
LEDGER_HOST=127.0.0.1
LEDGER_PORT=8700
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "install.sh: error: $*" >&2; exit 2; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --data-dir) DATA_DIR=${2:?--data-dir needs a directory}; shift 2 ;;
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --no-screen) SCREEN=no; shift ;;
        --ledger) LEDGER=yes; shift ;;
        --no-kiosk) KIOSK=no; SCREEN=no; shift ;;
        --db) DB_URL=${2:?--db needs a postgresql:// URL}; shift 2 ;;
        --db-admin) DB_ADMIN_URL=${2:?--db-admin needs a URL}; shift 2 ;;
        --ledger-host) LEDGER_HOST=${2:?--ledger-host needs an address}; shift 2 ;;
        --ledger-port) LEDGER_PORT=${2:?--ledger-port needs a port}; shift 2 ;;
        --no-start) START=no; shift ;;
        --allow-volatile-data) ALLOW_VOLATILE=yes; shift ;;
        --ledger-url) LEDGER_URL=${2:?--ledger-url needs a URL}; shift 2 ;;
        --registration-token-file) REGISTRATION_TOKEN_FILE=${2:?needs a file}; shift 2 ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//; /^set -eu/d'; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

case "$PREFIX$DATA_DIR" in *"#"*) die "paths must not contain '#'" ;; esac
[ "$KIOSK" = yes ] || [ "$LEDGER" = yes ] || die "--no-kiosk needs --ledger (nothing to install)"
[ -z "$DB_URL" ] || [ "$LEDGER" = yes ] || die "--db is for the ledger: add --ledger"
case "$DB_URL" in ""|postgresql://*|postgresql+psycopg://*|postgres://*) ;;
    *) die "--db must be a postgresql:// URL (without --db the ledger uses SQLite)" ;; esac
STAGING=no
[ "$ROOT" != / ] && STAGING=yes && START=no
[ "$STAGING" = yes ] || [ "$(id -u)" = 0 ] || die "run as root (sudo), or stage with --root DIR"
[ "$STAGING" = yes ] || [ -x "$PREFIX/venv/bin/smilepay" ] \
    || die "$PREFIX/venv/bin/smilepay not found: install smilepay into $PREFIX/venv first"

check_data_dir() {
    probe=$DATA_DIR
    while [ ! -e "$probe" ]; do probe=$(dirname "$probe"); done
    fstype=$(findmnt -n -o FSTYPE -T "$probe" 2>/dev/null || echo unknown)
    case "$fstype" in
        overlay|tmpfs|ramfs|squashfs)
            [ "$ALLOW_VOLATILE" = yes ] && { say "WARNING: $DATA_DIR is on $fstype: sales will not survive a reboot"; return; }
            die "$DATA_DIR is on $fstype, which does not survive a reboot: mount a persistent partition there first (see the notes at the top of this script)" ;;
        *) say "data directory $DATA_DIR is on $fstype" ;;
    esac
}

add_user() {  # name, home, groups that exist are added
    name=$1; home=$2; shift 2
    id -u "$name" >/dev/null 2>&1 || useradd --system --home-dir "$home" --no-create-home \
        --shell /usr/sbin/nologin --user-group "$name"
    for group in "$@"; do
        getent group "$group" >/dev/null && usermod -a -G "$group" "$name"
    done
    return 0
}

install_unit() {  # unit file name
    # A data directory elsewhere is not a StateDirectory=: the partition's mount point is used
    # as it is, and stays the only writable path.
    state_dir_lines='/^StateDirectory=smilepay\( \|$\)/d; /^StateDirectoryMode=/d'
    [ "$DATA_DIR" = /var/lib/smilepay ] && state_dir_lines=''
    case "$1" in smilepay-kiosk.service|smilepay-sync.service) ;; *) state_dir_lines='' ;; esac
    sed -e "s#/opt/smilepay/venv/bin/smilepay#$PREFIX/venv/bin/smilepay#g" \
        -e "s#/var/lib/smilepay\\([ /]\\|\$\\)#$DATA_DIR\\1#g" \
        -e "$state_dir_lines" \
        "$HERE/$1" > "$ROOT/etc/systemd/system/$1"
    chmod 0644 "$ROOT/etc/systemd/system/$1"
    say "installed $ROOT/etc/systemd/system/$1"
}

write_config() {
    config="$ROOT/etc/smilepay/kiosk.toml"
    [ -e "$config" ] && { say "kept the existing $config"; return; }
    {
        cat <<TOML
# smilepay kiosk configuration (see docs/deployment.md). Unknown keys stop start-up with their
# path. Every hardware role must be named: the kiosk refuses to start otherwise. Check with
#     smilepay kiosk --check --config /etc/smilepay/kiosk.toml
[device]
data_dir = "$DATA_DIR"
# The public address customers open receipts at (the ledger's /r/<sale_id>, usually behind
# TLS): printed as a QR code on each receipt. Unset: receipts carry no link.
# receipt_base_url = "https://pay.example.com"

[face]
model_dir = "$PREFIX/models"

[screen]
host = "127.0.0.1"
port = 8080
# The screen's browser service opens the URL written here (it carries the per-boot secret).
launch_url_file = "/run/smilepay-kiosk/screen-url"
TOML
        hardware_sections
    } > "$config"
    chmod 0640 "$config"
    say "wrote $config"
}

# --- hardware probing: each prints a TOML section, found or commented out ----------------------

hardware_sections() {
    if [ "$STAGING" = yes ]; then
        say "staging: no hardware probed; name every role in kiosk.toml before starting" >&2
        commented camera; commented scanner; commented printer; commented indicator
        return
    fi
    probe_camera; probe_serial_and_printer; probe_gpio
}

commented() {  # role: a template the operator completes
    case "$1" in
        camera) printf '# [camera]\n# type = "picamera2"            # or "opencv" with index = N (USB webcam)\n\n' ;;
        scanner) printf '# [scanner]\n# type = "serial"\n# port = "/dev/serial/by-id/..."  # or type = "none"\n\n' ;;
        printer) printf '# [printer]\n# type = "escpos_serial"\n# port = "/dev/serial/by-id/..."  # or escpos_usb / escpos_network / "none"\n\n' ;;
        indicator) printf '# [indicator]\n# type = "gpio"                 # red_pin, green_pin, blue_pin (BCM); or "none"\n\n' ;;
    esac
}

found() { say "found $1" >&2; }
missing() { say "did not find a $1: name it in kiosk.toml ([$1]); the kiosk refuses to start until then" >&2; commented "$1"; }

probe_camera() {
    for tool in rpicam-hello libcamera-hello; do
        command -v "$tool" >/dev/null 2>&1 || continue
        if "$tool" --list-cameras 2>/dev/null | grep -q '^[0-9][0-9]* : '; then
            found "a libcamera camera ($tool --list-cameras)"
            printf '[camera]\ntype = "picamera2"\n\n'
            return
        fi
    done
    for dev in /sys/class/video4linux/video*; do
        [ -e "$dev/name" ] || continue
        name=$(cat "$dev/name")
        case "$name" in *bcm2835*|*rpivid*|*hevc*|*pispbe*|*rp1-cfe*|*codec*|*isp*|*unicam*) continue ;; esac
        index=${dev##*/video}
        found "a V4L2 camera /dev/video$index ($name)"
        printf '[camera]\ntype = "opencv"\nindex = %s\n\n' "$index"
        return
    done
    missing camera
}

probe_serial_and_printer() {
    scanner=; printer=
    for dev in /dev/serial/by-id/*; do
        [ -e "$dev" ] || continue
        case "$(basename "$dev" | tr 'A-Z' 'a-z')" in
            *print*|*pos*|*thermal*|*receipt*|*epson*|*star*) [ -z "$printer" ] && printer=$dev ;;
            *) [ -z "$scanner" ] && scanner=$dev ;;
        esac
    done
    if [ -n "$scanner" ]; then found "a serial scanner $scanner"; printf '[scanner]\ntype = "serial"\nport = "%s"\n\n' "$scanner"
    else missing scanner; fi
    if [ -n "$printer" ]; then found "a serial printer $printer"; printf '[printer]\ntype = "escpos_serial"\nport = "%s"\n\n' "$printer"; return; fi
    for class in /sys/bus/usb/devices/*:*/bInterfaceClass; do
        [ -e "$class" ] && [ "$(cat "$class")" = 07 ] || continue
        usbdev=$(dirname "$(dirname "$class")")/$(basename "$(dirname "$class")" | cut -d: -f1)
        vendor=$(cat "$usbdev/idVendor" 2>/dev/null) && product=$(cat "$usbdev/idProduct" 2>/dev/null) || continue
        found "a USB printer $vendor:$product"
        printf '[printer]\ntype = "escpos_usb"\nvendor_id = 0x%s\nproduct_id = 0x%s\n\n' "$vendor" "$product"
        return
    done
    missing printer
}

probe_gpio() {
    if [ -e /dev/gpiochip0 ]; then
        found "GPIO (/dev/gpiochip0): light assumed on BCM 17/27/22, edit if wired otherwise"
        printf '[indicator]\ntype = "gpio"\nred_pin = 17\ngreen_pin = 27\nblue_pin = 22\n\n'
    else
        missing indicator
    fi
}

provision_models() {
    if [ -n "$(ls -A "$PREFIX/models" 2>/dev/null)" ]; then
        say "models already in $PREFIX/models"
        return
    fi
    "$PREFIX/venv/bin/smilepay" models provision --model-dir "$PREFIX/models"
    chmod -R a+rX "$PREFIX/models"
}

register_device() {
    [ -n "$LEDGER_URL" ] || { say "no --ledger-url: register later with 'smilepay device init'"; return; }
    [ -e "$DATA_DIR/device.json" ] && { say "device already registered ($DATA_DIR/device.json)"; return; }
    set -- --data-dir "$DATA_DIR" --ledger-url "$LEDGER_URL"
    [ -n "$REGISTRATION_TOKEN_FILE" ] && set -- "$@" --registration-token-file "$REGISTRATION_TOKEN_FILE"
    runuser -u smilepay -- "$PREFIX/venv/bin/smilepay" device init "$@"
}

# --- the ledger ---------------------------------------------------------------------------------

new_token() { tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 43; }

write_secret() {  # path, owner ("" when staging): write stdin to a 0600 file
    umask 077
    cat > "$1.tmp" && chmod 0600 "$1.tmp" && mv "$1.tmp" "$1"
    [ -n "$2" ] && chown "$2" "$1"
    return 0
}

ledger_tokens() {
    owner=; [ "$STAGING" = no ] && owner=smilepay-ledger:smilepay-ledger
    for kind in admin metrics; do
        file="$ROOT/etc/smilepay/ledger-$kind.token"
        if [ -s "$file" ]; then say "kept $file"; continue; fi
        new_token | write_secret "$file" "$owner"
        say "wrote $file (0600)"
    done
    # Kiosks register with single-use codes (`smilepay ledger registration-code`), not with a
    # fleet-wide token. The issuer key signs customer tokens; the template key seals face
    # templates at rest, outside the database (a stolen dump holds no usable template). Both are
    # 32 random bytes (an Ed25519 seed; an AES-256 key) and are never replaced once written.
    for kind in issuer template; do
        file="$ROOT/etc/smilepay/ledger-$kind.key"
        if [ -s "$file" ]; then say "kept $file"; continue; fi
        head -c 32 /dev/urandom | write_secret "$file" "$owner"
        say "wrote $file (0600)"
    done
}

url_part() {  # URL, field: one part of a database URL, parsed by SQLAlchemy
    "$PREFIX/venv/bin/python" -c 'import sys
from sqlalchemy.engine import make_url
u = make_url(sys.argv[1])
print({"user": u.username, "password": u.password, "database": u.database}[sys.argv[2]] or "")' "$1" "$2"
}

with_password() {  # URL, password: the URL with that password
    "$PREFIX/venv/bin/python" -c 'import sys
from sqlalchemy.engine import make_url
u = make_url(sys.argv[1]).set(password=sys.argv[2])
print(u.render_as_string(hide_password=False))' "$1" "$2"
}

admin_psql() {  # psql as a superuser: through --db-admin, else the local postgres account
    if [ -n "$DB_ADMIN_URL" ]; then
        psql -X -q -v ON_ERROR_STOP=1 "$(echo "$DB_ADMIN_URL" | sed 's#^postgresql+psycopg://#postgresql://#')" "$@"
    else
        runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"
    fi
}

create_database() {  # sets DB_URL to the URL (with its password) the ledger will use
    user=$(url_part "$DB_URL" user); db=$(url_part "$DB_URL" database)
    password=$(url_part "$DB_URL" password)
    [ -n "$user" ] && [ -n "$db" ] || die "--db must name a user and a database: postgresql://USER@HOST/DB"
    [ -n "$password" ] || { password=$(new_token); DB_URL=$(with_password "$DB_URL" "$password"); }
    admin_psql -v role="$user" -v pw="$password" -v db="$db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
    WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
    say "PostgreSQL role $user and database $db ready (other roles cannot connect)"
}

ledger_env() {
    env_file="$ROOT/etc/smilepay/ledger.env"
    if [ -s "$env_file" ] && [ -z "$DB_URL" ]; then say "kept $env_file"; return; fi
    [ -n "$DB_URL" ] || DB_URL="sqlite:////var/lib/smilepay-ledger/ledger.db"
    owner=; [ "$STAGING" = no ] && owner=root:root
    write_secret "$env_file" "$owner" <<ENV
# Read by systemd for smilepay-ledger.service (0600: it holds the database password).
SMILEPAY_LEDGER_DB=$DB_URL
SMILEPAY_LEDGER_HOST=$LEDGER_HOST
SMILEPAY_LEDGER_PORT=$LEDGER_PORT
ENV
    say "wrote $env_file (0600)"
}

migrate_ledger() {
    db=$(sed -n 's/^SMILEPAY_LEDGER_DB=//p' "$ROOT/etc/smilepay/ledger.env")
    case "$db" in
        sqlite:*) [ "$STAGING" = yes ] && { say "staging: the SQLite ledger is migrated at its first start"; return; }
                  install -d -m 0700 -o smilepay-ledger -g smilepay-ledger /var/lib/smilepay-ledger
                  SMILEPAY_LEDGER_DB=$db runuser -u smilepay-ledger -- "$PREFIX/venv/bin/smilepay" ledger migrate ;;
        *) SMILEPAY_LEDGER_DB=$db "$PREFIX/venv/bin/smilepay" ledger migrate ;;
    esac
}

wait_for_ledger() {
    url="http://$LEDGER_HOST:$LEDGER_PORT/v1/time"
    for _ in $(seq 1 60); do
        "$PREFIX/venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null \
            && { say "the ledger answers at $url"; return; }
        sleep 1
    done
    die "the ledger did not answer $url within 60 s: journalctl -u smilepay-ledger"
}

set_up_ledger() {
    [ "$STAGING" = yes ] || add_user smilepay-ledger /var/lib/smilepay-ledger
    [ -z "$DB_URL" ] || create_database
    ledger_tokens
    ledger_env
    migrate_ledger
}

# --- main -----------------------------------------------------------------------------------

[ "$STAGING" = yes ] || [ "$KIOSK" = no ] || check_data_dir
mkdir -p "$ROOT/etc/systemd/system" "$ROOT/etc/smilepay"
UNITS=
if [ "$KIOSK" = yes ]; then UNITS="smilepay-kiosk.service smilepay-sync.service"; fi
if [ "$SCREEN" = yes ]; then UNITS="$UNITS smilepay-screen.service"; fi
if [ "$LEDGER" = yes ]; then UNITS="$UNITS smilepay-ledger.service"; fi
for unit in $UNITS; do install_unit "$unit"; done
if [ "$KIOSK" = yes ]; then write_config; fi
if [ "$LEDGER" = yes ]; then set_up_ledger; fi

if [ "$STAGING" = no ] && [ "$KIOSK" = yes ]; then
    add_user smilepay "$DATA_DIR" video dialout gpio
    [ "$SCREEN" = yes ] && add_user smilepay-screen /var/lib/smilepay-screen video render input smilepay
    [ "$LEDGER" = yes ] && add_user smilepay-ledger /var/lib/smilepay-ledger
    chgrp smilepay "$ROOT/etc/smilepay/kiosk.toml"
    install -d -m 0700 -o smilepay -g smilepay "$DATA_DIR" "$DATA_DIR/cache"
    provision_models
    register_device
    say "what each hardware role resolves to on this machine:"
    runuser -u smilepay -- "$PREFIX/venv/bin/smilepay" kiosk --check --config /etc/smilepay/kiosk.toml \
        || say "WARNING: fix the roles above in /etc/smilepay/kiosk.toml; the kiosk will not start until then"
fi
if [ "$STAGING" = no ]; then
    systemctl daemon-reload
    # shellcheck disable=SC2086
    if [ "$START" = yes ]; then
        systemctl enable --now $UNITS
        if [ "$LEDGER" = yes ]; then wait_for_ledger; fi
    fi
fi
say "done:$UNITS"
