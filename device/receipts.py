"""The receipt of a recorded sale or refund."""

from __future__ import annotations

from typing import Any, cast

from base.wire import SaleRecord
from device.config import KioskConfig
from drivers.printer.base import Receipt, ReceiptLine


def receipt_for(record: SaleRecord, config: KioskConfig) -> Receipt:
    """Build the printed receipt from the signed sale record."""
    return Receipt(
        sale_id=record["sale_id"],
        merchant_name=config.device.name,
        currency=record["currency"],
        total_minor=record["amount_minor"],
        time_text=record["wall_time"],
        method=record["method"],
        offline=bool(record["offline"]),
        lines=[
            ReceiptLine(item["name"], item["quantity"], item["amount_minor"])
            for item in record["items"]
        ],
        receipt_url=receipt_link(record["sale_id"], config),
    )


def receipt_of_record(record: dict[str, Any], config: KioskConfig) -> Receipt:
    """The receipt of a signed sale or refund record (refund records carry kind "refund")."""
    if record.get("kind") == "refund":
        return refund_receipt(record, config)
    return receipt_for(cast(SaleRecord, record), config)


def refund_receipt(record: dict[str, Any], config: KioskConfig) -> Receipt:
    """The refund receipt from the signed refund record (`booked` False: not yet at the ledger)."""
    return Receipt(
        sale_id=record["refund_id"],
        merchant_name=config.device.name,
        currency=record["currency"],
        total_minor=record["amount_minor"],
        time_text=record["wall_time"],
        method="wallet",
        offline=not record.get("booked", True),
        refund_of=record["sale_id"],
    )


def receipt_link(sale_id: str, config: KioskConfig) -> str:
    """The receipt page's public URL, or "" when no public base URL is configured."""
    base = config.device.receipt_base_url
    return f"{base.rstrip('/')}/r/{sale_id}" if base else ""
