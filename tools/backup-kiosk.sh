#!/bin/sh
# Back up or restore a kiosk's data directory (sale queue, face gallery, device keys).
#
#   tools/backup-kiosk.sh backup  DATA_DIR BACKUP_DIR   (safe while the kiosk runs)
#   tools/backup-kiosk.sh restore BACKUP_DIR DATA_DIR   (stop smilepay-kiosk and -sync first)
#
# Each SQLite database (*.db) is copied with SQLite's online backup (`sqlite3 SRC ".backup
# DST"`): a consistent snapshot even while the kiosk writes, which a plain `cp` of a database in
# WAL mode is not. Every other file (device.json, keys/, the token issuer key) is copied as it
# is, modes kept. The backup holds the device's private key and the face templates' key: keep
# it as secret as the kiosk itself (the backup directory is made 0700).
#
# After a restore the kiosk resumes its chain where the backup ends: sales acknowledged after
# the backup was taken and not yet synced are lost from the kiosk. Run `smilepay ledger
# reconcile --device ID` on the ledger: any such sale that had synced is there, and a gap shows
# what never reached it. Needs: sqlite3 (apt install sqlite3).
set -eu

die() { echo "backup-kiosk.sh: error: $*" >&2; exit 2; }
command -v sqlite3 >/dev/null || die "sqlite3 not found: apt-get install sqlite3"
[ $# -eq 3 ] || die "usage: $0 backup DATA_DIR BACKUP_DIR | restore BACKUP_DIR DATA_DIR"
mode=$1; from=$2; to=$3
[ -d "$from" ] || die "$from is not a directory"
case "$mode" in backup|restore) ;; *) die "first argument must be backup or restore" ;; esac
if [ "$mode" = restore ] && [ -e "$to/device.db" ]; then
    [ "${SMILEPAY_RESTORE_OVER:-no}" = yes ] || \
        die "$to already holds a kiosk: move it aside (or set SMILEPAY_RESTORE_OVER=yes)"
    rm -f "$to"/*.db "$to"/*.db-wal "$to"/*.db-shm
fi

umask 077
mkdir -p "$to"
chmod 0700 "$to"
# Everything but the databases and their journals, modes and times kept.
(cd "$from" && find . -mindepth 1 \( -name '*.db' -o -name '*.db-wal' -o -name '*.db-shm' \
    -o -name '*.db-journal' \) -prune -o -print) | while read -r path; do
    if [ -d "$from/$path" ]; then mkdir -p "$to/$path"; chmod --reference="$from/$path" "$to/$path"
    else cp -p "$from/$path" "$to/$path"; fi
done
for db in "$from"/*.db; do
    [ -e "$db" ] || continue
    name=$(basename "$db")
    sqlite3 "$db" ".backup '$to/$name'"
    [ "$(sqlite3 "$to/$name" 'PRAGMA integrity_check;')" = ok ] || die "$to/$name failed its integrity check"
    chmod --reference="$db" "$to/$name"
    echo "backup-kiosk.sh: $mode $name: ok"
done
echo "backup-kiosk.sh: $mode done: $from -> $to"
