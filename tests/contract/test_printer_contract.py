"""The ReceiptPrinter contract, run on the simulator, the ESC/POS driver over a real pty to a
printer that answers status queries, and the env's real printer. The simulator's bytes are
proven to be the bytes the real driver sends."""

from __future__ import annotations

from typing import Any

from escpos.printer import Dummy

from drivers.printer.base import PrinterStatus, Receipt, ReceiptLine
from drivers.printer.receipt_layout import write_receipt

RECEIPT = Receipt(
    sale_id="3f1c-42",
    merchant_name="Corner Café",
    currency="EUR",
    total_minor=1250,
    time_text="2026-11-21 10:00",
    method="customer_qr",
    offline=True,
    lines=[ReceiptLine("Sandwich", 1, 950), ReceiptLine("Water", 1, 300)],
    receipt_url="https://ledger.example/r/3f1c-42",
)


def expected_bytes() -> bytes:
    dummy = Dummy()
    write_receipt(dummy, RECEIPT)
    return bytes(dummy.output)


def test_a_ready_printer_prints_exactly_the_receipt_bytes(printer_rig: Any) -> None:
    # GIVEN a printer with paper WHEN a receipt is printed THEN it reports ready
    assert printer_rig.driver.print_receipt(RECEIPT) == PrinterStatus.READY
    # AND the device received exactly the layout's bytes (status queries aside)
    assert printer_rig.printed() == expected_bytes()


def test_out_of_paper_prints_nothing_and_says_so(printer_rig: Any) -> None:
    printer_rig.set_paper_out(True)
    assert printer_rig.driver.status() == PrinterStatus.PAPER_OUT
    assert printer_rig.driver.print_receipt(RECEIPT) == PrinterStatus.PAPER_OUT
    assert printer_rig.printed() == b""
    # WHEN the roll is replaced THEN the next receipt prints
    printer_rig.set_paper_out(False)
    assert printer_rig.driver.print_receipt(RECEIPT) == PrinterStatus.READY
    assert printer_rig.printed() == expected_bytes()


def test_a_switched_off_printer_is_offline_and_nothing_raises(printer_rig: Any) -> None:
    printer_rig.set_power(False)
    assert printer_rig.driver.print_receipt(RECEIPT) == PrinterStatus.OFFLINE
    assert printer_rig.driver.status() == PrinterStatus.OFFLINE
    printer_rig.set_power(True)
    assert printer_rig.driver.status() == PrinterStatus.READY


def test_close_is_safe_twice(printer_rig: Any) -> None:
    printer_rig.driver.print_receipt(RECEIPT)
    printer_rig.driver.close()
    printer_rig.driver.close()
