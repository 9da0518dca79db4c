"""What the ledger's CLI commands do (imported only when one runs)."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from base.errors import SmilepayError
from base.logs import configure_logging
from sync.ledger.reports import journal, reconcile
from sync.ledger.storage import migrate, open_engine

log = logging.getLogger(__name__)


def read_token(path: str | None, what: str) -> str | None:
    """The token in a file (surrounding whitespace ignored), or None when no file is given."""
    if path is None:
        return None
    try:
        mode = Path(path).stat().st_mode
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise SmilepayError(f"{what} file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SmilepayError(f"{what} file {path}: readable by others; chmod 600 it")
    if len(token) < 16:
        raise SmilepayError(f"{what} file {path}: the token must be at least 16 characters")
    return token


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def check_serve_security(args: argparse.Namespace, admin: str | None, shared: str | None) -> None:
    """Nothing runs open by default: an operator token, or `--insecure-dev` on loopback."""
    if args.insecure_dev and (admin or shared):
        raise SmilepayError("--insecure-dev runs without tokens: drop the token files, or it")
    if not args.insecure_dev and admin is None:
        raise SmilepayError(
            "refusing to start an open ledger: give --admin-token-file (a 0600 file), "
            "or --insecure-dev for development on loopback"
        )
    if args.insecure_dev and args.host not in LOOPBACK:
        raise SmilepayError(f"--insecure-dev binds loopback only, not {args.host}")
    if args.insecure_dev:
        log.warning(
            "INSECURE DEV LEDGER: no operator token, anyone on this machine may register "
            "kiosks, create and fund customers; never use this with real money"
        )
    if shared:
        log.warning(
            "a fleet-wide registration token is set: whoever holds it can register kiosks; "
            "prefer single-use codes (`smilepay ledger registration-code`)"
        )


def serve_command(args: argparse.Namespace) -> int:
    """`smilepay ledger serve`: migrate, then serve HTTP until interrupted."""
    from base.keys import load_key_file
    from sync.ledger.app import (
        ENV_ADMIN,
        ENV_DB,
        ENV_ISSUER_KEY_FILE,
        ENV_MAX_BODY,
        ENV_METRICS,
        ENV_REGISTRATION,
        ENV_RETENTION_DAYS,
        ENV_SETTLE_LATER_MAX,
        ENV_TEMPLATE_KEY_FILE,
        create_app,
    )
    from sync.ledger.policy import LedgerPolicy
    from sync.ledger.server import serve, serve_workers

    configure_logging("ledger")
    require_db(args)
    admin = read_token(args.admin_token_file, "--admin-token-file")
    registration = read_token(args.registration_token_file, "--registration-token-file")
    check_serve_security(args, admin, registration)
    metrics_token = read_token(args.metrics_token_file, "--metrics-token-file")
    if args.workers < 1:
        raise SmilepayError("--workers must be at least 1")
    if args.max_body_bytes < 1024 or args.settle_later_max < 0:
        raise SmilepayError("--max-body-bytes must be >= 1024 and --settle-later-max >= 0")
    if args.template_retention_days < 1:
        raise SmilepayError("--template-retention-days must be at least 1")
    template_key = Path(args.template_key_file) if args.template_key_file else None
    log.info(
        "ledger starting",
        extra={
            "host": args.host,
            "port": args.port,
            "workers": args.workers,
            "operator_auth": admin is not None,
            "max_body_bytes": args.max_body_bytes,
            "settle_later_max": args.settle_later_max,
        },
    )
    issuer_key = load_key_file(Path(args.issuer_key_file)) if args.issuer_key_file else None
    policy = LedgerPolicy(args.max_body_bytes, args.settle_later_max)
    if args.workers == 1:
        app = create_app(
            args.db,
            admin_token=admin,
            registration_token=registration,
            issuer_key=issuer_key,
            policy=policy,
            template_key_file=template_key,
            retention_days=args.template_retention_days,
            metrics_token=metrics_token,
        )
        serve(app, args.host, args.port)
        return 0
    migrate(open_engine(args.db))  # once, before the workers start
    os.environ.update(
        {
            ENV_DB: args.db,
            ENV_ADMIN: admin or "",
            ENV_REGISTRATION: registration or "",
            ENV_ISSUER_KEY_FILE: args.issuer_key_file or "",
            ENV_MAX_BODY: str(args.max_body_bytes),
            ENV_SETTLE_LATER_MAX: str(args.settle_later_max),
            ENV_TEMPLATE_KEY_FILE: args.template_key_file or "",
            ENV_RETENTION_DAYS: str(args.template_retention_days),
            ENV_METRICS: metrics_token or "",
        }
    )
    serve_workers("sync.ledger.app:app_from_environment", args.host, args.port, args.workers)
    return 0


def require_db(args: argparse.Namespace) -> None:
    """--db or $SMILEPAY_LEDGER_DB must name the database."""
    if not args.db:
        raise SmilepayError("no database: give --db URL or set SMILEPAY_LEDGER_DB")


def migrate_command(args: argparse.Namespace) -> int:
    """`smilepay ledger migrate`: bring the schema to the newest revision, then stop."""
    configure_logging("ledger-cli", stream=_stderr())
    require_db(args)
    migrate(open_engine(args.db))
    print("ledger database at the newest schema", flush=True)
    return 0


def export_command(args: argparse.Namespace) -> int:
    """`smilepay ledger export`: one line per transfer (JSON with --json)."""
    configure_logging("ledger-cli", stream=_stderr())
    engine = open_engine(args.db)
    migrate(engine)
    with engine.connect() as conn:
        for transfer in journal(conn):
            print(json.dumps(transfer, sort_keys=True) if args.json else _transfer_line(transfer))
    return 0


def _transfer_line(t: dict[str, Any]) -> str:
    sale = f" sale {t['sale_id']}" if t["sale_id"] else ""
    if t["kind"] in ("refund", "refund_later"):
        sale += f" refund {t['reference']}"
    return (
        f"{t['created_ms']} {t['kind']:<12} {t['amount_minor']:>10} {t['currency']} "
        f"{t['debit_account_id']} -> {t['credit_account_id']}{sale}"
    )


def reconcile_command(args: argparse.Namespace) -> int:
    """`smilepay ledger reconcile`: per-device report; exit 1 if anything does not balance."""
    configure_logging("ledger-cli", stream=_stderr())
    engine = open_engine(args.db)
    migrate(engine)
    with engine.connect() as conn:
        report = reconcile(conn, args.device)
    if args.device and not report["devices"]:
        raise SmilepayError(f"no device {args.device} in this ledger")
    print(json.dumps(report, sort_keys=True) if args.json else _report_text(report))
    balanced = all(t["balanced"] for t in report["ledger"]) and all(
        entry["balanced"]
        for device in report["devices"]
        for entry in [*device["totals"], *device["refunds"]["refunded"]]
    )
    return 0 if balanced else 1


def _report_text(report: dict[str, Any]) -> str:
    lines = []
    for d in report["devices"]:
        lines.append(
            f"{d['device_id']}: arrived {d['arrived']} (accepted {d['accepted']}, declined "
            f"{d['declined']}), duplicates {d['duplicates_rejected']}, rejected {d['rejected']}, "
            f"gaps {d['gaps']}, chain breaks {d['chain_breaks']}"
        )
        for total in d["totals"]:
            lines.append(
                f"  {total['currency']}: {total['sales_minor']} by {total['by_kind']}"
                f" balanced={total['balanced']}"
            )
        for refund in d["refunds"]["refunded"]:
            lines.append(
                f"  {refund['currency']}: refunded {refund['amount_minor']} in {refund['count']}"
                f" refunds balanced={refund['balanced']}"
            )
    for total in report["ledger"]:
        lines.append(
            f"ledger {total['currency']}: debits {total['debits_posted']} credits "
            f"{total['credits_posted']} balanced={total['balanced']}"
        )
    return "\n".join(lines)


def _stderr() -> Any:
    import sys

    return sys.stderr
