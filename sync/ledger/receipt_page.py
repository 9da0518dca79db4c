"""`GET /r/<sale_id>`: the page a receipt's QR code opens. It shows the sale as the ledger booked
it (merchant, time, lines, amount, refunds if any) and whether the device's signature and the
hash chain around it check out; before the sale has reached the ledger it says so."""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, inspect, select, text
from starlette.responses import HTMLResponse

from base import keys, wire
from sync.ledger.tables import anomalies, devices, sales

SALE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ZERO_DECIMALS = {"JPY", "KRW", "ISK", "CLP", "VND", "UGX", "XAF", "XOF"}
THREE_DECIMALS = {"BHD", "KWD", "JOD", "OMR", "TND", "IQD", "LYD"}


@dataclass(frozen=True)
class Checks:
    """What the ledger can prove about one booked sale."""

    signature_ok: bool
    chain: str  # "ok", "broken", or a sentence saying what could not be checked yet
    chain_ok: bool | None


def money(amount_minor: int, currency: str) -> str:
    """Minor units as text in the currency's own number of decimals."""
    digits = 0 if currency in ZERO_DECIMALS else 3 if currency in THREE_DECIMALS else 2
    if digits == 0:
        return f"{amount_minor} {currency}"
    return f"{amount_minor / 10**digits:.{digits}f} {currency}"


def check_sale(conn: Connection, row: Any, public_key_b64: str) -> Checks:
    """Verify the stored record's device signature and its links to its neighbours."""
    record = {**json.loads(row.record_json), "signature": row.signature or ""}
    signature_ok = wire.verify_sale_signature(record, keys.public_key_from_b64(public_key_b64))
    broken = conn.scalar(
        select(anomalies.c.anomaly_id).where(
            anomalies.c.device_id == row.device_id,
            anomalies.c.kind == "chain_break",
            anomalies.c.from_seq <= row.seq,
            anomalies.c.to_seq >= row.seq,
        )
    )
    previous = conn.scalar(
        select(sales.c.hash).where(sales.c.device_id == row.device_id, sales.c.seq == row.seq - 1)
    )
    expected_prev = wire.GENESIS_HASH if row.seq == 1 else previous
    if broken is not None or (expected_prev is not None and record["prev_hash"] != expected_prev):
        return Checks(signature_ok, "broken: it does not link to the sale before it", False)
    if expected_prev is None:
        return Checks(signature_ok, "the sale before it has not reached the ledger yet", None)
    return Checks(signature_ok, "links to the device's previous sale", True)


def refunds_of(conn: Connection, sale_id: str) -> list[dict[str, Any]]:
    """Refunds of the sale, when this ledger's schema has a `refunds` table with a sale_id."""
    inspector = inspect(conn)
    if not inspector.has_table("refunds"):
        return []
    if "sale_id" not in {c["name"] for c in inspector.get_columns("refunds")}:
        return []
    rows = conn.execute(
        text("SELECT * FROM refunds WHERE sale_id = :sale_id"), {"sale_id": sale_id}
    )
    return [dict(r._mapping) for r in rows]


def receipt_view(conn: Connection, sale_id: str) -> dict[str, Any] | None:
    """Everything the page shows, or None if no such sale has reached the ledger."""
    row = conn.execute(select(sales).where(sales.c.sale_id == sale_id)).one_or_none()
    if row is None:
        return None
    device = conn.execute(select(devices).where(devices.c.device_id == row.device_id)).one()
    record = json.loads(row.record_json)
    return {
        "sale": row,
        "record": record,
        "device": device,
        "checks": check_sale(conn, row, device.public_key),
        "refunds": refunds_of(conn, sale_id),
    }


# --- HTML -----------------------------------------------------------------------------------

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:1.5rem auto;padding:0 1rem}"
    "table{width:100%;border-collapse:collapse}td{padding:.25rem 0}td.n{text-align:right}"
    ".ok{color:#0a7d32}.bad{color:#b00020;font-weight:600}.muted{color:#666}"
)


def page(title: str, body: str, status: int) -> HTMLResponse:
    """A complete, self-contained page (no scripts, nothing fetched from elsewhere)."""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(document, status_code=status, headers=headers)


def not_synced_page(sale_id: str) -> HTMLResponse:
    """The sale is not at the ledger (yet): kiosks send sales when they are online."""
    body = (
        "<h1>Receipt not available yet</h1>"
        f"<p>Sale <code>{html.escape(sale_id)}</code> has not reached the ledger yet. Kiosks "
        "send their sales whenever they are online, usually within minutes; a kiosk that is "
        "off line sends them when its connection comes back. Your paper receipt is valid "
        "meanwhile. Please try this link again later.</p>"
    )
    return page("Receipt not available yet", body, 404)


def bad_id_page() -> HTMLResponse:
    """The link was damaged: not a sale id at all."""
    body = "<h1>Not a receipt link</h1><p>This link does not contain a valid sale id.</p>"
    return page("Not a receipt link", body, 400)


def receipt_page(view: dict[str, Any], now_s: float) -> HTMLResponse:
    """The booked sale's page."""
    sale, record, device, checks = view["sale"], view["record"], view["device"], view["checks"]
    currency = sale.currency
    lines = "".join(
        f"<tr><td>{int(item['quantity'])} × {html.escape(str(item['name']))}</td>"
        f'<td class="n">{money(int(item["amount_minor"]), currency)}</td></tr>'
        for item in record.get("items", [])
    )
    body = (
        f"<h1>{html.escape(device.name)}</h1>"
        f'<p class="muted">Merchant {html.escape(sale.merchant_id)}, store '
        f"{html.escape(device.store_id)}</p>"
        f"<p>Sale <code>{html.escape(sale.sale_id)}</code><br>"
        f"Time: {html.escape(str(record.get('wall_time', '')))} (kiosk clock); reached the "
        f"ledger {_utc(sale.received_ms / 1000)} UTC</p>"
        f"<table>{lines}<tr><th>Total</th>"
        f'<th class="n">{money(int(sale.amount_minor), currency)}</th></tr></table>'
        f"<p>Status: <b>{html.escape(_status_text(sale))}</b></p>"
        f"{_refunds_html(view['refunds'], currency)}{_checks_html(checks)}"
    )
    return page(f"Receipt {sale.sale_id}", body, 200)


def _status_text(sale: Any) -> str:
    if sale.status == "accepted":
        return "paid"
    return f"declined ({sale.reason})" if sale.reason else "declined"


def _refunds_html(refunds: list[dict[str, Any]], currency: str) -> str:
    if not refunds:
        return ""
    items = "".join(
        f"<li>{money(int(r['amount_minor']), currency) if 'amount_minor' in r else 'refund'}"
        f"{' — ' + html.escape(str(r['reason'])) if r.get('reason') else ''}</li>"
        for r in refunds
    )
    return f"<h2>Refunds</h2><ul>{items}</ul>"


def _checks_html(checks: Checks) -> str:
    signature = (
        '<span class="ok">valid: signed by the kiosk\'s registered key</span>'
        if checks.signature_ok
        else '<span class="bad">INVALID: not signed by the kiosk\'s registered key</span>'
    )
    chain_class = {True: "ok", False: "bad", None: "muted"}[checks.chain_ok]
    return (
        f"<h2>Checks</h2><p>Device signature: {signature}<br>"
        f'Hash chain: <span class="{chain_class}">{html.escape(checks.chain)}</span></p>'
    )


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
