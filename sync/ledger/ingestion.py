"""Batch ingestion: check a device's signed batch, classify each sale, and book it once.

Outside the transaction (CPU only): parse the batch, hash every record, and authenticate it
with one Ed25519 verification of the head signature plus the hash links; only when that fails
is every sale's own signature checked, to say which ones are bad.

Inside one transaction per batch, with the device row locked: compare with what is already
booked (duplicate or conflicting (device, seq) and sale id), check the link to the stored
history, record gaps and chain breaks, then book the rest (see `booking`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Row, select

from base import wire
from sync.ledger.booking import Booked, book_sales
from sync.ledger.limits_check import review_reasons
from sync.ledger.policy import LedgerPolicy
from sync.ledger.rejections import RejectedLink, keep_rejected_links, rejected_links
from sync.ledger.review import ReviewRules
from sync.ledger.storage import bulk_insert
from sync.ledger.tables import anomalies, batches, devices, sales
from sync.ledger.validation import record_problem

MAX_BATCH = 1000
METHODS = {"face", "customer_qr", "merchant_qr"}
CURRENCY = re.compile(r"[A-Z]{3}")


class BatchError(ValueError):
    """The batch as a whole is unusable (answered 400); the message says what is wrong."""


@dataclass(frozen=True)
class IncomingSale:
    """One parsed record of a batch with its recomputed hash."""

    record: dict[str, Any]
    seq: int
    sale_id: str
    hash: str
    body: str  # canonical body text: sha256(body) == hash


@dataclass
class Checked:
    """A parsed batch and what its signatures say about it."""

    sales: list[IncomingSale]
    head_ok: bool
    bad_signatures: set[int] = field(default_factory=set)


@dataclass
class Plan:
    """What the transaction decided before booking: final answers, candidates, anomalies."""

    results: dict[int, wire.SaleResult] = field(default_factory=dict)
    candidates: list[IncomingSale] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    # Authentic sales answered `rejected` whose chain link is kept (see rejected_links).
    kept_rejections: list[tuple[IncomingSale, str]] = field(default_factory=list)


class JsonFloat:
    """A float found while parsing a batch: signed records may not contain floats (see
    base.wire), and json.dumps refuses this type, so the record holding it is named."""

    def __init__(self, text: str) -> None:
        self.text = text


def load_batch_json(body: bytes) -> Any:
    """Parse a batch body, marking every float (checking for them once here is what lets
    `record_hash` skip base.wire's per-record float walk)."""
    try:
        return json.loads(body, parse_float=JsonFloat, parse_constant=JsonFloat)
    except ValueError as exc:
        raise BatchError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise BatchError("body is nested too deeply") from None


def canonical_body(record: dict[str, Any]) -> str:
    """base.wire.canonical_bytes of a record parsed by `load_batch_json`, as text: the same
    bytes, encoded once. Raises WireError like wire does."""
    return wire.canonical_text(wire.sale_body(record), floats_checked=True)


def record_hash(record: dict[str, Any]) -> str:
    """base.wire.sale_hash for a record parsed by `load_batch_json`."""
    return hashlib.sha256(canonical_body(record).encode()).hexdigest()


def parse_batch(device_id: str, body: Any) -> tuple[list[IncomingSale], str]:
    """The batch's sales (consecutive seq, this device) and head signature; raises BatchError.

    `body` comes from `load_batch_json`."""
    if not isinstance(body, dict) or set(body) - {"sales", "head_signature"}:
        raise BatchError("body must be an object with only `sales` and `head_signature`")
    records, head = body.get("sales"), body.get("head_signature")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_BATCH:
        raise BatchError(f"`sales` must be a list of 1 to {MAX_BATCH} sale records")
    if not isinstance(head, str):
        raise BatchError("`head_signature` must be a base64 string")
    parsed = [_parse_record(device_id, index, record) for index, record in enumerate(records)]
    for before, after in itertools.pairwise(parsed):
        if after.seq != before.seq + 1:
            raise BatchError(f"seq must be consecutive: {after.seq} follows {before.seq}")
    return parsed, head


def _parse_record(device_id: str, index: int, record: Any) -> IncomingSale:
    where = f"sales[{index}]"
    if not isinstance(record, dict):
        raise BatchError(f"{where} is not an object")
    try:
        body = canonical_body(record)
    except wire.WireError as exc:
        raise BatchError(f"{where}: {exc}") from None
    seq, sale_id = record["seq"], record["sale_id"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**62:
        raise BatchError(f"{where}.seq must be a positive integer")
    if not isinstance(sale_id, str) or not 1 <= len(sale_id) <= 64:
        raise BatchError(f"{where}.sale_id must be a string of 1 to 64 characters")
    if record["device_id"] != device_id:
        raise BatchError(f"{where}.device_id {record['device_id']!r} is not {device_id!r}")
    return IncomingSale(record, seq, sale_id, hashlib.sha256(body.encode()).hexdigest(), body)


def check_signatures(
    device_id: str, parsed: list[IncomingSale], head: str, public_key: Ed25519PublicKey
) -> Checked:
    """One verification for the whole batch when it is intact; per-sale checks otherwise."""
    links_ok = all(
        after.record["prev_hash"] == before.hash for before, after in itertools.pairwise(parsed)
    )
    if links_ok and _head_verifies(device_id, parsed, head, public_key):
        return Checked(parsed, head_ok=True)
    bad = {s.seq for s in parsed if not wire.verify_sale_signature(s.record, public_key)}
    return Checked(parsed, head_ok=False, bad_signatures=bad)


def _head_verifies(
    device_id: str, parsed: list[IncomingSale], head: str, public_key: Ed25519PublicKey
) -> bool:
    """wire.verify_head, reusing the hash already computed for the last record."""
    message = wire.head_message(device_id, parsed[0].seq, parsed[-1].seq, parsed[-1].hash)
    try:
        public_key.verify(base64.b64decode(head, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def sale_problem(record: dict[str, Any]) -> str | None:
    """Why a (authentic) record cannot be booked, or None."""
    amount = record["amount_minor"]
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount < 10**12:
        return "malformed: amount_minor must be a positive integer"
    if not isinstance(record["currency"], str) or not CURRENCY.fullmatch(record["currency"]):
        return "malformed: currency must be three capital letters (ISO 4217)"
    if record["method"] not in METHODS:
        return f"malformed: method must be one of {sorted(METHODS)}"
    for name in ("customer_id", "auth_id"):
        value = record[name]
        if value is not None and (not isinstance(value, str) or len(value) > 64):
            return f"malformed: {name} must be null or a string of at most 64 characters"
    if not isinstance(record["offline"], bool):
        return "malformed: offline must be true or false"
    return record_problem(record)


def ingest(
    conn: Connection,
    device: Row[Any],
    checked: Checked,
    now_ms: int,
    policy: LedgerPolicy | None = None,
) -> list[dict[str, Any]]:
    """Classify and book one checked batch inside the caller's transaction; per-sale answers."""
    parsed = checked.sales
    stored = _stored_slots(conn, device.device_id, parsed[0].seq - 1, parsed[-1].seq)
    plan = _classify(device, checked, stored, now_ms)
    _reject_taken_sale_ids(conn, plan)
    records = [c.record for c in plan.candidates]
    rules = ReviewRules(
        review_reasons(conn, device, records, now_ms),
        (policy or LedgerPolicy()).settle_later_max_minor,
    )
    booked = book_sales(conn, device.merchant_id, records, now_ms, rules)
    _store_sales(conn, device, plan.candidates, booked, now_ms)
    keep_rejected_links(conn, device, plan.kept_rejections, now_ms)
    for sale in plan.candidates:
        outcome = booked[sale.seq]
        plan.results[sale.seq] = wire.SaleResult(
            sale.sale_id, sale.seq, outcome.status, outcome.reason, outcome.settle_later
        )
    results = [plan.results[sale.seq] for sale in parsed]
    _record_batch(conn, device, plan, results, now_ms)
    return [result.__dict__ for result in results]


def _stored_slots(conn: Connection, device_id: str, first: int, last: int) -> dict[int, str]:
    """Hashes stored at these seqs: booked sales, and the kept links of rejected ones."""
    query = select(sales.c.seq, sales.c.hash).where(
        sales.c.device_id == device_id, sales.c.seq.between(first, last)
    )
    return {row.seq: row.hash for row in conn.execute(query)} | rejected_links(
        conn, device_id, first, last
    )


def _classify(device: Row[Any], checked: Checked, stored: dict[int, str], now_ms: int) -> Plan:
    """The sequential pass: duplicates, conflicts, bad signatures, chain links, gaps."""
    plan = Plan()
    first = checked.sales[0].seq
    known = stored.get(first - 1, wire.GENESIS_HASH if first == 1 else None)
    gap = known is None and first - 1 > device.last_seq
    if not checked.head_ok:
        detail = f"head signature or hash links do not verify; {len(checked.bad_signatures)} bad"
        last = checked.sales[-1].seq
        plan.anomalies.append(_anomaly(device, "bad_head", first, last, detail, now_ms))
    for sale in checked.sales:
        known = _classify_one(device, checked, stored, plan, sale, known, now_ms)
    if gap and plan.candidates:  # recorded once: when the sales after it are booked
        missing = (device.last_seq + 1, first - 1)
        detail = f"seq {missing[0]}..{missing[1]} never arrived"
        plan.anomalies.append(_anomaly(device, "gap", *missing, detail, now_ms))
    return plan


def _classify_one(
    device: Row[Any],
    checked: Checked,
    stored: dict[int, str],
    plan: Plan,
    sale: IncomingSale,
    known: str | None,
    now_ms: int,
) -> str | None:
    """Decide one sale; returns the hash the next sale must link to (None: cannot tell)."""
    if sale.seq in stored:
        same = stored[sale.seq] == sale.hash
        reason = None if same else "conflict: a different sale is already booked at this seq"
        status: wire.SaleStatus = "duplicate" if same else "rejected"
        link = stored[sale.seq]
        if same and isinstance(link, RejectedLink):
            status, reason = "rejected", link.reason
        plan.results[sale.seq] = _result(sale, status, reason)
        return stored[sale.seq]
    if sale.seq in checked.bad_signatures:
        plan.results[sale.seq] = _result(sale, "rejected", "bad signature")
        anomaly = _anomaly(device, "rejected", sale.seq, sale.seq, "bad signature", now_ms)
        plan.anomalies.append(anomaly)
        return None
    if known is not None and sale.record["prev_hash"] != known:
        reason = "chain break: prev_hash is not the hash of the sale before it"
        plan.results[sale.seq] = _result(sale, "rejected", reason)
        plan.anomalies.append(_anomaly(device, "chain_break", sale.seq, sale.seq, reason, now_ms))
        plan.kept_rejections.append((sale, reason))
        return sale.hash
    problem = sale_problem(sale.record)
    if problem:
        plan.results[sale.seq] = _result(sale, "rejected", problem)
        plan.anomalies.append(_anomaly(device, "rejected", sale.seq, sale.seq, problem, now_ms))
        plan.kept_rejections.append((sale, problem))
        return sale.hash
    plan.candidates.append(sale)
    return sale.hash


def _reject_taken_sale_ids(conn: Connection, plan: Plan) -> None:
    """A sale id booked under another (device, seq), or twice in this batch, is rejected."""
    ids = [sale.sale_id for sale in plan.candidates]
    query = select(sales.c.sale_id, sales.c.device_id, sales.c.seq).where(sales.c.sale_id.in_(ids))
    taken = {row.sale_id: f"{row.device_id} seq {row.seq}" for row in conn.execute(query)}
    keep = []
    for sale in plan.candidates:
        if sale.sale_id in taken:
            reason = f"conflict: sale_id already booked as {taken[sale.sale_id]}"
            plan.results[sale.seq] = _result(sale, "rejected", reason)
            plan.kept_rejections.append((sale, reason))
        else:
            taken[sale.sale_id] = f"{sale.record['device_id']} seq {sale.seq}"
            keep.append(sale)
    plan.candidates = keep


def _store_sales(
    conn: Connection,
    device: Row[Any],
    candidates: list[IncomingSale],
    booked: dict[int, Booked],
    now_ms: int,
) -> None:
    if not candidates:
        return
    rows = [_sale_row(device, sale, booked[sale.seq], now_ms) for sale in candidates]
    bulk_insert(conn, sales, rows)
    last = max(device.last_seq, candidates[-1].seq)
    conn.execute(
        devices.update().where(devices.c.device_id == device.device_id).values(last_seq=last)
    )


def _sale_row(device: Row[Any], sale: IncomingSale, outcome: Booked, now_ms: int) -> dict[str, Any]:
    record = sale.record
    return {
        "device_id": device.device_id,
        "seq": sale.seq,
        "sale_id": sale.sale_id,
        "hash": sale.hash,
        "merchant_id": device.merchant_id,
        "customer_id": record["customer_id"],
        "amount_minor": record["amount_minor"],
        "currency": record["currency"],
        "status": outcome.status,
        "reason": outcome.reason,
        "settle_later": outcome.settle_later,
        "transfer_id": outcome.transfer_id,
        "received_ms": now_ms,
        "record_json": sale.body,
        "signature": signature if isinstance(signature := record.get("signature"), str) else None,
    }


def _record_batch(
    conn: Connection, device: Row[Any], plan: Plan, results: list[wire.SaleResult], now_ms: int
) -> None:
    counts = {status: 0 for status in ("accepted", "duplicate", "declined", "rejected")}
    for result in results:
        counts[result.status] += 1
    conn.execute(
        batches.insert().values(
            batch_id=uuid.uuid4().hex,
            device_id=device.device_id,
            first_seq=results[0].seq,
            last_seq=results[-1].seq,
            accepted=counts["accepted"],
            duplicates=counts["duplicate"],
            declined=counts["declined"],
            rejected=counts["rejected"],
            received_ms=now_ms,
        )
    )
    if plan.anomalies:
        conn.execute(anomalies.insert(), plan.anomalies)


def _result(sale: IncomingSale, status: wire.SaleStatus, reason: str | None) -> wire.SaleResult:
    return wire.SaleResult(sale.sale_id, sale.seq, status, reason)


def _anomaly(
    device: Row[Any], kind: str, from_seq: int, to_seq: int, detail: str, now_ms: int
) -> dict[str, Any]:
    return {
        "anomaly_id": uuid.uuid4().hex,
        "device_id": device.device_id,
        "kind": kind,
        "from_seq": from_seq,
        "to_seq": to_seq,
        "detail": detail[:300],
        "detected_ms": now_ms,
    }
