"""Reports for retailers and auditors: the transfer journal and per-device reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, select, union_all

from sync.ledger.refunds import refund_report
from sync.ledger.rejections import rejected_report
from sync.ledger.review import review_items
from sync.ledger.tables import accounts, anomalies, batches, devices, sales, transfers
from sync.ledger.tables_security import rejected_sales


def journal(conn: Connection) -> Iterator[dict[str, Any]]:
    """Every transfer, oldest first, as a JSON-ready dict."""
    query = select(transfers).order_by(transfers.c.created_ms, transfers.c.transfer_id)
    for row in conn.execution_options(yield_per=1000).execute(query):
        yield dict(row._mapping)


def reconcile(conn: Connection, device_id: str | None = None) -> dict[str, Any]:
    """Per device: what arrived, duplicates, rejections, gaps, chain breaks, declines,
    settle-later debts and money totals; plus whether the whole ledger balances."""
    query = select(devices.c.device_id).order_by(devices.c.device_id)
    if device_id is not None:
        query = query.where(devices.c.device_id == device_id)
    ids = list(conn.scalars(query))
    return {
        "devices": [device_report(conn, one) for one in ids],
        "ledger": ledger_totals(conn),
    }


def device_report(conn: Connection, device_id: str) -> dict[str, Any]:
    """The reconciliation of one device."""
    return {
        "device_id": device_id,
        **_arrivals(conn, device_id),
        "gaps": missing_ranges(conn, device_id),
        "chain_breaks": _anomaly_seqs(conn, device_id, "chain_break"),
        "declines": _declines(conn, device_id),
        "review": review_items(conn, limit=1000, device_id=device_id),
        "rejected_sales": rejected_report(conn, device_id),
        "totals": _money(conn, device_id),
        "refunds": refund_report(conn, device_id),
    }


def _arrivals(conn: Connection, device_id: str) -> dict[str, Any]:
    counts = conn.execute(
        select(
            func.count(batches.c.batch_id),
            func.coalesce(func.sum(batches.c.accepted), 0),
            func.coalesce(func.sum(batches.c.duplicates), 0),
            func.coalesce(func.sum(batches.c.declined), 0),
            func.coalesce(func.sum(batches.c.rejected), 0),
        ).where(batches.c.device_id == device_id)
    ).one()
    last_seq = conn.scalar(select(devices.c.last_seq).where(devices.c.device_id == device_id))
    return {
        "batches": int(counts[0]),
        "arrived": int(counts[1] + counts[3]),
        "accepted": int(counts[1]),
        "declined": int(counts[3]),
        "duplicates_rejected": int(counts[2]),
        "rejected": int(counts[4]),
        "last_seq": int(last_seq or 0),
    }


def missing_ranges(conn: Connection, device_id: str) -> list[list[int]]:
    """Seq ranges [from, to] never booked below the highest booked seq."""
    kept = union_all(
        select(sales.c.seq).where(sales.c.device_id == device_id),
        select(rejected_sales.c.seq).where(rejected_sales.c.device_id == device_id),
    ).subquery()
    previous = func.lag(kept.c.seq).over(order_by=kept.c.seq).label("previous")
    steps = select(kept.c.seq, previous).subquery()
    query = (
        select(steps.c.previous, steps.c.seq)
        .where(steps.c.seq - func.coalesce(steps.c.previous, 0) > 1)
        .order_by(steps.c.seq)
    )
    return [[int(row.previous or 0) + 1, int(row.seq) - 1] for row in conn.execute(query)]


def _anomaly_seqs(conn: Connection, device_id: str, kind: str) -> list[int]:
    query = (
        select(anomalies.c.from_seq)
        .where(anomalies.c.device_id == device_id, anomalies.c.kind == kind)
        .order_by(anomalies.c.from_seq)
    )
    return sorted({int(seq) for seq in conn.scalars(query)})


def _declines(conn: Connection, device_id: str) -> list[dict[str, Any]]:
    query = (
        select(sales.c.seq, sales.c.sale_id, sales.c.amount_minor, sales.c.currency, sales.c.reason)
        .where(sales.c.device_id == device_id, sales.c.status == "declined")
        .order_by(sales.c.seq)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _money(conn: Connection, device_id: str) -> list[dict[str, Any]]:
    """Per currency: sales booked, split by how they were paid, checked against the transfers."""
    query = (
        select(
            sales.c.currency,
            transfers.c.kind,
            func.count(sales.c.seq).label("sales_count"),
            func.sum(sales.c.amount_minor).label("sales_minor"),
            func.sum(transfers.c.amount_minor).label("transfers_minor"),
        )
        .join(transfers, transfers.c.transfer_id == sales.c.transfer_id)
        .where(sales.c.device_id == device_id)
        .group_by(sales.c.currency, transfers.c.kind)
    )
    totals: dict[str, dict[str, Any]] = {}
    for row in conn.execute(query):
        entry = totals.setdefault(
            row.currency,
            {"currency": row.currency, "sales_minor": 0, "transfers_minor": 0, "by_kind": {}},
        )
        entry["sales_minor"] += int(row.sales_minor)
        entry["transfers_minor"] += int(row.transfers_minor)
        entry["by_kind"][_kind_name(row.kind)] = {
            "count": int(row.sales_count),
            "amount_minor": int(row.sales_minor),
        }
    for entry in totals.values():
        entry["balanced"] = entry["sales_minor"] == entry["transfers_minor"]
    return sorted(totals.values(), key=lambda entry: entry["currency"])


def _kind_name(kind: str) -> str:
    return {
        "sale": "wallet",
        "post": "online",
        "settle_later": "settle_later",
        "declined": "suspense",
        "review": "review",
    }.get(kind, kind)


def ledger_totals(conn: Connection) -> list[dict[str, Any]]:
    """Per currency: total debits and credits over all accounts (posted and pending)."""
    query = (
        select(
            accounts.c.currency,
            func.sum(accounts.c.debits_posted),
            func.sum(accounts.c.credits_posted),
            func.sum(accounts.c.debits_pending),
            func.sum(accounts.c.credits_pending),
        )
        .group_by(accounts.c.currency)
        .order_by(accounts.c.currency)
    )
    out = []
    for currency, debits, credits, debits_pending, credits_pending in conn.execute(query):
        out.append(
            {
                "currency": currency,
                "debits_posted": int(debits),
                "credits_posted": int(credits),
                "debits_pending": int(debits_pending),
                "credits_pending": int(credits_pending),
                "balanced": debits == credits and debits_pending == credits_pending,
            }
        )
    return out
