"""The CodeScanner role."""

from __future__ import annotations

from typing import Protocol

from base.errors import SmilepayError


class ScannerUnavailable(SmilepayError):
    """The scanner is gone (unplugged) or its port cannot be opened."""


class CodeScanner(Protocol):
    """A device that reads codes and delivers each one as raw bytes."""

    def open(self) -> None:
        """Open the device; raises ScannerUnavailable."""

    def read_code(self, timeout_s: float) -> bytes | None:
        """Return one complete code's payload bytes, or None if none arrived in time.

        Malformed frames are logged with a reason and skipped, never returned.
        """
        ...

    def close(self) -> None:
        """Release the device; safe to call twice."""
