"""The receipt of a recorded sale."""

from __future__ import annotations

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
        settle_later=False,
        receipt_url=f"{config.sync.ledger_url.rstrip('/')}/r/{record['sale_id']}",
    )
