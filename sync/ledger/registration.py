"""Who may register a kiosk: single-use, per-kiosk registration codes minted by the operator.

A code is 32 random bytes (base64url), stored only as its sha256, valid until it expires and
spent by the registration that uses it, in the same transaction. A key that was ever revoked
never registers again, under any device id; nor does a key already registered to another id.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, select, update

from sync.ledger.errors import Conflict, Forbidden, Unauthorized
from sync.ledger.tables import devices
from sync.ledger.tables_security import registration_codes

CODE_BYTES = 32
MAX_CODE_CHARS = 200


def code_hash(code: str) -> str:
    """What the ledger stores for a code."""
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


def mint_code(conn: Connection, request: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A new code (returned once, never stored in clear) and what it is valid for."""
    code = secrets.token_urlsafe(CODE_BYTES)
    row = {
        "code_sha256": code_hash(code),
        "merchant_id": request.get("merchant_id"),
        "store_id": request.get("store_id"),
        "created_ms": now_ms,
        "expires_ms": now_ms + int(request["expires_in_s"]) * 1000,
    }
    conn.execute(registration_codes.insert().values(**row))
    return {
        "code": code,
        "merchant_id": row["merchant_id"],
        "store_id": row["store_id"],
        "expires_at_ms": row["expires_ms"],
    }


def check_key_is_usable(conn: Connection, device_id: str, public_key: str) -> None:
    """Refuse a key that was revoked, or that another device id already holds."""
    holders = conn.execute(
        select(devices.c.device_id, devices.c.revoked_ms).where(devices.c.public_key == public_key)
    ).all()
    if any(row.revoked_ms is not None for row in holders):
        raise Forbidden("key_revoked", "this public key was revoked; it can never register again")
    others = [row.device_id for row in holders if row.device_id != device_id]
    if others:
        raise Conflict("key_in_use", "this public key is already registered to another device")


def spend_code(conn: Connection, code: str, request: dict[str, Any], now_ms: int) -> None:
    """Spend a valid, unexpired, unused code for this registration, or refuse (401/403)."""
    if not code or len(code) > MAX_CODE_CHARS:
        raise Unauthorized("registration_code_required", "a registration code is required")
    row = conn.execute(
        select(registration_codes)
        .where(registration_codes.c.code_sha256 == code_hash(code))
        .with_for_update()
    ).first()
    if row is None:
        raise Unauthorized("bad_registration_code", "unknown registration code")
    if row.used_ms is not None:
        raise Unauthorized("registration_code_used", "this registration code was already used")
    if row.expires_ms <= now_ms:
        raise Unauthorized("registration_code_expired", "this registration code has expired")
    for field in ("merchant_id", "store_id"):
        if row._mapping[field] is not None and row._mapping[field] != request[field]:
            wanted = row._mapping[field]
            raise Forbidden("registration_code_scope", f"this code is for {field} {wanted}")
    spent = conn.execute(
        update(registration_codes)
        .where(registration_codes.c.code_sha256 == row.code_sha256)
        .where(registration_codes.c.used_ms.is_(None))
        .values(used_ms=now_ms, used_by_device_id=request["device_id"])
    )
    if spent.rowcount != 1:  # a concurrent registration spent it first
        raise Unauthorized("registration_code_used", "this registration code was already used")


def register_device(
    conn: Connection, request: dict[str, Any], credential: str, policy: Any, now_ms: int
) -> bool:
    """Register a kiosk (True if new). A known device with the same key is re-registered
    harmlessly; a new one needs a usable key and, unless `policy.open_registration`, a
    registration code (or the legacy shared token when the ledger was given one)."""
    from sync.ledger import devices as device_rows

    known = conn.execute(
        select(devices.c.device_id).where(devices.c.device_id == request["device_id"])
    ).first()
    if known is None:
        check_key_is_usable(conn, request["device_id"], request["public_key"])
        if not policy.open_registration and not policy.shared_token_matches(credential):
            spend_code(conn, credential, request, now_ms)
    return device_rows.register(conn, request, now_ms)
