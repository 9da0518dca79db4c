"""Customers: create, top up, read, list, erase (face data: sync/ledger/enrolments.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Row, select, update

from sync.ledger import bookkeeping as bk
from sync.ledger import enrolments
from sync.ledger.errors import Conflict, NotFound
from sync.ledger.tables import customers, transfers


def create_customer(conn: Connection, request: dict[str, Any], now_ms: int) -> tuple[str, bool]:
    """Create a customer with its wallet; returns (id, created). Same details again: not created."""
    customer_id = request.get("customer_id") or uuid.uuid4().hex
    existing = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
    if existing is not None:
        if (existing.name, existing.currency) != (request["name"], request["currency"]):
            raise Conflict("customer_exists", f"customer {customer_id} exists with other details")
        return customer_id, False
    conn.execute(
        customers.insert().values(
            customer_id=customer_id,
            name=request["name"],
            currency=request["currency"],
            created_ms=now_ms,
        )
    )
    currency = request["currency"]
    bk.ensure_accounts(
        conn,
        {
            bk.wallet(customer_id): ("wallet", customer_id, currency),
            bk.settle_later(customer_id): ("settle_later", customer_id, currency),
        },
    )
    return customer_id, True


def live_customer(conn: Connection, customer_id: str) -> Row[Any]:
    """The customer, or NotFound if unknown or erased."""
    row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
    if row is None or row.deleted_ms is not None:
        raise NotFound("unknown_customer", f"no customer {customer_id}")
    return row


def top_up(
    conn: Connection, customer_id: str, request: dict[str, Any], now_ms: int
) -> tuple[dict[str, Any], bool]:
    """Fund the wallet, idempotent on `reference`; then settle any settle-later debt from it."""
    customer = live_customer(conn, customer_id)
    if customer.currency != request["currency"]:
        raise Conflict("currency_mismatch", f"the wallet is in {customer.currency}")
    reference = request["reference"]
    earlier = conn.execute(
        select(transfers).where(transfers.c.kind == "topup", transfers.c.reference == reference)
    ).first()
    if earlier is not None:
        same = (earlier.credit_account_id, earlier.amount_minor) == (
            bk.wallet(customer_id),
            request["amount_minor"],
        )
        if not same:
            raise Conflict("reference_taken", f"reference {reference!r} funded something else")
        return {"transfer_id": earlier.transfer_id, "customer_id": customer_id}, False
    currency = customer.currency
    bk.ensure_accounts(conn, {bk.settlement(currency): ("settlement", "house", currency)})
    funding = bk.Transfer(
        "topup",
        bk.settlement(currency),
        bk.wallet(customer_id),
        request["amount_minor"],
        currency,
        reference=reference,
    )
    applied = bk.apply_transfers(conn, [funding], now_ms)
    _settle_debt(conn, customer_id, currency, reference, now_ms)
    return {"transfer_id": applied[0].transfer_id, "customer_id": customer_id}, True


def _settle_debt(conn: Connection, customer_id: str, currency: str, ref: str, now_ms: int) -> None:
    """Pay settle-later debt from the wallet, as far as it goes (a new transfer, never an edit)."""
    ids = {bk.wallet(customer_id), bk.settle_later(customer_id)}
    balances = bk.lock_balances(conn, ids)
    owed = balances[bk.settle_later(customer_id)].owed
    amount = min(owed, balances[bk.wallet(customer_id)].available)
    if amount > 0:
        settle = bk.Transfer(
            "settle",
            bk.wallet(customer_id),
            bk.settle_later(customer_id),
            amount,
            currency,
            reference=ref,
        )
        bk.apply_transfers(conn, [settle], now_ms)


def customer_view(conn: Connection, customer_id: str) -> dict[str, Any]:
    """Balance, holds, settle-later debt, the face enrolment and, once its deletion was asked,
    which kiosks confirmed it and which have still to."""
    row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
    if row is None:
        raise NotFound("unknown_customer", f"no customer {customer_id}")
    ids = {bk.wallet(customer_id), bk.settle_later(customer_id)}
    balances = bk.lock_balances(conn, ids)
    wallet = balances[bk.wallet(customer_id)]
    view: dict[str, Any] = {
        "customer_id": customer_id,
        "name": row.name,
        "currency": row.currency,
        "balance_minor": wallet.credits_posted - wallet.debits_posted,
        "held_minor": wallet.debits_pending,
        "available_minor": wallet.available,
        "settle_later_minor": balances[bk.settle_later(customer_id)].owed,
        "deleted": row.deleted_ms is not None,
        "enrolment": enrolments.enrolment_view(conn, customer_id),
    }
    deletion = enrolments.deletion_status(conn, customer_id)
    if deletion is not None:
        view["deletion"] = deletion
    return view


def list_customers(conn: Connection, after: str, limit: int) -> dict[str, Any]:
    """Customers in id order after `after` (a page of at most `limit`), without balances."""
    rows = conn.execute(
        select(customers)
        .where(customers.c.customer_id > after)
        .order_by(customers.c.customer_id)
        .limit(limit)
    ).all()
    listed = [
        {
            "customer_id": row.customer_id,
            "name": row.name,
            "currency": row.currency,
            "deleted": row.deleted_ms is not None,
        }
        for row in rows
    ]
    following = listed[-1]["customer_id"] if len(listed) == limit else None
    return {"customers": listed, "next_after": following}


def delete_customer(conn: Connection, customer_id: str, now_ms: int) -> dict[str, Any]:
    """Right to erasure: wipe the name and the face data, and have every kiosk of the merchant
    that may hold the template confirm its deletion.

    The money history stays (the id is pseudonymous, and transfers are never edited)."""
    row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
    if row is None:
        raise NotFound("unknown_customer", f"no customer {customer_id}")
    if row.deleted_ms is None:
        conn.execute(
            update(customers)
            .where(customers.c.customer_id == customer_id)
            .values(name="", deleted_ms=now_ms)
        )
    deletion = enrolments.request_deletion(conn, customer_id, "erased by the operator", now_ms)
    empty = {"requested_at": enrolments.iso_ms(now_ms), "confirmed_by": [], "pending": []}
    return {"customer_id": customer_id, "deletion": deletion or empty}
