"""Authentic sales the ledger answered `rejected` (malformed, a taken sale id, a chain break):
their chain link is kept, so the kiosk marks them rejected and sends the sales after them,
which still link to them and verify. No money moves for them; the operator sees each one (with
its record, ASCII-escaped so any text survives storage) in `ledger reconcile`."""

from __future__ import annotations

import json
from typing import Any, Protocol

from sqlalchemy import Connection, Row, select, update

from sync.ledger.storage import bulk_insert
from sync.ledger.tables import devices
from sync.ledger.tables_security import rejected_sales
from sync.ledger.validation import is_id


class RejectedLink(str):
    """A stored hash that belongs to a rejected sale (compares equal to the hash text)."""

    reason: str

    def __new__(cls, digest: str, reason: str) -> RejectedLink:
        link = super().__new__(cls, digest)
        link.reason = reason
        return link


class SaleLike(Protocol):
    """What ingestion knows about an incoming sale."""

    record: dict[str, Any]
    seq: int
    sale_id: Any
    hash: str


def rejected_links(conn: Connection, device_id: str, first: int, last: int) -> dict[int, str]:
    """Kept links of rejected sales at these seqs."""
    query = select(rejected_sales.c.seq, rejected_sales.c.hash, rejected_sales.c.reason).where(
        rejected_sales.c.device_id == device_id, rejected_sales.c.seq.between(first, last)
    )
    return {row.seq: RejectedLink(row.hash, row.reason) for row in conn.execute(query)}


def keep_rejected_links(
    conn: Connection, device: Row[Any], kept: list[tuple[Any, str]], now_ms: int
) -> None:
    """Store the links of this batch's rejected sales (once per seq) and move last_seq past
    them, so the next batch links to them without a gap."""
    rows = {sale.seq: _row(device.device_id, sale, reason, now_ms) for sale, reason in kept}
    if not rows:
        return
    bulk_insert(conn, rejected_sales, list(rows.values()))
    last = max(rows)
    conn.execute(
        update(devices)
        .where(devices.c.device_id == device.device_id, devices.c.last_seq < last)
        .values(last_seq=last)
    )


def _row(device_id: str, sale: SaleLike, reason: str, now_ms: int) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "seq": sale.seq,
        "hash": sale.hash,
        "sale_id": sale.sale_id if is_id(sale.sale_id) else None,
        "reason": reason[:300],
        "received_ms": now_ms,
        "record_json": json.dumps(sale.record, sort_keys=True, ensure_ascii=True, default=str),
    }


def rejected_report(conn: Connection, device_id: str) -> list[dict[str, Any]]:
    """The rejected sales of one device whose links are kept, in seq order."""
    query = (
        select(rejected_sales.c.seq, rejected_sales.c.sale_id, rejected_sales.c.reason)
        .where(rejected_sales.c.device_id == device_id)
        .order_by(rejected_sales.c.seq)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
