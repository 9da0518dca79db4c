#!/bin/sh
# Install the smilepay kiosk as systemd services on a Raspberry Pi (64-bit Raspberry Pi OS or
# Debian 12), or stage the files into an image with --root.
#
#   sudo systemd/install.sh [--prefix /opt/smilepay] [--data-dir /var/lib/smilepay]
#                           [--no-screen] [--ledger] [--no-start] [--root DIR]
#                           [--allow-volatile-data] [--ledger-url URL
#                           [--registration-token-file FILE]]
#
# What it does:
#   - creates the system users: `smilepay` (kiosk and sync agent; groups video, dialout and gpio
#     when present), `smilepay-screen` (the Chromium kiosk browser; groups video, render, input),
#     and with --ledger `smilepay-ledger`;
#   - installs smilepay-kiosk.service, smilepay-sync.service, smilepay-screen.service (unless
#     --no-screen) and smilepay-ledger.service (with --ledger) into /etc/systemd/system, with
#     ExecStart pointed at PREFIX/venv/bin/smilepay;
#   - writes /etc/smilepay/kiosk.toml if there is none (data_dir = the data directory, models in
#     PREFIX/models);
#   - provisions the face models into PREFIX/models if they are not there yet
#     (`smilepay models provision`);
#   - with --ledger-url, registers this device with the ledger as the `smilepay` user
#     (`smilepay device init`), unless the data directory already holds an identity;
#   - enables and starts the units (unless --no-start or --root).
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
        --no-start) START=no; shift ;;
        --allow-volatile-data) ALLOW_VOLATILE=yes; shift ;;
        --ledger-url) LEDGER_URL=${2:?--ledger-url needs a URL}; shift 2 ;;
        --registration-token-file) REGISTRATION_TOKEN_FILE=${2:?needs a file}; shift 2 ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//; /^set -eu/d'; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

case "$PREFIX$DATA_DIR" in *"#"*) die "paths must not contain '#'" ;; esac
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
    cat > "$config" <<TOML
# smilepay kiosk configuration (see README). Unknown keys stop start-up with their path.
[device]
data_dir = "$DATA_DIR"

[face]
model_dir = "$PREFIX/models"

[screen]
host = "127.0.0.1"
port = 8080
# The screen's browser service opens the URL written here (it carries the per-boot secret).
launch_url_file = "/run/smilepay-kiosk/screen-url"
TOML
    chmod 0640 "$config"
    say "wrote $config"
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

[ "$STAGING" = yes ] || check_data_dir
mkdir -p "$ROOT/etc/systemd/system" "$ROOT/etc/smilepay"
UNITS="smilepay-kiosk.service smilepay-sync.service"
[ "$SCREEN" = yes ] && UNITS="$UNITS smilepay-screen.service"
[ "$LEDGER" = yes ] && UNITS="$UNITS smilepay-ledger.service"
for unit in $UNITS; do install_unit "$unit"; done
write_config

if [ "$STAGING" = no ]; then
    add_user smilepay "$DATA_DIR" video dialout gpio
    [ "$SCREEN" = yes ] && add_user smilepay-screen /var/lib/smilepay-screen video render input smilepay
    [ "$LEDGER" = yes ] && add_user smilepay-ledger /var/lib/smilepay-ledger
    chgrp smilepay "$ROOT/etc/smilepay/kiosk.toml"
    install -d -m 0700 -o smilepay -g smilepay "$DATA_DIR" "$DATA_DIR/cache"
    provision_models
    register_device
    systemctl daemon-reload
    # shellcheck disable=SC2086
    [ "$START" = yes ] && systemctl enable --now $UNITS
fi
say "done: $UNITS"
