"""Offline risk limits and queue storage settings."""

from base.limits import OfflineLimits
from base.settings import Section

__all__ = ["OfflineLimits", "QueueConfig"]


class QueueConfig(Section):
    """Where and how the queue is stored."""

    allow_tmpfs: bool = False  # a tmpfs data dir loses the queue at power-off: refuse unless set
