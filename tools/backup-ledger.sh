#!/bin/bash
# Back up or restore the ledger's PostgreSQL database with pg_dump / pg_restore.
#
#   tools/backup-ledger.sh backup  FILE.dump [ENV_FILE]     (safe while the ledger runs)
#   tools/backup-ledger.sh restore FILE.dump DATABASE_URL   (into an empty database)
#
# The database URL comes from SMILEPAY_LEDGER_DB in ENV_FILE (default /etc/smilepay/ledger.env,
# written by systemd/install.sh --ledger), or from $SMILEPAY_LEDGER_DB. pg_dump takes one
# consistent snapshot (a single repeatable-read transaction), so it runs beside a live ledger.
# The dump is in pg_dump's custom format (-Fc: compressed, restorable table by table) and is
# made 0600: it holds every wallet and every signed sale. Restore into an empty database owned by
# the ledger's role (`createdb -O ROLE NAME`), then check it with
#     smilepay ledger reconcile --db postgresql://...
# which must show the same per-device totals, gaps and chain breaks as before.
# Client tools newer than the server are fine (Trixie's pg_restore 17 into a PostgreSQL 15):
# pg_restore 17 opens every restore with `SET transaction_timeout`, a setting older servers
# reject, so for an older server the restore goes through psql without that line.
set -euo pipefail

die() { echo "backup-ledger.sh: error: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: $0 backup FILE [ENV_FILE] | restore FILE DATABASE_URL"
libpq_url() { echo "$1" | sed 's#^postgresql+psycopg://#postgresql://#; s#^postgres://#postgresql://#'; }

case "$1" in
    backup)
        env_file=${3:-/etc/smilepay/ledger.env}
        url=${SMILEPAY_LEDGER_DB:-}
        [ -n "$url" ] || { [ -r "$env_file" ] && url=$(sed -n 's/^SMILEPAY_LEDGER_DB=//p' "$env_file"); }
        [ -n "$url" ] || die "no database: set SMILEPAY_LEDGER_DB or give the ledger.env file"
        case "$url" in sqlite:*) die "this ledger uses SQLite: back it up with sqlite3 FILE '.backup DEST'" ;; esac
        umask 077
        pg_dump --format=custom --no-owner --file "$2" "$(libpq_url "$url")"
        echo "backup-ledger.sh: wrote $2 ($(wc -c < "$2") bytes)"
        ;;
    restore)
        [ $# -eq 3 ] || die "restore needs FILE and DATABASE_URL"
        [ -r "$2" ] || die "cannot read $2"
        url=$(libpq_url "$3")
        # psql says why it could not connect; the URL is not repeated (it may hold a password)
        server=$(psql -X -A -t -q -c 'SHOW server_version_num' "$url") ||
            die "cannot reach the database (psql's error above)"
        client=$(pg_restore --version | sed -n 's/^pg_restore (PostgreSQL) \([0-9]*\).*/\1/p')
        if [ -n "$client" ] && [ $((server / 10000)) -lt "$client" ]; then
            pg_restore --no-owner --file - "$2" | sed '/^SET transaction_timeout = /d' |
                psql -X -q -v ON_ERROR_STOP=1 --single-transaction -o /dev/null -d "$url"
        else
            pg_restore --no-owner --exit-on-error --single-transaction --dbname "$url" "$2"
        fi
        echo "backup-ledger.sh: restored $2"
        ;;
    *) die "first argument must be backup or restore" ;;
esac
