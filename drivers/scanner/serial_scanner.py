"""A serial 2D code scanner through pyserial (USB CDC scanners appear as /dev/ttyACM*).

The driver only frames bytes (drivers.scanner.framing); what a code means is decided by the app
(device.codes.payment.classify_payload). When the port vanishes the driver raises
ScannerUnavailable and, on later reads, reopens the port with exponential backoff.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

import serial

from base.backoff import Backoff
from drivers.scanner.base import ScannerUnavailable
from drivers.scanner.config import SerialScannerConfig
from drivers.scanner.framing import Decoded, FramerState, Framing, feed, line_idle, new_framer

log = logging.getLogger(__name__)


class SerialScanner:
    """CodeScanner on a serial port: framing, rejection logging, reconnect after unplug."""

    def __init__(
        self,
        port: str,
        baud: int = 9600,
        framing: Framing = "cr",
        quiet_gap_s: float = 0.2,
        max_frame_bytes: int = 1024,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port_name = port
        self.baud = baud
        self.quiet_gap_s = quiet_gap_s  # a pause this long ends a half-received frame
        # Reopen attempts: 0.1 s, doubling up to 5 s.
        self.backoff = backoff or Backoff(0.1, 5.0, jitter=False)
        self._clock = clock
        self._framer: FramerState = new_framer(framing, max_frame_bytes)
        self._fresh_framer = self._framer
        self._port: serial.Serial | None = None
        self._wanted = False
        self._ready: deque[bytes] = deque()
        self._next_attempt = 0.0

    @classmethod
    def from_config(cls, config: SerialScannerConfig) -> SerialScanner:
        """Build from the `scanner` config section (the port is not opened yet)."""
        return cls(
            port=config.port,
            baud=config.baud,
            framing=config.framing,
            quiet_gap_s=config.timeout_s,
            max_frame_bytes=config.max_frame_bytes,
        )

    @property
    def connected(self) -> bool:
        """Whether the port is open right now."""
        return self._port is not None

    def open(self) -> None:
        """Open the port; raises ScannerUnavailable (later reads keep retrying with backoff)."""
        self._wanted = True
        if self._port is None:
            self._try_open()

    def read_code(self, timeout_s: float) -> bytes | None:
        """One valid payload, or None after `timeout_s` (may overrun by one quiet gap).
        Raises ScannerUnavailable while the port is gone; each call retries when backoff allows."""
        deadline = self._clock() + timeout_s
        while not self._ready:
            port = self._port if self._port is not None else self._reconnect(deadline)
            if self._clock() >= deadline:
                return None
            self._take(self._read_chunk(port))
        return self._ready.popleft()

    def close(self) -> None:
        """Release the port; safe to call twice."""
        self._wanted = False
        self._drop_port()

    # --- port handling ---------------------------------------------------------------------

    def _try_open(self) -> serial.Serial:
        try:
            # serial_for_url also takes socket://host:port (a scanner behind ser2net).
            port = serial.serial_for_url(
                self.port_name, self.baud, timeout=self.quiet_gap_s, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            self._next_attempt = self._clock() + self.backoff.next_delay_s()
            raise ScannerUnavailable(f"scanner port {self.port_name}: {exc}") from exc
        self._port, self._framer = port, self._fresh_framer
        self.backoff.reset()
        log.info("scanner port open", extra={"port": self.port_name, "baud": self.baud})
        return port

    def _reconnect(self, deadline: float) -> serial.Serial:
        if not self._wanted:
            raise ScannerUnavailable(f"scanner port {self.port_name} is closed")
        wait = min(self._next_attempt, deadline) - self._clock()
        if wait > 0:
            time.sleep(wait)  # never spin: a caller looping on read_code waits here
        if self._clock() < self._next_attempt:
            raise ScannerUnavailable(f"scanner port {self.port_name} is gone; retrying")
        return self._try_open()

    def _read_chunk(self, port: serial.Serial) -> bytes:
        try:
            first = port.read(1)  # waits at most one quiet gap
            rest = port.read(port.in_waiting) if first and port.in_waiting else b""
        except (serial.SerialException, OSError) as exc:
            self._lose_port(str(exc))
            raise ScannerUnavailable(f"scanner port {self.port_name} lost: {exc}") from exc
        return bytes(first + rest)

    def _lose_port(self, reason: str) -> None:
        log.warning("scanner port lost", extra={"port": self.port_name, "reason": reason})
        self._drop_port()
        self.backoff.reset()
        self._next_attempt = self._clock() + self.backoff.next_delay_s()

    def _drop_port(self) -> None:
        port, self._port = self._port, None
        self._ready.clear()
        if port is not None:
            # The device may already be gone; there is nothing left to release then.
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    # --- framing -----------------------------------------------------------------------------

    def _take(self, chunk: bytes) -> None:
        if chunk:
            self._framer, outputs = feed(self._framer, chunk)
        else:
            self._framer, outputs = line_idle(self._framer)
        for output in outputs:
            if isinstance(output, Decoded):
                self._ready.append(output.payload)
            else:
                log.warning(
                    "scanner frame rejected",
                    extra={"port": self.port_name, "reason": output.reason},
                )
