"""The scanner thread: while the checkout waits for a customer code, each scanned code becomes a
checkout event; a scanner that vanishes is retried without stopping the kiosk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from base.threads import LoopThread
from device.checkout import Event
from device.codes_input import code_event
from drivers.scanner.base import CodeScanner, ScannerUnavailable

log = logging.getLogger("smilepay.kiosk.scanner")
RETRY_S = 2.0


class ScannerLoop:
    """Reads codes on its own thread; codes read while nobody is waiting are dropped."""

    def __init__(
        self, scanner: CodeScanner, post: Callable[[Event], None], issuer_key: Any = None
    ) -> None:
        self.scanner = scanner
        self.post = post
        self.issuer_key = issuer_key
        self.available = False
        self.last_error: str | None = None
        self._listening = False
        self._loop = LoopThread("scanner", self._run)

    def start(self) -> None:
        """Start the thread (it opens the scanner, retrying while it is absent)."""
        self._loop.start()

    def stop(self) -> None:
        """Stop the thread and close the scanner."""
        self._loop.stop()
        self.scanner.close()

    def listen(self, on: bool) -> None:
        """Deliver codes to the checkout (True) or drop them (False)."""
        self._listening = on

    def _run(self) -> None:
        while not self._loop.stopping.is_set():
            if not self.available and not self._open():
                self._loop.stopping.wait(RETRY_S)
                continue
            try:
                raw = self.scanner.read_code(timeout_s=0.5)
            except ScannerUnavailable as exc:
                self._lost(str(exc))
                continue
            if raw is not None and self._listening:
                self.post(code_event(raw, self.issuer_key, time.monotonic()))

    def _open(self) -> bool:
        try:
            self.scanner.open()
        except ScannerUnavailable as exc:
            self._lost(str(exc))
            return False
        self.available, self.last_error = True, None
        log.info("scanner ready")
        return True

    def _lost(self, reason: str) -> None:
        if self.available or self.last_error != reason:
            log.warning("scanner unavailable", extra={"reason": reason})
        self.available, self.last_error = False, reason
