"""Offline risk limits and queue storage settings."""

from device.settings import Section


class OfflineLimits(Section):
    """What the kiosk may sell while it cannot reach the ledger (amounts in minor units)."""

    per_sale_max: int = 5000
    unsynced_total_max: int = 50000
    unsynced_count_max: int = 200
    oldest_unsynced_max_s: float = 24 * 3600.0
    per_customer_unsynced_max: int = 10000


class QueueConfig(Section):
    """Where and how the queue is stored."""

    allow_tmpfs: bool = False  # a tmpfs data dir loses the queue at power-off: refuse unless set
