"""The refund receipt: what was given back, of which sale, and whether it is booked yet."""

from __future__ import annotations

from escpos.printer import Dummy

from drivers.printer import Receipt
from drivers.printer.receipt_layout import write_receipt

ESC = b"\x1b"


def refund_receipt(**changes: object) -> Receipt:
    fields: dict[str, object] = {
        "sale_id": "R-7",
        "merchant_name": "Demo Bakery",
        "currency": "EUR",
        "total_minor": 400,
        "time_text": "2026-11-21 10:05",
        "method": "wallet",
        "offline": False,
        "refund_of": "S-42",
    }
    fields.update(changes)
    return Receipt(**fields)  # type: ignore[arg-type]


def rendered(receipt: Receipt) -> bytes:
    dummy = Dummy()
    write_receipt(dummy, receipt, 32)
    return bytes(dummy.output)


def test_a_refund_receipt_names_the_refund_the_sale_and_the_amount_back() -> None:
    # GIVEN a refund of 4.00 of sale S-42; WHEN it is printed
    out = rendered(refund_receipt())
    # THEN it says REFUND, the negative amount, the refund and the sale, and is cut
    assert b"REFUND\n" in out
    assert b"REFUNDED" + b" " * 15 + b"EUR -4.00\n" in out
    assert b"Refund R-7\n" in out and b"Of sale S-42\n" in out
    assert b"TOTAL" not in out and b"OFFLINE" not in out
    assert out.endswith(b"\x1dVA\x00") or b"\x1dV" in out[-8:]


def test_a_refund_not_yet_booked_says_so() -> None:
    out = rendered(refund_receipt(offline=True))
    assert b"RECORDED OFFLINE - booked when the kiosk syncs\n" in out
