"""The device's durable offline sale queue.

Import what you need from here (`from sync.queue import SaleQueue, SaleDraft`): the names load
lazily so the CLI's command registration stays cheap (no SQLAlchemy or cryptography import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.queue.draft import SaleDraft
    from sync.queue.errors import (
        InvalidSale,
        LimitExceeded,
        QueueError,
        QueueUnavailable,
        SaleConflict,
    )
    from sync.queue.sale_queue import QueueStatus, SaleQueue

__all__ = [
    "InvalidSale",
    "LimitExceeded",
    "QueueError",
    "QueueStatus",
    "QueueUnavailable",
    "SaleConflict",
    "SaleDraft",
    "SaleQueue",
]
_HOMES = {
    "SaleDraft": "sync.queue.draft",
    "SaleQueue": "sync.queue.sale_queue",
    "QueueStatus": "sync.queue.sale_queue",
    "InvalidSale": "sync.queue.errors",
    "LimitExceeded": "sync.queue.errors",
    "QueueError": "sync.queue.errors",
    "QueueUnavailable": "sync.queue.errors",
    "SaleConflict": "sync.queue.errors",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'sync.queue' has no attribute {name!r}")
