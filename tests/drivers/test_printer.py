"""Receipt layout (exact ESC/POS bytes on python-escpos's Dummy), the simulator, and the real
driver's status decoding and failure handling."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
from escpos.printer import Dummy

from drivers.loading import DriverUnavailable
from drivers.printer import PrinterStatus, Receipt, ReceiptLine, open_printer
from drivers.printer.config import NetworkPrinterConfig, SimulatedPrinterConfig, UsbPrinterConfig
from drivers.printer.escpos_printer import EscposPrinter, decode_status
from drivers.printer.receipt_layout import columns, format_amount, write_receipt
from drivers.printer.simulated import SimulatedPrinter

ESC, GS = b"\x1b", b"\x1d"
URL = "https://pay.example/r/S-42"


def receipt(**changes: object) -> Receipt:
    fields: dict[str, object] = {
        "sale_id": "S-42",
        "merchant_name": "Demo Bakery",
        "currency": "EUR",
        "total_minor": 1250,
        "time_text": "2026-11-21 10:00",
        "method": "face",
        "offline": False,
        "lines": [ReceiptLine("Coffee", 2, 500), ReceiptLine("Croissant", 1, 250)],
        "receipt_url": URL,
    }
    fields.update(changes)
    return Receipt(**fields)  # type: ignore[arg-type]


def rendered(r: Receipt, width: int = 32) -> bytes:
    dummy = Dummy()
    write_receipt(dummy, r, width)
    return bytes(dummy.output)


def native_qr(data: str) -> bytes:
    """GS ( k by hand from the ESC/POS manual: model 2, module size 6, EC level L, store, print."""
    store_len = (len(data) + 3).to_bytes(2, "little")
    return (
        GS + b"(k\x04\x00" + b"1A" + b"2\x00"  # fn 65: QR model 2
        + GS + b"(k\x03\x00" + b"1C" + b"\x06"  # fn 67: module size 6 dots
        + GS + b"(k\x03\x00" + b"1E" + b"0"  # fn 69: error correction L
        + GS + b"(k" + store_len + b"1P0" + data.encode()  # fn 80: store the data
        + GS + b"(k\x03\x00" + b"1Q0"  # fn 81: print the stored symbol
    )  # fmt: skip


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1250, "EUR", "12.50"), (5, "EUR", "0.05"), (-250, "EUR", "-2.50"), (1250, "JPY", "1250"),
     (1250, "KWD", "1.250")],
)  # fmt: skip
def test_amounts_use_the_currencys_decimals(minor: int, currency: str, text: str) -> None:
    assert format_amount(minor, currency) == text


def test_a_long_item_name_is_shortened_to_keep_the_amount_on_the_line() -> None:
    line = columns("1 x Extra large seasonal pumpkin latte", "6.90", 24)
    assert line == "1 x Extra large se~ 6.90"
    assert len(line) == 24


def test_the_receipt_bytes_are_exactly_the_layout() -> None:
    # GIVEN a two-item online face sale WHEN rendered on a 32-column Dummy printer
    out = rendered(receipt())
    # THEN the lines, the total, the sale id, the native QR and the cut come in this order
    expected_in_order = [
        ESC + b"a\x01" + ESC + b"t\x00Demo Bakery\n",
        b"2026-11-21 10:00\n",
        ESC + b"a\x00" + b"-" * 32 + b"\n",
        b"2 x Coffee                  5.00\n",
        b"1 x Croissant               2.50\n",
        b"-" * 32 + b"\n",
        ESC + b"E\x01" + b"TOTAL                  EUR 12.50\n" + ESC + b"E\x00",
        b"Paid by                    Smile\n",
        b"Sale S-42\n",
        ESC + b"a\x01Your e-receipt\n" + native_qr(URL) + ESC + b"a\x00",
        ESC + b"d\x06" + GS + b"V\x00",  # feed 6 lines, full cut
    ]
    position = 0
    for piece in expected_in_order:
        found = out.find(piece, position)
        assert found >= 0, f"missing or out of order: {piece!r}"
        position = found + len(piece)
    assert out.endswith(ESC + b"d\x06" + GS + b"V\x00")
    assert b"OFFLINE" not in out and b"SETTLE" not in out


def test_the_qr_is_the_printers_native_command_not_an_image() -> None:
    out = rendered(receipt())
    assert out.count(GS + b"(k") == 5
    assert GS + b"v0" not in out  # no raster image command


def test_an_offline_sale_says_so_and_links_to_its_receipt_page() -> None:
    out = rendered(receipt(offline=True))
    assert ESC + b"E\x01TAKEN OFFLINE - recorded on this kiosk\n" + ESC + b"E\x00" in out
    assert b"Your e-receipt\n" + native_qr(URL) in out


def test_without_a_link_no_qr_is_printed() -> None:
    assert GS + b"(k" not in rendered(receipt(receipt_url=""))


def test_the_simulator_keeps_each_receipts_bytes() -> None:
    printer = SimulatedPrinter(width=32)
    assert printer.print_receipt(receipt()) == PrinterStatus.READY
    assert printer.print_receipt(receipt(sale_id="S-43")) == PrinterStatus.READY
    assert printer.receipts == [rendered(receipt()), rendered(receipt(sale_id="S-43"))]
    assert printer.output == b"".join(printer.receipts)
    assert [r.sale_id for r in printer.printed] == ["S-42", "S-43"]


@pytest.mark.parametrize(
    ("paper_out", "offline", "status"),
    [(True, False, PrinterStatus.PAPER_OUT), (False, True, PrinterStatus.OFFLINE),
     (True, True, PrinterStatus.OFFLINE)],
)  # fmt: skip
def test_the_simulator_prints_nothing_when_not_ready(
    paper_out: bool, offline: bool, status: PrinterStatus, caplog: pytest.LogCaptureFixture
) -> None:
    printer = open_printer(SimulatedPrinterConfig(type="simulated"))
    assert isinstance(printer, SimulatedPrinter)
    printer.set_paper_out(paper_out)
    printer.set_offline(offline)
    caplog.set_level(logging.WARNING)
    assert printer.print_receipt(receipt()) == status
    assert printer.receipts == [] and printer.status() == status
    assert any(r.getMessage() == "receipt not printed" for r in caplog.records)


@pytest.mark.parametrize(
    ("online", "paper", "status"),
    [(b"\x12", b"\x12", PrinterStatus.READY), (b"\x12", b"\x1e", PrinterStatus.READY),
     (b"\x12", b"\x72", PrinterStatus.PAPER_OUT), (b"\x1a", b"\x12", PrinterStatus.OFFLINE),
     (b"", b"", PrinterStatus.OFFLINE), (b"\x12", b"", PrinterStatus.READY)],
)  # fmt: skip
def test_status_replies_are_decoded_per_the_esc_pos_bit_layout(
    online: bytes, paper: bytes, status: PrinterStatus
) -> None:
    # DLE EOT 1 bit 3: off line; DLE EOT 4 bits 5-6: paper end, bits 2-3: near end (still prints)
    assert decode_status(online, paper) == status


def test_an_unreachable_network_printer_is_offline_and_never_raises() -> None:
    # GIVEN a network printer on a port where nothing listens (127.0.0.1 port 9: discard, closed)
    config = NetworkPrinterConfig(type="escpos_network", host="127.0.0.1", port=9)
    printer = open_printer(config)
    assert isinstance(printer, EscposPrinter)
    # WHEN a receipt is printed THEN the status says offline and nothing is raised
    assert printer.print_receipt(receipt()) == PrinterStatus.OFFLINE
    printer.close()
    printer.close()


def test_a_printer_that_fails_mid_receipt_is_reported_offline(tmp_path: Path) -> None:
    # GIVEN a backend that answers the status queries and then breaks while printing
    class Breaking(Dummy):
        def query_status(self, mode: bytes) -> bytes:
            return b"\x12"

        def qr(self, *args: object, **kwargs: object) -> None:
            raise OSError("write failed: device unplugged")

    printer = EscposPrinter(Breaking, "breaking")
    assert printer.print_receipt(receipt()) == PrinterStatus.OFFLINE


def test_a_usb_printer_without_pyusb_is_refused_at_assembly_naming_the_package() -> None:
    if importlib.util.find_spec("usb") is not None:
        pytest.skip("pyusb is installed here")
    with pytest.raises(DriverUnavailable, match="pyusb"):
        open_printer(UsbPrinterConfig(type="escpos_usb", vendor_id=0x0416, product_id=0x5011))
