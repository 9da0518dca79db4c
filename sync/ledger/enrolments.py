"""Fleet identity at the ledger: enrolments sealed at rest, distribution to the customer's
merchant only (each template sealed to the receiving kiosk's key), deletion tracked kiosk by
kiosk, the online step-up check, and retention expiry.

Need to know: a kiosk receives a customer's name and template only if it belongs to the merchant
the customer enrolled with, and never the step-up hash (the ledger checks the digits itself).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update

from base import keys
from base.sealed import KeyFileSealer, seal_to, x25519_public_from_ed25519
from sync.ledger.errors import Conflict, NotFound
from sync.ledger.tables import (
    consents,
    counters,
    customers,
    deletions,
    devices,
    enrolments,
    gallery_changes,
    sales,
)

MAX_STEP_UP_FAILURES = 5  # then the online check answers "locked" until the customer re-enrols
DAY_MS = 24 * 3600 * 1000
DEFAULT_RETENTION_DAYS = 3 * 365  # Illinois' BIPA: at most 3 years after the last interaction
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}  # as the kiosk hashes (models.gallery)


def _context(kind: str, customer_id: str) -> bytes:
    return f"{kind}:{customer_id}".encode()


# --- enrolment -----------------------------------------------------------------------------------


def enrol(
    conn: Connection,
    device: Row[Any],
    request: dict[str, Any],
    sealer: KeyFileSealer,
    default_currency: str,
    now_ms: int,
) -> tuple[dict[str, Any], bool]:
    """Store a kiosk's enrolment (idempotent on `enrolment_id`); link it to the customer, new or
    existing; publish an upsert to the kiosks of the device's merchant."""
    customer_id = request["customer_id"]
    earlier = conn.execute(
        select(enrolments).where(enrolments.c.enrolment_id == request["enrolment_id"])
    ).first()
    if earlier is not None:
        if earlier.customer_id != customer_id:
            raise Conflict("enrolment_id_taken", "this enrolment id names another customer")
        return {"customer_id": customer_id, "status": "duplicate"}, False
    _ensure_customer(conn, request, default_currency, now_ms)
    current = _enrolment_row(conn, customer_id)
    active = current is not None and current.deleted_ms is None
    if active and current is not None and current.merchant_id != device.merchant_id:
        raise Conflict("other_merchant", "the customer is enrolled with another merchant")
    _record_consent(conn, device, request, now_ms)
    _store_enrolment(conn, device, request, sealer, current is not None, now_ms)
    change_id = _add_change(conn, customer_id, "upsert", device.merchant_id, device, now_ms)
    return {"customer_id": customer_id, "status": "accepted", "change_id": change_id}, True


def _ensure_customer(
    conn: Connection, request: dict[str, Any], default_currency: str, now_ms: int
) -> None:
    from sync.ledger.customers import create_customer

    row = conn.execute(
        select(customers).where(customers.c.customer_id == request["customer_id"])
    ).first()
    if row is not None and row.deleted_ms is not None:
        raise Conflict("customer_erased", "this customer id was erased; enroll under a new id")
    if row is None:
        currency = request.get("currency") or default_currency
        details = {"customer_id": request["customer_id"], "name": request["name"]}
        create_customer(conn, {**details, "currency": currency}, now_ms)


def _record_consent(
    conn: Connection, device: Row[Any], request: dict[str, Any], now_ms: int
) -> None:
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


def _store_enrolment(
    conn: Connection,
    device: Row[Any],
    request: dict[str, Any],
    sealer: KeyFileSealer,
    replace: bool,
    now_ms: int,
) -> None:
    customer_id = request["customer_id"]
    step_up = None
    if request.get("step_up_salt") and request.get("step_up_hash"):
        pair = json.dumps([request["step_up_salt"], request["step_up_hash"]]).encode()
        step_up = sealer.seal(pair, _context("step_up", customer_id))
    template = base64.b64decode(request["template_b64"])
    values = {
        "enrolment_id": request["enrolment_id"],
        "merchant_id": device.merchant_id,
        "origin_device_id": device.device_id,
        "name_sealed": sealer.seal(request["name"].encode(), _context("name", customer_id)),
        "template_sealed": sealer.seal(template, _context("template", customer_id)),
        "step_up_sealed": step_up,
        "step_up_failures": 0,
        "enrolled_ms": now_ms,
        "last_used_ms": now_ms,
        "deleted_ms": None,
        "deletion_reason": None,
    }
    if replace:
        conn.execute(
            update(enrolments).where(enrolments.c.customer_id == customer_id).values(**values)
        )
        conn.execute(delete(deletions).where(deletions.c.customer_id == customer_id))
    else:
        conn.execute(enrolments.insert().values(customer_id=customer_id, **values))


def _enrolment_row(conn: Connection, customer_id: str, lock: bool = False) -> Row[Any] | None:
    query = select(enrolments).where(enrolments.c.customer_id == customer_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def _add_change(
    conn: Connection,
    customer_id: str,
    action: str,
    merchant_id: str,
    device: Row[Any] | None,
    now_ms: int,
) -> int:
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
    conn.execute(
        gallery_changes.insert().values(
            change_id=bumped,
            customer_id=customer_id,
            action=action,
            merchant_id=merchant_id,
            origin_device_id=device.device_id if device is not None else None,
            created_ms=now_ms,
        )
    )
    return int(bumped)


# --- distribution --------------------------------------------------------------------------------


def gallery_page(
    conn: Connection, device: Row[Any], cursor: int, limit: int, sealer: KeyFileSealer
) -> dict[str, Any]:
    """This kiosk's merchant's changes after `cursor`, oldest first, each template sealed to the
    kiosk's key. Templates deleted since are not sent (their delete change follows)."""
    query = (
        select(gallery_changes.c.change_id, gallery_changes.c.customer_id, gallery_changes.c.action)
        .where(
            gallery_changes.c.change_id > cursor,
            gallery_changes.c.merchant_id == device.merchant_id,
        )
        .order_by(gallery_changes.c.change_id)
        .limit(limit)
    )
    recipient = x25519_public_from_ed25519(keys.public_key_from_b64(device.public_key))
    changes, last = [], cursor
    for row in conn.execute(query).all():
        last = row.change_id
        change = {"change_id": row.change_id, "customer_id": row.customer_id, "action": row.action}
        if row.action == "upsert":
            box = _box_for(conn, row.customer_id, recipient, sealer)
            if box is None:
                continue
            change["box_b64"] = box
        changes.append(change)
    return {"changes": changes, "cursor": last}


def _box_for(
    conn: Connection, customer_id: str, recipient: Any, sealer: KeyFileSealer
) -> str | None:
    """The name and template sealed to the recipient (template bytes, then the name in UTF-8)."""
    row = _enrolment_row(conn, customer_id)
    if row is None or row.template_sealed is None:
        return None
    template = sealer.open(row.template_sealed, _context("template", customer_id))
    name = sealer.open(row.name_sealed, _context("name", customer_id))
    return seal_to(recipient, template + name, customer_id.encode())


def acknowledge(
    conn: Connection, device: Row[Any], cursor: int, deleted_ids: list[str], now_ms: int
) -> dict[str, Any]:
    """A kiosk applied its gallery up to `cursor`, including these deletions."""
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


# --- deletion ------------------------------------------------------------------------------------


def request_deletion(
    conn: Connection, customer_id: str, reason: str, now_ms: int
) -> dict[str, Any] | None:
    """Wipe the sealed template, name and step-up hash; publish a delete change; expect a
    confirmation from every active kiosk of the merchant. None if the customer has no
    enrolment (nothing was distributed)."""
    row = _enrolment_row(conn, customer_id, lock=True)
    if row is None:
        return None
    if row.deleted_ms is None:
        conn.execute(
            update(enrolments)
            .where(enrolments.c.customer_id == customer_id)
            .values(
                template_sealed=None,
                name_sealed=None,
                step_up_sealed=None,
                deleted_ms=now_ms,
                deletion_reason=reason[:200],
            )
        )
        _add_change(conn, customer_id, "delete", row.merchant_id, None, now_ms)
        holders = conn.scalars(
            select(devices.c.device_id).where(
                devices.c.merchant_id == row.merchant_id, devices.c.revoked_ms.is_(None)
            )
        ).all()
        rows = [
            {"customer_id": customer_id, "device_id": holder, "requested_ms": now_ms}
            for holder in holders
        ]
        if rows:
            conn.execute(deletions.insert(), rows)
    return deletion_status(conn, customer_id)


def deletion_status(conn: Connection, customer_id: str) -> dict[str, Any] | None:
    """When the deletion was asked, which kiosks confirmed it and which have still to."""
    row = _enrolment_row(conn, customer_id)
    if row is None or row.deleted_ms is None:
        return None
    confirmed: list[str] = []
    pending: list[str] = []
    for holder in conn.execute(select(deletions).where(deletions.c.customer_id == customer_id)):
        (confirmed if holder.confirmed_ms is not None else pending).append(holder.device_id)
    return {
        "requested_at": iso_ms(row.deleted_ms),
        "reason": row.deletion_reason,
        "confirmed_by": sorted(confirmed),
        "pending": sorted(pending),
    }


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def enrolment_view(conn: Connection, customer_id: str) -> dict[str, Any] | None:
    """What the operator sees of a customer's enrolment (never the template)."""
    row = _enrolment_row(conn, customer_id)
    if row is None:
        return None
    return {
        "merchant_id": row.merchant_id,
        "origin_device_id": row.origin_device_id,
        "enrolled_at": iso_ms(row.enrolled_ms),
        "step_up": row.step_up_sealed is not None,
        "step_up_locked": row.step_up_failures >= MAX_STEP_UP_FAILURES,
        "active": row.deleted_ms is None,
    }


def delete_at_kiosk(
    conn: Connection,
    device: Row[Any],
    request: dict[str, Any],
    sealer: KeyFileSealer,
    issuer_public: Any,
    now_ms: int,
) -> dict[str, Any]:
    """A customer asked a kiosk of their merchant to delete their face data, with proof: the
    step-up digits (checked here, attempt-limited) or a customer token of this ledger.

    A refused proof is answered as `{"refused": ...}` rather than raised, so that the failed
    attempt it counted commits with the transaction."""
    customer_id = request["customer_id"]
    row = _kiosk_may_act(conn, device, customer_id)
    if row.deleted_ms is None:
        refused = _refused_proof(conn, row, request, sealer, issuer_public, now_ms)
        if refused is not None:
            return {"customer_id": customer_id, "refused": refused}
    status = request_deletion(conn, customer_id, f"customer at kiosk {device.device_id}", now_ms)
    return {"customer_id": customer_id, "deletion": status}


def _kiosk_may_act(conn: Connection, device: Row[Any], customer_id: str) -> Row[Any]:
    row = _enrolment_row(conn, customer_id, lock=True)
    if row is None or row.merchant_id != device.merchant_id:
        raise NotFound("unknown_customer", f"no customer {customer_id} enrolled with this merchant")
    return row


def _refused_proof(
    conn: Connection,
    row: Row[Any],
    request: dict[str, Any],
    sealer: KeyFileSealer,
    issuer_public: Any,
    now_ms: int,
) -> str | None:
    """Why the proof does not hold, or None when it does. A token is checked at the time the
    kiosk says it checked it (`proven_at_ms`, for a request queued offline; at most
    QUEUED_DELETION_MAX_AGE_MS old), else now."""
    if request.get("token"):
        at_ms = request.get("proven_at_ms")
        if at_ms is None:
            at_ms = now_ms
        elif not now_ms - QUEUED_DELETION_MAX_AGE_MS <= at_ms <= now_ms + CLOCK_SKEW_MS:
            return "the proof's time is in the future or over 30 days old"
        return _token_refusal(row.customer_id, request["token"], issuer_public, at_ms)
    if not request.get("step_up_digits"):
        return "a deletion needs the step-up digits or a customer token"
    answer = step_up_check(conn, row, request["step_up_digits"], sealer)
    return None if answer["ok"] else f"step-up refused: {answer['reason']}"


# A deletion a kiosk queued while offline is honoured up to this long after its proof was checked.
QUEUED_DELETION_MAX_AGE_MS = 30 * 86_400_000
CLOCK_SKEW_MS = 300_000


def _token_refusal(customer_id: str, token: str, issuer_public: Any, now_ms: int) -> str | None:
    from base.token import TokenRejected, verify_token

    if issuer_public is None:
        return "this ledger issues no customer tokens (started without --issuer-key-file)"
    try:
        claims = verify_token(token, issuer_public, now_ms / 1000)
    except TokenRejected as exc:
        return f"token refused: {exc}"
    return None if claims.customer_id == customer_id else "token refused: another customer's"


# --- step-up -------------------------------------------------------------------------------------


def check_step_up_request(
    conn: Connection, device: Row[Any], customer_id: str, digits: str, sealer: KeyFileSealer
) -> dict[str, Any]:
    """The online step-up check a kiosk of the customer's merchant asks for."""
    row = _kiosk_may_act(conn, device, customer_id)
    if row.deleted_ms is not None:
        raise NotFound("unknown_customer", f"customer {customer_id} has no face enrolment")
    return {"customer_id": customer_id, **step_up_check(conn, row, digits, sealer)}


def step_up_check(
    conn: Connection, row: Row[Any], digits: str, sealer: KeyFileSealer
) -> dict[str, Any]:
    """Compare the digits with the sealed hash; after MAX_STEP_UP_FAILURES wrong tries in a row
    the answer is `locked` whatever the digits (a 4-digit space cannot be guessed online)."""
    if row.step_up_sealed is None:
        return {"ok": False, "reason": "no_step_up", "attempts_left": 0}
    if row.step_up_failures >= MAX_STEP_UP_FAILURES:
        return {"ok": False, "reason": "locked", "attempts_left": 0}
    salt_hex, digest_hex = json.loads(
        sealer.open(row.step_up_sealed, _context("step_up", row.customer_id))
    )
    digest = hashlib.scrypt(digits.encode(), salt=bytes.fromhex(salt_hex), **SCRYPT).hex()
    ok = hmac.compare_digest(digest, digest_hex)
    failures = 0 if ok else row.step_up_failures + 1
    conn.execute(
        update(enrolments)
        .where(enrolments.c.customer_id == row.customer_id)
        .values(step_up_failures=failures)
    )
    left = MAX_STEP_UP_FAILURES - failures
    return {"ok": ok, "reason": None if ok else "wrong_digits", "attempts_left": left}


# --- retention -----------------------------------------------------------------------------------


def expire_unused(conn: Connection, now_ms: int, retention_days: int) -> list[str]:
    """Delete (as an operator deletion would) every template whose customer has neither enrolled
    nor paid within `retention_days`; returns their ids."""
    cutoff = now_ms - retention_days * DAY_MS
    last_sale = (
        select(sales.c.customer_id, func.max(sales.c.received_ms).label("at"))
        .group_by(sales.c.customer_id)
        .subquery()
    )
    query = (
        select(enrolments.c.customer_id)
        .outerjoin(last_sale, last_sale.c.customer_id == enrolments.c.customer_id)
        .where(
            enrolments.c.deleted_ms.is_(None),
            enrolments.c.last_used_ms < cutoff,
            func.coalesce(last_sale.c.at, 0) < cutoff,
        )
    )
    expired = list(conn.scalars(query).all())
    for customer_id in expired:
        request_deletion(conn, customer_id, f"retention: unused for {retention_days} days", now_ms)
    return expired
