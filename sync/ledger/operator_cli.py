"""Operator commands that talk to a running ledger over HTTP (`ledger registration-code`)."""

from __future__ import annotations

import argparse
import json
import re

import httpx

from base.errors import SmilepayError
from sync.ledger.commands import read_token

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION = re.compile(r"(\d{1,7})([smhd]?)")


def parse_duration(text: str) -> int:
    """Seconds in "900", "900s", "30m", "1h" or "2d"."""
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise SmilepayError(f"--expires-in {text!r}: use a number with s, m, h or d (e.g. 1h)")
    return int(match.group(1)) * UNITS[match.group(2) or "s"]


def registration_code_command(args: argparse.Namespace) -> int:
    """Mint a code; print it (last line one JSON object with --json)."""
    admin = read_token(args.admin_token_file, "--admin-token-file")
    body = {
        "merchant_id": args.merchant_id,
        "store_id": args.store_id,
        "expires_in_s": parse_duration(args.expires_in),
    }
    try:
        answer = httpx.post(
            f"{args.ledger_url.rstrip('/')}/v1/registration-codes",
            json={k: v for k, v in body.items() if v is not None},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise SmilepayError(f"cannot reach the ledger at {args.ledger_url}: {exc}") from None
    if answer.status_code != 201:
        raise SmilepayError(f"the ledger refused ({answer.status_code}): {answer.text[:300]}")
    minted = answer.json()
    print(json.dumps(minted, sort_keys=True) if args.json else minted["code"])
    return 0
