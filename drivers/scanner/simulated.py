"""An in-process scanner with a test-facing API: present(payload), unplug(), replug().

Presented payloads go through the same framing checks as the serial driver (sent as
length-prefixed frames), so a bad payload is rejected and logged exactly as on a real line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from drivers.scanner.base import ScannerUnavailable
from drivers.scanner.config import SimulatedScannerConfig
from drivers.scanner.framing import Decoded, encode_frame, feed, line_idle, new_framer

log = logging.getLogger(__name__)
DEFAULT_MAX_FRAME_BYTES = 1024


class SimulatedScanner:
    """CodeScanner simulator: what the test presents comes out of `read_code`."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._framer = new_framer("length_prefix", max_frame_bytes)
        self._ready: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._open = False
        self._plugged = True
        self.rejected: list[str] = []

    @classmethod
    def from_config(cls, config: SimulatedScannerConfig) -> SimulatedScanner:
        """Build from the `scanner` config section."""
        return cls()

    @property
    def connected(self) -> bool:
        """Whether the scanner is open and plugged in."""
        return self._open and self._plugged

    def present(self, payload: bytes) -> None:
        """A code is held under the scanner: its bytes arrive (lost while unplugged)."""
        with self._cond:
            if not self._plugged:
                return
            if len(payload) > 0xFFFF:
                self._reject(f"frame of {len(payload)} bytes is over the cap")
                return
            self._framer, outputs = feed(self._framer, encode_frame(payload, "length_prefix"))
            self._framer, quiet = line_idle(self._framer)
            for output in [*outputs, *quiet]:
                if isinstance(output, Decoded):
                    self._ready.append(output.payload)
                else:
                    self._reject(output.reason)
            self._cond.notify_all()

    def unplug(self) -> None:
        """The scanner is pulled out: unread codes are lost, reads raise ScannerUnavailable."""
        with self._cond:
            self._plugged = False
            self._ready.clear()
            self._cond.notify_all()

    def replug(self) -> None:
        """The scanner is back; reads work again."""
        with self._cond:
            self._plugged = True
            self._cond.notify_all()

    def open(self) -> None:
        """Open the scanner; raises ScannerUnavailable while unplugged."""
        with self._cond:
            self._open = True
            self._check_usable()

    def read_code(self, timeout_s: float) -> bytes | None:
        """The next presented valid payload, or None after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                self._check_usable()
                if self._ready:
                    return self._ready.popleft()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        """Release the scanner; safe to call twice."""
        with self._cond:
            self._open = False
            self._cond.notify_all()

    def _check_usable(self) -> None:
        if not self._open:
            raise ScannerUnavailable("simulated scanner is closed")
        if not self._plugged:
            raise ScannerUnavailable("simulated scanner is unplugged")

    def _reject(self, reason: str) -> None:
        self.rejected.append(reason)
        log.warning("scanner frame rejected", extra={"port": "simulated", "reason": reason})
