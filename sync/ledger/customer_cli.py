"""`smilepay ledger customer create|show|topup|token|delete|list`: the operator's customer
commands, over the ledger's HTTP API with the admin bearer token (never the database)."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

import httpx

from base.errors import SmilepayError


def register(ledger_sub: Any) -> None:
    """Add `ledger customer ...` under the `ledger` command."""
    customer = ledger_sub.add_parser("customer", help="operator: customers over the HTTP API")
    sub = customer.add_subparsers(dest="customer_command", required=True)
    create = _command(sub, "create", "create a customer and wallet")
    create.add_argument("--name", required=True)
    create.add_argument("--currency", default="EUR")
    create.add_argument("--customer-id", help="default: a new random id")
    _command(sub, "show", "balance, enrolment and deletion status").add_argument("customer_id")
    topup = _command(sub, "topup", "fund the wallet (idempotent on --reference)")
    topup.add_argument("customer_id")
    topup.add_argument("--amount-minor", type=int, required=True)
    topup.add_argument("--currency", default="EUR")
    topup.add_argument("--reference", help="default: a new random reference")
    token = _command(sub, "token", "a fresh customer payment token")
    token.add_argument("customer_id")
    token.add_argument("--ttl-s", type=int, default=60, help="lifetime in seconds")
    token.add_argument("--qr", action="store_true", help="also draw it as a QR code")
    delete = _command(sub, "delete", "erase the customer and have every kiosk delete the face")
    delete.add_argument("customer_id")
    listing = _command(sub, "list", "customers in id order")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--after", default="", help="list ids after this one (paging)")


def _command(sub: Any, name: str, help_text: str) -> Any:
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("--ledger-url", required=True)
    parser.add_argument("--admin-token-file", help="the operator's bearer token (0600 file)")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Dispatch one customer command; print the ledger's answer."""
    with _client(args) as http:
        answer = ACTIONS[args.customer_command](http, args)
    if args.json:
        print(json.dumps(answer, sort_keys=True))
    else:
        print(_text(args.customer_command, answer))
    if args.customer_command == "token" and args.qr:
        print(qr_text(answer["token"]))
    return 0


def _client(args: argparse.Namespace) -> httpx.Client:
    from sync.ledger.commands import read_token

    token = read_token(args.admin_token_file, "--admin-token-file")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=args.ledger_url.rstrip("/"), headers=headers, timeout=30.0)


def _call(http: httpx.Client, method: str, path: str, body: Any = None) -> dict[str, Any]:
    try:
        response = http.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise SmilepayError(f"ledger at {http.base_url} unreachable: {exc}") from None
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SmilepayError(f"ledger answered {response.status_code} without a JSON object")
    if response.status_code >= 400:
        reason = answer.get("reason", "no reason given")
        raise SmilepayError(
            f"ledger refused ({response.status_code} {answer.get('error')}): {reason}"
        )
    return answer


def _create(http: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    body = {"name": args.name, "currency": args.currency}
    if args.customer_id:
        body["customer_id"] = args.customer_id
    return _call(http, "POST", "/v1/customers", body)


def _show(http: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    return _call(http, "GET", f"/v1/customers/{args.customer_id}")


def _topup(http: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    body = {
        "amount_minor": args.amount_minor,
        "currency": args.currency,
        "reference": args.reference or f"cli-{uuid.uuid4().hex}",
    }
    return _call(http, "POST", f"/v1/customers/{args.customer_id}/topups", body)


def _token(http: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    return _call(http, "POST", f"/v1/customers/{args.customer_id}/tokens", {"ttl_s": args.ttl_s})


def _delete(http: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    return _call(http, "DELETE", f"/v1/customers/{args.customer_id}")


def _list(http: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    query = f"?limit={args.limit}" + (f"&after={args.after}" if args.after else "")
    return _call(http, "GET", f"/v1/customers{query}")


ACTIONS = {
    "create": _create,
    "show": _show,
    "topup": _topup,
    "token": _token,
    "delete": _delete,
    "list": _list,
}


def _text(command: str, answer: dict[str, Any]) -> str:
    if command == "token":
        return str(answer["token"])
    if command == "list":
        return "\n".join(
            f"{c['customer_id']}  {c['currency']}  {'(erased)' if c['deleted'] else c['name']}"
            for c in answer["customers"]
        )
    return "\n".join(f"{key}: {json.dumps(value)}" for key, value in sorted(answer.items()))


def qr_text(payload: str) -> str:
    """The payload as a QR code drawn with half-block characters (dark on a light terminal
    background is inverted so phones' scanners read it on the usual dark terminals)."""
    import io

    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(payload)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
