"""Ledger commands: `ledger serve`, `ledger export`, `ledger reconcile`, and its benchmark."""

from __future__ import annotations

import argparse
import os
from typing import Any


def register(commands: Any, benches: Any) -> None:
    """Add the ledger commands and benchmark."""
    ledger = commands.add_parser("ledger", help="the central ledger service")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    serve = ledger_sub.add_parser("serve", help="run the ledger HTTP service")
    serve.add_argument(
        "--db",
        default=os.environ.get("SMILEPAY_LEDGER_DB"),
        help="SQLAlchemy URL (sqlite:///... or postgresql://...); default: $SMILEPAY_LEDGER_DB "
        "(keeps a password out of the process list)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8700)
    serve.add_argument("--workers", type=int, default=1, help="HTTP worker processes")
    serve.add_argument(
        "--admin-token-file", help="operator requests need this bearer token (required)"
    )
    serve.add_argument(
        "--registration-token-file",
        help="legacy: a fleet-wide registration token accepted besides single-use codes",
    )
    serve.add_argument("--issuer-key-file", help="Ed25519 key file for signing customer tokens")
    serve.add_argument(
        "--insecure-dev",
        action="store_true",
        help="development only: no operator token, open registration, loopback bind only",
    )
    serve.add_argument(
        "--max-body-bytes", type=int, default=2 * 1024 * 1024, help="larger bodies get 413"
    )
    serve.add_argument(
        "--settle-later-max",
        type=int,
        default=10_000,
        help="cap on one customer's settle-later debt across all kiosks (minor units)",
    )
    serve.add_argument(
        "--template-key-file",
        help="32-byte key file (created 0600 if absent), outside the database, that seals face"
        " templates at rest; without it the ledger takes no enrolments",
    )
    serve.add_argument(
        "--template-retention-days",
        type=int,
        default=1095,
        help="delete templates unused (no enrolment, no sale) this long; default 3 years",
    )
    serve.add_argument(
        "--metrics-token-file", help="/metrics also accepts this bearer token (for Prometheus)"
    )
    serve.set_defaults(handler=_serve)
    migrate = ledger_sub.add_parser("migrate", help="bring the database to the newest schema")
    migrate.add_argument("--db", default=os.environ.get("SMILEPAY_LEDGER_DB"))
    migrate.set_defaults(handler=_migrate)
    code = ledger_sub.add_parser(
        "registration-code", help="mint a single-use registration code for one kiosk"
    )
    code.add_argument("--ledger-url", required=True)
    code.add_argument("--admin-token-file", required=True)
    code.add_argument("--merchant-id", help="the kiosk must register for this merchant")
    code.add_argument("--store-id", help="the kiosk must register for this store")
    code.add_argument("--expires-in", default="1h", help="e.g. 900s, 30m, 1h, 2d (default 1h)")
    code.add_argument("--json", action="store_true")
    code.set_defaults(handler=_registration_code)
    from sync.ledger.customer_cli import register as register_customer_commands

    register_customer_commands(ledger_sub)
    export = ledger_sub.add_parser("export", help="one JSON object per ledger transaction")
    export.add_argument("--db", required=True)
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=_export)
    reconcile = ledger_sub.add_parser("reconcile", help="per device: arrived, duplicates, gaps")
    reconcile.add_argument("--db", required=True)
    reconcile.add_argument("--device")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(handler=_reconcile)

    bench = benches.add_parser("ledger", help="sales ingested per second vs raw batched insert")
    bench.add_argument("--db", required=True)
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--sales", type=int, default=20000, help="sales to ingest")
    bench.add_argument("--batch", type=int, default=500, help="sales per batch")
    bench.add_argument("--devices", type=int, default=8, help="kiosks sending at once")
    bench.add_argument("--customers", type=int, default=5000, help="funded customers sold to")
    bench.add_argument("--workers", type=int, default=1, help="ledger worker processes")
    bench.set_defaults(handler=_bench)


def _serve(args: argparse.Namespace) -> int:
    from sync.ledger.commands import serve_command

    return serve_command(args)


def _registration_code(args: argparse.Namespace) -> int:
    from sync.ledger.operator_cli import registration_code_command

    return registration_code_command(args)


def _migrate(args: argparse.Namespace) -> int:
    from sync.ledger.commands import migrate_command

    return migrate_command(args)


def _export(args: argparse.Namespace) -> int:
    from sync.ledger.commands import export_command

    return export_command(args)


def _reconcile(args: argparse.Namespace) -> int:
    from sync.ledger.commands import reconcile_command

    return reconcile_command(args)


def _bench(args: argparse.Namespace) -> int:
    from sync.ledger.bench import bench_command

    return bench_command(args)
