"""Devices: registration, revocation, request authentication with a nonce store, and limits."""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

from sqlalchemy import Connection, Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from base import keys, wire
from base.limits import OfflineLimits
from sync.ledger.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from sync.ledger.tables import device_limits, devices, nonces

log = logging.getLogger(__name__)
AUTH_HEADERS = (wire.HEADER_DEVICE, wire.HEADER_TIMESTAMP, wire.HEADER_NONCE, wire.HEADER_SIGNATURE)
NONCE_KEEP_MS = 2 * wire.REQUEST_SKEW_S * 1000  # older nonces fail the timestamp check anyway


def register(conn: Connection, request: dict[str, Any], now_ms: int) -> bool:
    """Register a device's public key; True if new. Same key again is fine; another is not."""
    try:
        keys.public_key_from_b64(request["public_key"])
    except ValueError as exc:
        raise BadRequest("bad_public_key", f"public_key: {exc}") from None
    existing = conn.execute(
        select(devices).where(devices.c.device_id == request["device_id"])
    ).first()
    if existing is not None:
        if existing.public_key != request["public_key"]:
            raise Conflict("device_exists", "this device id is registered with another key")
        if existing.revoked_ms is not None:
            raise Forbidden("device_revoked", "this device was revoked")
        return False
    fields = ("device_id", "public_key", "merchant_id", "store_id", "name")
    conn.execute(
        devices.insert().values(
            **{k: request[k] for k in fields},
            registered_ms=now_ms,
            last_seq=0,
            gallery_cursor=0,
        )
    )
    return True


def revoke(conn: Connection, device_id: str, now_ms: int) -> None:
    """Stop accepting requests from a device (its booked sales stay)."""
    device_row(conn, device_id)
    conn.execute(
        update(devices)
        .where(devices.c.device_id == device_id, devices.c.revoked_ms.is_(None))
        .values(revoked_ms=now_ms)
    )


def device_row(conn: Connection, device_id: str, lock: bool = False) -> Row[Any]:
    """The device's row (locked for the transaction if asked), or NotFound."""
    query = select(devices).where(devices.c.device_id == device_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("unknown_device", f"no device {device_id}")
    return row


def check_request(
    conn: Connection,
    device_id: str,
    headers: dict[str, str],
    method: str,
    path: str,
    body: bytes,
    now_s: float,
) -> Row[Any]:
    """Check the request's device, signature and freshness (the nonce is `spend_nonce`'s job);
    log and raise if any fails. Returns the device row."""
    if headers.get(wire.HEADER_DEVICE) != device_id:
        _refuse(
            Unauthorized("bad_device_header", "X-Smilepay-Device does not name this device"),
            device_id,
            path,
        )
    row = conn.execute(select(devices).where(devices.c.device_id == device_id)).first()
    if row is None:
        _refuse(
            Unauthorized("unknown_device", f"device {device_id} is not registered"), device_id, path
        )
    if row.revoked_ms is not None:
        _refuse(Forbidden("device_revoked", "this device was revoked"), device_id, path)
    public_key = keys.public_key_from_b64(row.public_key)
    failure = wire.verify_request(headers, public_key, method, path, body, now=now_s)
    if failure:
        _refuse(Unauthorized("bad_request_signature", failure), device_id, path)
    return row


def spend_nonce(conn: Connection, device_id: str, nonce: str, path: str, now_ms: int) -> None:
    """Record the request's nonce in the transaction doing its work; a nonce seen before is a
    replay (409, logged). Two copies racing: the unique key lets exactly one through."""
    if not _remember_nonce(conn, device_id, nonce, now_ms):
        _refuse(
            Conflict("replayed_request", "this request's nonce was already used"), device_id, path
        )


def _refuse(error: Unauthorized | Forbidden | Conflict, device_id: str, path: str) -> NoReturn:
    log.warning(
        "device request refused",
        extra={
            "device_id": device_id[:64],
            "path": path[:200],
            "why": error.code,
            "detail": error.reason,
        },
    )
    raise error


def _remember_nonce(conn: Connection, device_id: str, nonce: str, now_ms: int) -> bool:
    """Store the nonce; False if it was seen before (a replay)."""
    if not 1 <= len(nonce) <= 128:
        return False
    try:
        with conn.begin_nested():
            conn.execute(nonces.insert().values(device_id=device_id, nonce=nonce, seen_ms=now_ms))
    except IntegrityError:
        return False
    return True


def forget_old_nonces(conn: Connection, now_ms: int) -> int:
    """Drop nonces older than the skew window allows; returns how many."""
    result = conn.execute(delete(nonces).where(nonces.c.seen_ms < now_ms - NONCE_KEEP_MS))
    return int(result.rowcount or 0)


def limits_for(conn: Connection, device_id: str) -> dict[str, Any]:
    """The device's offline limits: stored ones, else the defaults of OfflineLimits."""
    stored = conn.scalar(
        select(device_limits.c.limits_json).where(device_limits.c.device_id == device_id)
    )
    return json.loads(stored) if stored else OfflineLimits().model_dump()


def set_limits(conn: Connection, device_id: str, limits: OfflineLimits) -> None:
    """Store a device's offline limits (replacing earlier ones)."""
    device_row(conn, device_id)
    conn.execute(delete(device_limits).where(device_limits.c.device_id == device_id))
    conn.execute(
        device_limits.insert().values(device_id=device_id, limits_json=limits.model_dump_json())
    )
