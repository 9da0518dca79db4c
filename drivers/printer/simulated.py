"""A receipt printer simulator on python-escpos's `Dummy` backend.

It renders with the same layout as the real driver, so `receipts` holds the exact bytes a
printer would get. Test API: `set_paper_out(bool)`, `set_offline(bool)`, `receipts`, `output`,
`printed` (the Receipt objects).
"""

from __future__ import annotations

import logging
import threading

from escpos.printer import Dummy

from drivers.printer.base import PrinterStatus, Receipt
from drivers.printer.config import SimulatedPrinterConfig
from drivers.printer.receipt_layout import DEFAULT_WIDTH, write_receipt

log = logging.getLogger(__name__)


class SimulatedPrinter:
    """ReceiptPrinter simulator: keeps each receipt's bytes; paper and power set by the test."""

    def __init__(self, width: int = DEFAULT_WIDTH) -> None:
        self.width = width
        self.receipts: list[bytes] = []
        self.printed: list[Receipt] = []
        self._paper_out = False
        self._offline = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: SimulatedPrinterConfig) -> SimulatedPrinter:
        """Build from the `printer` config section."""
        return cls()

    @property
    def output(self) -> bytes:
        """Every byte sent to the printer so far."""
        with self._lock:
            return b"".join(self.receipts)

    def set_paper_out(self, paper_out: bool) -> None:
        """Empty (True) or reload (False) the paper roll."""
        self._paper_out = paper_out

    def set_offline(self, offline: bool) -> None:
        """Switch the printer off (True) or on (False)."""
        self._offline = offline

    def status(self) -> PrinterStatus:
        """The simulated printer's state."""
        if self._offline:
            return PrinterStatus.OFFLINE
        return PrinterStatus.PAPER_OUT if self._paper_out else PrinterStatus.READY

    def print_receipt(self, receipt: Receipt) -> PrinterStatus:
        """Render into a fresh Dummy if ready; return the status (never raises)."""
        state = self.status()
        if state != PrinterStatus.READY:
            log.warning(
                "receipt not printed",
                extra={"printer": "simulated", "sale_id": receipt.sale_id, "status": str(state)},
            )
            return state
        dummy = Dummy()
        write_receipt(dummy, receipt, self.width)
        with self._lock:
            self.receipts.append(dummy.output)
            self.printed.append(receipt)
        return state

    def close(self) -> None:
        """Nothing to release; safe to call twice."""
