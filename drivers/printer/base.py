"""The ReceiptPrinter role."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class PrinterStatus(StrEnum):
    """What the printer last reported."""

    READY = "ready"
    PAPER_OUT = "paper_out"
    OFFLINE = "offline"


@dataclass(frozen=True)
class ReceiptLine:
    """One item on the receipt."""

    name: str
    quantity: int
    amount_minor: int


@dataclass(frozen=True)
class Receipt:
    """Everything printed for one sale."""

    sale_id: str
    merchant_name: str
    currency: str
    total_minor: int
    time_text: str
    method: str
    offline: bool
    lines: list[ReceiptLine] = field(default_factory=list)
    receipt_url: str = ""
    refund_of: str = ""  # a refund receipt: the sale id the money came back from


class ReceiptPrinter(Protocol):
    """A receipt printer; printing never blocks or fails a sale."""

    def print_receipt(self, receipt: Receipt) -> PrinterStatus:
        """Print the receipt if possible; return the printer's status (never raises for paper-out
        or an offline printer)."""
        ...

    def status(self) -> PrinterStatus:
        """Query the printer's current status."""
        ...

    def close(self) -> None:
        """Release the device; safe to call twice."""
