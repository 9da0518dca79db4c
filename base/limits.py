"""Offline risk limits: what a kiosk may sell while it cannot reach the ledger. The ledger hands
them out and the kiosk's queue enforces them, so both sides share this one definition."""

from __future__ import annotations

from base.settings import Section


class OfflineLimits(Section):
    """What the kiosk may sell while it cannot reach the ledger (amounts in minor units)."""

    per_sale_max: int = 5000
    unsynced_total_max: int = 50000
    unsynced_count_max: int = 200
    oldest_unsynced_max_s: float = 24 * 3600.0
    per_customer_unsynced_max: int = 10000
