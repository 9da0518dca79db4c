"""The ledger enforces the offline limits it hands out. A sale the ledger did not authorise
online is the kiosk's word alone; before it is booked to a customer it must fit:

- the device's per-sale limit;
- the device's unsynced count and total, and the per-customer unsynced total, counted over the
  offline sales of the same batch before it (sales that arrive together were all unsynced on
  the kiosk when the later ones were made: a lower bound of what the kiosk saw, so an honest
  kiosk always passes);
- for a customer-token sale: a token this ledger issued, for this customer, valid at the sale,
  and not spent by another sale (the same token offline at two kiosks).

A sale that does not fit is booked to the review account with the reason, not to the customer.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, select

from base.limits import OfflineLimits
from sync.ledger.devices import limits_for
from sync.ledger.tables import authorizations
from sync.ledger.tokens import TokenUse, spend

NONCE_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass
class Running:
    """Offline exposure of the batch so far."""

    count: int = 0
    total: int = 0
    per_customer: dict[str, int] = field(default_factory=dict)

    def add(self, customer_id: str | None, amount: int) -> None:
        self.count += 1
        self.total += amount
        if customer_id:
            self.per_customer[customer_id] = self.per_customer.get(customer_id, 0) + amount


def review_reasons(
    conn: Connection, device: Row[Any], records: list[dict[str, Any]], now_ms: int
) -> dict[int, str]:
    """Seq -> why the sale goes to review, for the sales of one batch (in seq order)."""
    limits = OfflineLimits.model_validate(limits_for(conn, device.device_id))
    online = authorised_online(conn, device.device_id, records)
    running, reasons = Running(), {}
    for record in records:
        if record["sale_id"] in online:
            continue
        reason = limit_reason(limits, running, record)
        if record["method"] == "customer_qr":
            reason = token_reason(conn, device.device_id, record, now_ms) or reason
        running.add(record["customer_id"], record["amount_minor"])
        if reason:
            reasons[record["seq"]] = f"review: {reason}"
    return reasons


def authorised_online(conn: Connection, device_id: str, records: list[dict[str, Any]]) -> set[str]:
    """Sale ids the ledger approved online for this device, customer and amount."""
    wanted = {r["sale_id"]: (r["customer_id"], r["amount_minor"]) for r in records}
    query = select(authorizations).where(
        authorizations.c.sale_id.in_(list(wanted)),
        authorizations.c.device_id == device_id,
        authorizations.c.status == "approved",
    )
    return {
        row.sale_id
        for row in conn.execute(query)
        if wanted[row.sale_id] == (row.customer_id, row.amount_minor)
    }


def limit_reason(limits: OfflineLimits, running: Running, record: dict[str, Any]) -> str | None:
    """Why an offline sale breaks the device's limits given the batch so far, or None."""
    amount, customer = record["amount_minor"], record["customer_id"]
    if amount > limits.per_sale_max:
        return f"offline sale of {amount} over the device's per-sale limit of {limits.per_sale_max}"
    if running.count + 1 > limits.unsynced_count_max:
        return f"more than {limits.unsynced_count_max} unsynced offline sales"
    if running.total + amount > limits.unsynced_total_max:
        return f"unsynced offline total over the device's limit of {limits.unsynced_total_max}"
    customer_total = running.per_customer.get(customer, 0) + amount if customer else 0
    if customer_total > limits.per_customer_unsynced_max:
        limit = limits.per_customer_unsynced_max
        return f"customer's unsynced offline total {customer_total} over the limit of {limit}"
    return None


def token_reason(
    conn: Connection, device_id: str, record: dict[str, Any], now_ms: int
) -> str | None:
    """Why a customer-token sale's token does not pay for it (None: spent for it now)."""
    evidence, customer = record["evidence"], record["customer_id"]
    nonce = evidence.get("token_nonce_sha256") if isinstance(evidence, dict) else None
    if not isinstance(nonce, str) or not NONCE_HASH.fullmatch(nonce) or not customer:
        return "customer-token sale without a token the ledger can check"
    use = TokenUse(nonce, customer, record["sale_id"], device_id)
    return spend(conn, use, now_ms, sale_ms=wall_time_ms(record["wall_time"]))


def wall_time_ms(text: Any) -> int | None:
    """The sale's wall time (ISO 8601 UTC) in ms, or None if unreadable."""
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
