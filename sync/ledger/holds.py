"""Online authorisations: two-phase holds on a customer's wallet (pending, then posted by the
sale's arrival, or voided by the kiosk, or voided when they expire)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Row, select

from sync.ledger import bookkeeping as bk
from sync.ledger.booking import open_holds
from sync.ledger.errors import Conflict, NotFound
from sync.ledger.tables import authorizations, customers, transfers

HOLD_TTL_MS = 15 * 60 * 1000


def authorize(
    conn: Connection, device: Row[Any], request: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """Approve (placing a pending transfer) or decline one sale; idempotent on sale_id."""
    existing = conn.execute(
        select(authorizations).where(authorizations.c.sale_id == request["sale_id"])
    ).first()
    if existing is not None:
        return _same_answer(existing, device, request)
    customer_id = request["customer_id"]
    expire_holds(conn, now_ms, customer_id)
    reason = _decline_reason(conn, customer_id, request)
    pending_id = None
    if reason is None:
        pending_id = _place_hold(conn, device.merchant_id, request, now_ms)
    row = {
        "auth_id": uuid.uuid4().hex,
        **{k: request[k] for k in ("sale_id", "customer_id", "amount_minor", "currency", "method")},
        "device_id": device.device_id,
        "status": "declined" if reason else "approved",
        "reason": reason,
        "pending_transfer_id": pending_id,
        "created_ms": now_ms,
        "expires_ms": now_ms + HOLD_TTL_MS,
    }
    conn.execute(authorizations.insert().values(**row))
    return _answer(row)


def _same_answer(existing: Row[Any], device: Row[Any], request: dict[str, Any]) -> dict[str, Any]:
    mine = existing.device_id == device.device_id and all(
        existing._mapping[k] == request[k] for k in ("customer_id", "amount_minor", "currency")
    )
    if not mine:
        raise Conflict("sale_id_taken", "this sale_id was already authorised with other details")
    return _answer(existing._mapping)


def _answer(row: Any) -> dict[str, Any]:
    return {"auth_id": row["auth_id"], "status": row["status"], "reason": row["reason"]}


def _decline_reason(conn: Connection, customer_id: str, request: dict[str, Any]) -> str | None:
    customer = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
    if customer is None or customer.deleted_ms is not None:
        return "unknown or deleted customer"
    if customer.currency != request["currency"]:
        return f"customer's wallet is in {customer.currency}"
    wallet = bk.lock_balances(conn, {bk.wallet(customer_id)})[bk.wallet(customer_id)]
    if wallet.available < request["amount_minor"]:
        return "insufficient funds"
    return None


def _place_hold(conn: Connection, merchant_id: str, request: dict[str, Any], now_ms: int) -> str:
    currency = request["currency"]
    to_merchant = bk.merchant(merchant_id, currency)
    bk.ensure_accounts(conn, {to_merchant: ("merchant", merchant_id, currency)})
    hold = bk.Transfer(
        "hold",
        bk.wallet(request["customer_id"]),
        to_merchant,
        request["amount_minor"],
        currency,
        "pending",
        sale_id=request["sale_id"],
    )
    return bk.apply_transfers(conn, [hold], now_ms)[0].transfer_id


def void(conn: Connection, device: Row[Any], auth_id: str, now_ms: int) -> dict[str, Any]:
    """Release an authorisation's hold; repeating it is harmless, voiding a posted one is not."""
    auth = conn.execute(
        select(authorizations).where(
            authorizations.c.auth_id == auth_id, authorizations.c.device_id == device.device_id
        )
    ).first()
    if auth is None:
        raise NotFound("unknown_authorization", f"no authorisation {auth_id} from this device")
    if auth.status != "approved":
        raise Conflict("not_approved", "this authorisation was declined; there is nothing to void")
    if auth.auth_id in open_holds(conn, [auth_id]):
        _void_holds(conn, [auth], "void", now_ms)
    elif _resolution(conn, auth.pending_transfer_id) == "post":
        raise Conflict("already_posted", "the sale arrived and posted this authorisation")
    return {"auth_id": auth_id, "status": "voided"}


def expire_holds(conn: Connection, now_ms: int, customer_id: str | None = None) -> int:
    """Void every open hold past its expiry (of one customer, or all); returns how many."""
    query = select(authorizations).where(
        authorizations.c.status == "approved", authorizations.c.expires_ms < now_ms
    )
    if customer_id is not None:
        query = query.where(authorizations.c.customer_id == customer_id)
    candidates = list(conn.execute(query))
    still_open = open_holds(conn, [row.auth_id for row in candidates])
    expired = [row for row in candidates if row.auth_id in still_open]
    _void_holds(conn, expired, "void", now_ms)
    return len(expired)


def _void_holds(conn: Connection, auths: list[Row[Any]], kind: str, now_ms: int) -> None:
    voids = [
        bk.Transfer(
            kind,
            bk.wallet(a.customer_id),
            "",
            a.amount_minor,
            a.currency,
            "void",
            sale_id=a.sale_id,
            pending_id=a.pending_transfer_id,
        )
        for a in auths
    ]
    bk.apply_transfers(conn, [_with_credit(conn, v) for v in voids], now_ms)


def _with_credit(conn: Connection, void_transfer: bk.Transfer) -> bk.Transfer:
    """A void credits the same account its hold credited."""
    credit = conn.scalar(
        select(transfers.c.credit_account_id).where(
            transfers.c.transfer_id == void_transfer.pending_id
        )
    )
    return bk.Transfer(**{**void_transfer.__dict__, "credit": credit})


def _resolution(conn: Connection, pending_id: str) -> str | None:
    return conn.scalar(select(transfers.c.phase).where(transfers.c.pending_id == pending_id))
