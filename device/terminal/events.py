"""What the POS can follow while a payment runs: a numbered event log kept in memory, read by
long-poll (`GET /v1/events?after=N`) or as server-sent events."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

KEEP = 500


class EventLog:
    """Numbered events (1, 2, ...); readers wait for ones after the number they have seen."""

    def __init__(self) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._last = 0
        self._changed = threading.Condition()

    def add(self, kind: str, **fields: Any) -> None:
        """Append one event (any thread)."""
        with self._changed:
            self._last += 1
            self._events.append({"id": self._last, "type": kind, "at": time.time(), **fields})
            self._changed.notify_all()

    @property
    def last_id(self) -> int:
        """The newest event's number (0 before any)."""
        return self._last

    def after(
        self, after: int, wait_s: float, reference: str | None = None
    ) -> list[dict[str, Any]]:
        """Events numbered above `after` (for `reference`, if given), waiting up to `wait_s`
        for the first one."""
        deadline = time.monotonic() + wait_s
        with self._changed:
            while True:
                found = [
                    e
                    for e in self._events
                    if e["id"] > after and (reference is None or e.get("reference") == reference)
                ]
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                self._changed.wait(remaining)
