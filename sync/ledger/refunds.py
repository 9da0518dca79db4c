"""Refunds: a device's signed, chained refund records booked as transfers back to the customer.

A refund moves money from the merchant's account back to where the sale took it from: the
customer's wallet, or, for a settle-later sale, the customer's settle_later account (reducing
the debt; any part beyond what is still owed goes to the wallet). It is booked once per refund
id (the refund row's primary key and the transfers' unique (kind, reference) both say so), and
never beyond what remains of the sale: the sale's amount minus every refund booked against it.

A device's refunds form one chain (base/refund_record.py): the ledger books them in seq order,
answers a refund it already booked with its stored answer, and answers `waiting` (nothing
stored) for a refund of a sale it has not received yet, so the device sends it again later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, String, Table, Text, func, select

from base import keys
from base import refund_record as rr
from base.wire import WireError, canonical_text
from sync.ledger import bookkeeping as bk
from sync.ledger.errors import BadRequest, NotFound
from sync.ledger.tables import metadata, sales, transfers

refunds = Table(
    "refunds",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("refund_id", String(64), nullable=False, unique=True),
    Column("sale_id", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("status", String(10), nullable=False),  # refunded|refused
    Column("reason", String(200)),
    Column("hash", String(64), nullable=False),
    Column("record_json", Text, nullable=False),
    Column("signature", String(100), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
)
Index("ix_refunds_sale_id", refunds.c.sale_id)

REFUND_KINDS = ("refund", "refund_later")  # to the wallet / to the settle_later account
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_RECORDS = 100
TEXT_FIELDS = ("refund_id", "sale_id", "currency", "reference", "reason", "wall_time", "prev_hash")


@dataclass(frozen=True)
class SaleForRefund:
    """What the ledger knows of a sale, for refunding it."""

    sale_id: str
    merchant_id: str
    customer_id: str | None
    amount_minor: int
    currency: str
    status: str
    paid_by: str  # the sale transfer's kind: sale|post|settle_later|declined
    refunded_minor: int

    @property
    def remaining_minor(self) -> int:
        """What may still be refunded."""
        return self.amount_minor - self.refunded_minor

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for the device."""
        return {
            "sale_id": self.sale_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "status": self.status,
            "refunded_minor": self.refunded_minor,
            "remaining_minor": self.remaining_minor,
        }


def sale_for_refund(conn: Connection, sale_id: str) -> SaleForRefund | None:
    """The booked sale with this id, with what has been refunded of it; None if not booked."""
    query = (
        select(sales, transfers.c.kind.label("paid_by"))
        .join(transfers, transfers.c.transfer_id == sales.c.transfer_id)
        .where(sales.c.sale_id == sale_id)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    refunded = conn.scalar(
        select(func.coalesce(func.sum(refunds.c.amount_minor), 0)).where(
            refunds.c.sale_id == sale_id, refunds.c.status == "refunded"
        )
    )
    return SaleForRefund(
        row.sale_id,
        row.merchant_id,
        row.customer_id,
        int(row.amount_minor),
        row.currency,
        row.status,
        row.paid_by,
        int(refunded or 0),
    )


def refundable(conn: Connection, device: Any, sale_id: str) -> dict[str, Any]:
    """The device's view of a sale before it refunds it (only sales of its own merchant)."""
    sale = sale_for_refund(conn, sale_id)
    if sale is None or sale.merchant_id != device.merchant_id:
        raise NotFound("unknown_sale", f"no booked sale {sale_id} for this merchant")
    return sale.as_dict()


# --- ingesting a device's refund records ----------------------------------------------------------


def parse_refunds(body: Any, device_id: str, public_key_b64: str) -> list[dict[str, Any]]:
    """The records of a `refunds:batch` body, each well formed, signed by the device, in seq
    order; raises BadRequest naming the first problem."""
    if not isinstance(body, dict) or not isinstance(body.get("refunds"), list):
        raise BadRequest("invalid_refunds", 'body must be {"refunds": [refund records]}')
    records = body["refunds"]
    if not 1 <= len(records) <= MAX_RECORDS:
        raise BadRequest("invalid_refunds", f"refunds: send 1 to {MAX_RECORDS} records")
    public_key = keys.public_key_from_b64(public_key_b64)
    for index, record in enumerate(records):
        problem = _record_problem(record, device_id)
        if problem is None and not rr.verify_refund_signature(record, public_key):
            problem = "bad signature"
        if problem is not None:
            raise BadRequest("invalid_refund", f"refunds[{index}]: {problem}")
    seqs = [r["seq"] for r in records]
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        raise BadRequest("invalid_refunds", "refunds must be consecutive in seq order")
    return list(records)


def _record_problem(record: Any, device_id: str) -> str | None:
    """Why a refund record is malformed, or None. Checked in order: a later check may rely on
    an earlier one (lengths are taken only of strings)."""
    if not isinstance(record, dict):
        return "not an object"
    try:
        rr.refund_body(record)
    except WireError as exc:
        return str(exc)
    checks: list[tuple[Callable[[], bool], str]] = [
        (lambda: _positive_int(record["seq"]), "seq must be a positive integer"),
        (lambda: _positive_int(record["amount_minor"]), "amount_minor must be a positive integer"),
        (lambda: record["device_id"] == device_id, "device_id is not the signing device"),
        (lambda: all(isinstance(record[f], str) for f in TEXT_FIELDS), "text fields: strings"),
        (lambda: bool(CURRENCY.match(record["currency"])), "currency must be ISO 4217"),
        (lambda: len(record["refund_id"]) <= 64, "refund_id: at most 64 characters"),
        (lambda: len(record["sale_id"]) <= 64, "sale_id: at most 64 characters"),
        (lambda: len(record["reference"]) <= 200, "reference: at most 200 characters"),
        (lambda: len(record["reason"]) <= 200, "reason: at most 200 characters"),
    ]
    return next((why for ok, why in checks if not ok()), None)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**12


def ingest_refunds(
    conn: Connection, device: Any, records: list[dict[str, Any]], now_ms: int
) -> list[dict[str, Any]]:
    """Book each record in chain order (the device row is locked by the caller); one answer per
    record: refunded, refused (final), waiting (sale not here yet: send again) or rejected."""
    answers: list[dict[str, Any]] = []
    last_seq, last_hash = _chain_head(conn, device.device_id)
    for record in records:
        answer, booked_hash = _one(conn, device, record, last_seq, last_hash, now_ms)
        answers.append(answer)
        if booked_hash is not None:
            last_seq, last_hash = record["seq"], booked_hash
        elif answer["status"] in ("waiting", "rejected") and record["seq"] > last_seq:
            break  # later records cannot be booked before this one
    return answers


def _one(
    conn: Connection,
    device: Any,
    record: dict[str, Any],
    last_seq: int,
    last_hash: str,
    now_ms: int,
) -> tuple[dict[str, Any], str | None]:
    digest = rr.refund_hash(record)
    if record["seq"] <= last_seq:
        return _stored_answer(conn, device.device_id, record, digest), None
    if record["seq"] != last_seq + 1:
        return _answer(record, "rejected", f"gap: expected refund seq {last_seq + 1}"), None
    if record["prev_hash"] != last_hash:
        return _answer(record, "rejected", "chain break: prev_hash does not match"), None
    sale = sale_for_refund(conn, record["sale_id"])
    if sale is None:
        return _answer(record, "waiting", "the sale has not reached the ledger yet"), None
    status, reason = _decide(sale, record, device.merchant_id)
    if status == "refunded":
        _book(conn, sale, record, now_ms)
    _store(conn, device.device_id, record, digest, status, reason, now_ms)
    remaining = sale.remaining_minor - (record["amount_minor"] if status == "refunded" else 0)
    return _answer(record, status, reason, remaining), digest


def _decide(
    sale: SaleForRefund, record: dict[str, Any], merchant_id: str
) -> tuple[str, str | None]:
    amount = record["amount_minor"]
    if sale.merchant_id != merchant_id:
        return "refused", "the sale belongs to another merchant"
    if sale.status != "accepted" or sale.paid_by == "declined" or not sale.customer_id:
        return "refused", "the sale was declined: there is nothing to refund"
    if record["currency"] != sale.currency:
        return "refused", f"the sale is in {sale.currency}, the refund in {record['currency']}"
    if amount > sale.remaining_minor:
        return "refused", f"only {sale.remaining_minor} of the sale remains to refund"
    return "refunded", None


def _book(conn: Connection, sale: SaleForRefund, record: dict[str, Any], now_ms: int) -> None:
    """Merchant -> settle_later (up to what is still owed, for a settle-later sale) -> wallet."""
    customer, currency, amount = str(sale.customer_id), sale.currency, record["amount_minor"]
    source = bk.merchant(sale.merchant_id, currency)
    specs = {
        bk.wallet(customer): ("wallet", customer, currency),
        bk.settle_later(customer): ("settle_later", customer, currency),
        source: ("merchant", sale.merchant_id, currency),
    }
    bk.ensure_accounts(conn, specs)
    balances = bk.lock_balances(conn, set(specs))
    to_debt = 0
    if sale.paid_by == "settle_later":
        to_debt = max(0, min(amount, balances[bk.settle_later(customer)].owed))
    planned = []
    common = {"currency": currency, "sale_id": sale.sale_id, "reference": record["refund_id"]}
    if to_debt:
        planned.append(
            bk.Transfer("refund_later", source, bk.settle_later(customer), to_debt, **common)
        )
    if amount - to_debt:
        planned.append(
            bk.Transfer("refund", source, bk.wallet(customer), amount - to_debt, **common)
        )
    bk.apply_transfers(conn, planned, now_ms)


def _store(
    conn: Connection,
    device_id: str,
    record: dict[str, Any],
    digest: str,
    status: str,
    reason: str | None,
    now_ms: int,
) -> None:
    body = rr.refund_body(record)
    conn.execute(
        refunds.insert().values(
            device_id=device_id,
            seq=record["seq"],
            refund_id=record["refund_id"],
            sale_id=record["sale_id"],
            amount_minor=record["amount_minor"],
            currency=record["currency"],
            reference=record["reference"],
            status=status,
            reason=reason,
            hash=digest,
            record_json=canonical_text(body),
            signature=record["signature"],
            received_ms=now_ms,
        )
    )


def _chain_head(conn: Connection, device_id: str) -> tuple[int, str]:
    row = conn.execute(
        select(refunds.c.seq, refunds.c.hash)
        .where(refunds.c.device_id == device_id)
        .order_by(refunds.c.seq.desc())
        .limit(1)
    ).first()
    return (0, rr.GENESIS_HASH) if row is None else (int(row.seq), row.hash)


def _stored_answer(
    conn: Connection, device_id: str, record: dict[str, Any], digest: str
) -> dict[str, Any]:
    row = conn.execute(
        select(refunds).where(refunds.c.device_id == device_id, refunds.c.seq == record["seq"])
    ).first()
    if row is None or row.hash != digest:
        return _answer(record, "rejected", "this refund seq was already used by another record")
    sale = sale_for_refund(conn, row.sale_id)
    remaining = sale.remaining_minor if sale else None
    return _answer(record, row.status, row.reason, remaining)


def _answer(
    record: dict[str, Any], status: str, reason: str | None, remaining: int | None = None
) -> dict[str, Any]:
    return {
        "refund_id": record["refund_id"],
        "seq": record["seq"],
        "status": status,
        "reason": reason,
        "remaining_minor": remaining,
    }


# --- reports -------------------------------------------------------------------------------------


def refund_report(conn: Connection, device_id: str) -> dict[str, Any]:
    """Per device: refunds booked and refused, amounts, and whether they match their transfers."""
    rows = conn.execute(
        select(refunds.c.status, refunds.c.currency, func.count(), func.sum(refunds.c.amount_minor))
        .where(refunds.c.device_id == device_id)
        .group_by(refunds.c.status, refunds.c.currency)
    ).all()
    booked = _refund_transfers_minor(conn, device_id)
    out: dict[str, Any] = {"refunded": [], "refused_count": 0}
    for status, currency, count, amount in rows:
        if status == "refused":
            out["refused_count"] += int(count)
            continue
        out["refunded"].append(
            {
                "currency": currency,
                "count": int(count),
                "amount_minor": int(amount),
                "transfers_minor": booked.get(currency, 0),
                "balanced": booked.get(currency, 0) == int(amount),
            }
        )
    return out


def _refund_transfers_minor(conn: Connection, device_id: str) -> dict[str, int]:
    ids = select(refunds.c.refund_id).where(
        refunds.c.device_id == device_id, refunds.c.status == "refunded"
    )
    query = (
        select(transfers.c.currency, func.sum(transfers.c.amount_minor))
        .where(transfers.c.kind.in_(REFUND_KINDS), transfers.c.reference.in_(ids))
        .group_by(transfers.c.currency)
    )
    return {currency: int(total) for currency, total in conn.execute(query)}
