"""Customers: create, top up, read, enroll from a kiosk, erase; and the gallery kiosks follow."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Row, select, update

from sync.ledger import bookkeeping as bk
from sync.ledger.errors import Conflict, NotFound
from sync.ledger.tables import (
    consents,
    counters,
    customers,
    deletions,
    devices,
    gallery_changes,
    transfers,
)


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
    """Balance, holds, settle-later debt and, once erased, which kiosks confirmed it."""
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
    }
    if row.deleted_ms is not None:
        view["deletion"] = deletion_status(conn, customer_id)
    return view


def deletion_status(conn: Connection, customer_id: str) -> dict[str, list[str]]:
    """Kiosks that confirmed the erasure, and kiosks still to confirm it."""
    rows = conn.execute(select(deletions).where(deletions.c.customer_id == customer_id))
    status: dict[str, list[str]] = {"confirmed_devices": [], "pending_devices": []}
    for row in rows:
        key = "confirmed_devices" if row.confirmed_ms is not None else "pending_devices"
        status[key].append(row.device_id)
    for names in status.values():
        names.sort()
    return status


def delete_customer(conn: Connection, customer_id: str, now_ms: int) -> dict[str, Any]:
    """Right to erasure: wipe name and templates, queue the deletion for every active kiosk.

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
        conn.execute(
            update(gallery_changes)
            .where(gallery_changes.c.customer_id == customer_id)
            .values(name=None, template_b64=None, step_up_salt=None, step_up_hash=None)
        )
        _add_change(conn, {"customer_id": customer_id, "action": "delete"}, now_ms)
        kiosks = conn.scalars(select(devices.c.device_id).where(devices.c.revoked_ms.is_(None)))
        rows = [
            {"customer_id": customer_id, "device_id": device_id, "requested_ms": now_ms}
            for device_id in kiosks
        ]
        if rows:
            conn.execute(deletions.insert(), rows)
    return {"customer_id": customer_id, **deletion_status(conn, customer_id)}


def enroll(
    conn: Connection, device: Row[Any], request: dict[str, Any], default_currency: str, now_ms: int
) -> dict[str, Any]:
    """A kiosk enrolled a face: create the customer if new, store consent, publish the template."""
    existing = conn.execute(
        select(customers).where(customers.c.customer_id == request["customer_id"])
    ).first()
    if existing is not None and existing.deleted_ms is not None:
        raise Conflict("customer_erased", "this customer id was erased; enroll under a new id")
    if existing is None:
        currency = request.get("currency") or default_currency
        create_customer(conn, {**request, "currency": currency}, now_ms)
    consent = request["consent"]
    conn.execute(
        consents.insert().values(
            consent_id=uuid.uuid4().hex,
            customer_id=request["customer_id"],
            text_version=consent["text_version"],
            accepted_at=consent["accepted_at"],
            kiosk_id=consent["kiosk_id"],
            device_id=device.device_id,
            recorded_ms=now_ms,
        )
    )
    fields = ("customer_id", "name", "template_b64", "step_up_salt", "step_up_hash")
    change = {**{k: request.get(k) for k in fields}, "action": "upsert"}
    change_id = _add_change(conn, {**change, "origin_device_id": device.device_id}, now_ms)
    return {"customer_id": request["customer_id"], "change_id": change_id}


def _add_change(conn: Connection, change: dict[str, Any], now_ms: int) -> int:
    """Append a gallery change with the next id, taken under the counter row's lock."""
    bumped = conn.execute(
        update(counters)
        .where(counters.c.name == "gallery")
        .values(value=counters.c.value + 1)
        .returning(counters.c.value)
    ).scalar()
    if bumped is None:
        conn.execute(counters.insert().values(name="gallery", value=1))
        bumped = 1
    conn.execute(gallery_changes.insert().values(change_id=bumped, created_ms=now_ms, **change))
    return int(bumped)


def gallery_since(conn: Connection, cursor: int, limit: int) -> dict[str, Any]:
    """Changes after `cursor`, oldest first; erased templates are not sent again."""
    query = (
        select(gallery_changes)
        .where(gallery_changes.c.change_id > cursor)
        .order_by(gallery_changes.c.change_id)
        .limit(limit)
    )
    changes, last = [], cursor
    for row in conn.execute(query):
        last = row.change_id
        if row.action == "upsert" and row.template_b64 is None:
            continue  # erased since: its delete change follows
        changes.append(
            {
                "change_id": row.change_id,
                "customer_id": row.customer_id,
                "action": row.action,
                **{k: row._mapping[k] for k in ("name", "template_b64", "step_up_salt")},
                "step_up_hash": row.step_up_hash,
            }
        )
    return {"changes": changes, "cursor": last}


def acknowledge(
    conn: Connection, device: Row[Any], cursor: int, deleted_ids: list[str], now_ms: int
) -> dict[str, Any]:
    """A kiosk applied the gallery up to `cursor`, including these deletions."""
    conn.execute(
        update(devices)
        .where(devices.c.device_id == device.device_id, devices.c.gallery_cursor < cursor)
        .values(gallery_cursor=cursor)
    )
    if deleted_ids:
        conn.execute(
            update(deletions)
            .where(
                deletions.c.device_id == device.device_id,
                deletions.c.customer_id.in_(deleted_ids),
                deletions.c.confirmed_ms.is_(None),
            )
            .values(confirmed_ms=now_ms)
        )
    return {"cursor": cursor, "confirmed_customer_ids": sorted(set(deleted_ids))}
