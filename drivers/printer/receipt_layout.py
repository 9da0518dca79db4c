"""What a receipt looks like, written through python-escpos formatting calls.

The same layout is sent to a real printer and to the simulator's `Dummy` backend, so the bytes a
test sees are the bytes a printer gets. The QR code uses the printer's own QR command (GS ( k):
about a tenth of the bytes of a raster image, and sharp at any printer resolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.printer.base import Receipt, ReceiptLine

if TYPE_CHECKING:
    from escpos.escpos import Escpos

DEFAULT_WIDTH = 42  # characters per line in font A on 80 mm paper (48 on some, 32 on 58 mm)
QR_MODULE_DOTS = 6
# ISO 4217 minor-unit exponents that differ from 2.
MINOR_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3}
METHOD_NAMES = {"face": "Smile", "customer_qr": "Wallet code", "merchant_qr": "QR payment"}


def format_amount(amount_minor: int, currency: str) -> str:
    """Minor units as text with the currency's decimals: 1250 EUR -> "12.50"."""
    exponent = MINOR_EXPONENTS.get(currency, 2)
    sign, value = ("-" if amount_minor < 0 else ""), abs(amount_minor)
    if exponent == 0:
        return f"{sign}{value}"
    major, minor = divmod(value, 10**exponent)
    return f"{sign}{major}.{minor:0{exponent}d}"


def columns(left: str, right: str, width: int) -> str:
    """`left` and `right` on one line; `left` is shortened (with "~") if they do not fit."""
    room = width - len(right) - 1
    if len(left) > room:
        left = left[: max(room - 1, 0)] + "~"
    return left + " " * (width - len(left) - len(right)) + right


def item_text(line: ReceiptLine, currency: str, width: int) -> str:
    """One basket line: "2 x Coffee ........ 5.00"."""
    return columns(
        f"{line.quantity} x {line.name}", format_amount(line.amount_minor, currency), width
    )


def status_lines(receipt: Receipt) -> list[str]:
    """How the sale was taken, when that is not a plain online payment."""
    lines = []
    if receipt.offline:
        lines.append("TAKEN OFFLINE - recorded on this kiosk")
    return lines


def write_receipt(printer: Escpos, receipt: Receipt, width: int = DEFAULT_WIDTH) -> None:
    """Send the whole receipt, ending with a cut."""
    if receipt.refund_of:
        write_refund_receipt(printer, receipt, width)
        return
    _header(printer, receipt)
    printer.textln("-" * width)
    for line in receipt.lines:
        printer.textln(item_text(line, receipt.currency, width))
    printer.textln("-" * width)
    printer.set(bold=True)
    total = format_amount(receipt.total_minor, receipt.currency)
    printer.textln(columns("TOTAL", f"{receipt.currency} {total}", width))
    printer.set(bold=False)
    printer.textln(columns("Paid by", METHOD_NAMES.get(receipt.method, receipt.method), width))
    printer.textln(f"Sale {receipt.sale_id}")
    for text in status_lines(receipt):
        printer.set(bold=True)
        printer.textln(text)
        printer.set(bold=False)
    _link(printer, receipt)
    printer.cut()


def write_refund_receipt(printer: Escpos, receipt: Receipt, width: int = DEFAULT_WIDTH) -> None:
    """A refund: what was given back, of which sale, to where; ending with a cut."""
    _header(printer, receipt)
    printer.set(align="center", bold=True)
    printer.textln("REFUND")
    printer.set(align="left", bold=False)
    printer.textln("-" * width)
    printer.set(bold=True)
    refunded = format_amount(-receipt.total_minor, receipt.currency)
    printer.textln(columns("REFUNDED", f"{receipt.currency} {refunded}", width))
    printer.set(bold=False)
    printer.textln(columns("Back to", METHOD_NAMES.get(receipt.method, receipt.method), width))
    printer.textln(f"Refund {receipt.sale_id}")
    printer.textln(f"Of sale {receipt.refund_of}")
    if receipt.offline:
        printer.textln("RECORDED OFFLINE - booked when the kiosk syncs")
    printer.cut()


def _header(printer: Escpos, receipt: Receipt) -> None:
    printer.set(align="center", bold=True, double_height=True)
    printer.textln(receipt.merchant_name)
    printer.set(align="center", bold=False, normal_textsize=True)
    printer.textln(receipt.time_text)
    printer.set(align="left")


def _link(printer: Escpos, receipt: Receipt) -> None:
    if not receipt.receipt_url:
        return
    caption = "Your e-receipt"
    printer.set(align="center")
    printer.textln(caption)
    printer.qr(receipt.receipt_url, size=QR_MODULE_DOTS, native=True)
    printer.set(align="left")
