"""Progress for long-running commands, on stderr so stdout stays clean for JSON output."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports `label: done/total (pct) rate/s` at most once a second, and once at the end."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last_report = 0.0

    def advance(self, count: int = 1) -> None:
        """Count `count` more units of work; report if a second has passed."""
        self.done += count
        now = time.monotonic()
        if now - self._last_report >= 1.0:
            self._last_report = now
            self._report(now)

    def finish(self) -> None:
        """Print the final line."""
        self._report(time.monotonic(), final=True)

    def _report(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self.started, 1e-9)
        of_total = f"/{self.total}" if self.total else ""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        end = " done" if final else ""
        print(
            f"{self.label}: {self.done}{of_total}{pct} {self.done / elapsed:.0f}/s{end}",
            file=self.stream,
            flush=True,
        )
