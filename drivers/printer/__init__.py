"""Receipt printer role: ESC/POS serial, USB, network, and a simulator, chosen by config."""

from __future__ import annotations

from drivers.loading import build_driver
from drivers.printer.base import PrinterStatus, Receipt, ReceiptLine, ReceiptPrinter
from drivers.printer.config import PrinterConfig

DRIVERS = {
    "escpos_serial": "drivers.printer.escpos_printer:EscposPrinter",
    "escpos_usb": "drivers.printer.escpos_printer:EscposPrinter",
    "escpos_network": "drivers.printer.escpos_printer:EscposPrinter",
    "simulated": "drivers.printer.simulated:SimulatedPrinter",
}


def open_printer(config: PrinterConfig) -> ReceiptPrinter | None:
    """Build the printer driver that `config.type` names, or None for `type = "none"`."""
    printer: ReceiptPrinter | None = build_driver(DRIVERS, config)
    return printer


__all__ = ["PrinterStatus", "Receipt", "ReceiptLine", "ReceiptPrinter", "open_printer"]
