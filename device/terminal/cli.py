"""`smilepay pos ...` (the reference POS client, POS key provisioning) and `smilepay bench pos`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Exit codes: 0 the kiosk answered and the outcome is approved / refunded / found; 1 it answered
# with another outcome (declined, aborted, timed out, refused); 2 an error (see stderr).
OK_STATUSES = {"approved", "refunded", "in_progress"}


def register(commands: Any, benches: Any) -> None:
    """Add `pos` and `bench pos`."""
    pos = commands.add_parser("pos", help="the reference POS client for a kiosk's terminal API")
    sub = pos.add_subparsers(dest="pos_command", required=True)
    pay = _client(sub, "pay", "take a payment and wait for its outcome")
    pay.add_argument("--amount-minor", type=int, required=True)
    pay.add_argument("--currency", default="EUR")
    pay.add_argument("--reference", required=True, help="the POS's reference (idempotency key)")
    pay.add_argument(
        "--method",
        action="append",
        choices=["face", "customer_qr", "merchant_qr"],
        help="allowed method (repeat for several; default: the kiosk's)",
    )
    pay.add_argument("--line", action="append", default=[], metavar="NAME:QTY:UNIT_MINOR")
    pay.add_argument("--wait-s", type=float, default=180.0, help="give up waiting after this")
    for name, what in (("status", "a payment's outcome"), ("abort", "abort a payment")):
        command = _client(sub, name, what)
        command.add_argument("--reference", required=True)
    refund = _client(sub, "refund", "refund part or all of a sale")
    refund.add_argument("--sale-id", required=True)
    refund.add_argument("--amount-minor", type=int, required=True)
    refund.add_argument("--reference", required=True, help="this refund's own reference")
    refund.add_argument("--reason", default="")
    _client(sub, "info", "the kiosk's application info")
    provision = sub.add_parser("provision", help="create a POS key file (give a copy to the POS)")
    provision.add_argument("--key-file", type=Path, required=True)
    provision.add_argument("--pos-id", required=True)
    provision.set_defaults(handler=_provision)

    bench = benches.add_parser("pos", help="POS payment request to approved outcome, p50/p99")
    bench.add_argument("--payments", type=int, default=10)
    bench.add_argument(
        "--method",
        choices=["face", "customer_qr"],
        default="face",
        help="how the simulated customer pays (a smile, or a wallet code)",
    )
    bench.add_argument("--json", action="store_true", help="last line: one JSON object")
    bench.set_defaults(handler=_bench)


def _client(sub: Any, name: str, what: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser(name, help=what)
    command.add_argument("--pos-url", required=True, help="the kiosk's terminal API URL")
    command.add_argument("--key-file", type=Path, required=True, help="this POS's key file")
    command.add_argument("--pin-sha256", help="the kiosk's TLS certificate sha256 (https)")
    command.add_argument("--timeout-s", type=float, default=10.0, help="per-request timeout")
    command.add_argument("--json", action="store_true", help="last line: one JSON object")
    command.set_defaults(handler=_run_client)
    return command


def _run_client(args: argparse.Namespace) -> int:
    from device.terminal.auth import load_pos_key_file
    from device.terminal.pos_client import PosClient

    key = load_pos_key_file(args.key_file)
    with PosClient(args.pos_url, key, args.pin_sha256, args.timeout_s) as client:
        answer = _ask(client, args)
    print(json.dumps(answer) if args.json else _human(answer))
    return 0 if answer.get("status", "ok") in OK_STATUSES | {"ok"} else 1


def _ask(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    command = args.pos_command
    if command == "pay":
        lines = [_line(text) for text in args.line]
        return dict(
            client.pay(
                args.amount_minor, args.currency, args.reference, args.method, lines, args.wait_s
            )
        )
    if command == "status":
        return dict(client.status(args.reference))
    if command == "abort":
        return dict(client.abort(args.reference))
    if command == "refund":
        return dict(client.refund(args.sale_id, args.amount_minor, args.reference, args.reason))
    return dict(client.info())


def _line(text: str) -> dict[str, Any]:
    from base.errors import SmilepayError

    try:
        name, quantity, unit = text.rsplit(":", 2)
        return {"name": name, "quantity": int(quantity), "unit_minor": int(unit)}
    except ValueError:
        raise SmilepayError(f"--line {text!r}: expected NAME:QUANTITY:UNIT_MINOR") from None


def _human(answer: dict[str, Any]) -> str:
    shown = {k: v for k, v in answer.items() if k != "receipt" and v is not None}
    return " ".join(f"{k}={v}" for k, v in shown.items())


def _provision(args: argparse.Namespace) -> int:
    from device.terminal.auth import create_pos_key_file

    key = create_pos_key_file(args.key_file, args.pos_id)
    print(
        f"POS key for {key.pos_id} written to {args.key_file} (mode 0600); list it in the "
        "kiosk's [terminal] pos_key_files and give a copy to the POS",
        file=sys.stderr,
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from device.terminal.bench import bench_pos

    result = bench_pos(args.payments, args.method)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0
