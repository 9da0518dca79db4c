"""Offline risk limits: the exposure of unsynced offline sales, and whether one more fits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from base.limits import OfflineLimits


@dataclass(frozen=True)
class OfflineExposure:
    """What the device has sold offline and not yet had confirmed by the ledger."""

    count: int
    amount_minor: int
    oldest_age_s: float | None
    customer_amount_minor: int  # for the draft's customer (0 without one)


def limit_reason(
    limits: OfflineLimits, amount_minor: int, customer_id: str | None, exposure: OfflineExposure
) -> str | None:
    """Why one more offline sale of `amount_minor` would break a limit, or None if it fits."""
    if amount_minor > limits.per_sale_max:
        return (
            f"offline sale of {amount_minor} is over the offline per-sale limit of "
            f"{limits.per_sale_max} (minor units)"
        )
    if exposure.count + 1 > limits.unsynced_count_max:
        return (
            f"{exposure.count} offline sales are waiting to sync "
            f"(limit {limits.unsynced_count_max})"
        )
    if exposure.amount_minor + amount_minor > limits.unsynced_total_max:
        return (
            f"unsynced offline total would reach {exposure.amount_minor + amount_minor} "
            f"(limit {limits.unsynced_total_max} minor units)"
        )
    if exposure.oldest_age_s is not None and exposure.oldest_age_s > limits.oldest_unsynced_max_s:
        return (
            f"the oldest unsynced offline sale is {exposure.oldest_age_s / 3600:.1f} h old "
            f"(limit {limits.oldest_unsynced_max_s / 3600:.1f} h); reconnect to sync"
        )
    customer_total = exposure.customer_amount_minor + amount_minor
    if customer_id is not None and customer_total > limits.per_customer_unsynced_max:
        return (
            f"customer's unsynced offline total would reach {customer_total} "
            f"(limit {limits.per_customer_unsynced_max} minor units)"
        )
    return None


@dataclass
class ExposureTotals:
    """Unsynced offline sales summed per customer (None: sales without a customer), as read
    from the database at `data_version`, then kept up to date with this process's own sales."""

    data_version: int
    count: int = 0
    amount_minor: int = 0
    oldest_created_at: float | None = None
    per_customer: dict[str | None, int] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, data_version: int, rows: list[tuple[Any, ...]]) -> ExposureTotals:
        """From (customer_id, count, amount, oldest created_at) rows grouped by customer."""
        totals = cls(data_version)
        for customer_id, count, amount, oldest in rows:
            totals.count += count
            totals.amount_minor += amount
            totals.per_customer[customer_id] = amount
            if totals.oldest_created_at is None or oldest < totals.oldest_created_at:
                totals.oldest_created_at = oldest
        return totals

    def add(self, customer_id: str | None, amount_minor: int, created_at: float) -> None:
        """Count one more unsynced offline sale."""
        self.count += 1
        self.amount_minor += amount_minor
        self.per_customer[customer_id] = self.per_customer.get(customer_id, 0) + amount_minor
        if self.oldest_created_at is None:
            self.oldest_created_at = created_at

    def exposure(self, customer_id: str | None, oldest_age_s: float | None) -> OfflineExposure:
        """The exposure a new sale for `customer_id` would add to."""
        customer_amount = self.per_customer.get(customer_id, 0) if customer_id is not None else 0
        return OfflineExposure(self.count, self.amount_minor, oldest_age_s, customer_amount)
