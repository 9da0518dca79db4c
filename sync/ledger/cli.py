"""Ledger commands: `ledger serve`, `ledger export`, `ledger reconcile`, and its benchmark."""

from __future__ import annotations

from typing import Any

from device.cli import not_built


def register(commands: Any, benches: Any) -> None:
    """Add the ledger commands and benchmark."""
    ledger = commands.add_parser("ledger", help="the central ledger service")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    serve = ledger_sub.add_parser("serve", help="run the ledger HTTP service")
    serve.add_argument("--db", required=True, help="SQLAlchemy URL (sqlite:///... or postgresql://...)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8700)
    serve.set_defaults(handler=not_built("ledger serve"))
    export = ledger_sub.add_parser("export", help="one JSON object per ledger transaction")
    export.add_argument("--db", required=True)
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=not_built("ledger export"))
    reconcile = ledger_sub.add_parser("reconcile", help="per device: arrived, duplicates, gaps")
    reconcile.add_argument("--db", required=True)
    reconcile.add_argument("--device")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(handler=not_built("ledger reconcile"))

    bench = benches.add_parser("ledger", help="sales ingested per second vs raw batched insert")
    bench.add_argument("--db", required=True)
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=not_built("bench ledger"))
