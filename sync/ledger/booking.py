"""Booking arrived sales as transfers.

- A sale whose sale id has a still-pending authorisation (same customer, amount, currency)
  posts the hold, also when the kiosk never got the approval and sold offline.
- Otherwise the sale was approved on the kiosk (offline, or its hold was voided or expired):
  the wallet pays if it can; if it cannot, the customer's settle_later account is debited
  instead (a visible debt, settle_later=true); the merchant is paid either way.
- No usable customer (none, unknown, deleted, other currency): declined, booked to suspense.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from base import wire
from sync.ledger import bookkeeping as bk
from sync.ledger.review import ReviewRules, review_account
from sync.ledger.tables import authorizations, customers, transfers


@dataclass(frozen=True)
class Booked:
    """How one sale was booked."""

    status: wire.SaleStatus
    reason: str | None
    settle_later: bool
    transfer_id: str


@dataclass(frozen=True)
class Hold:
    """A pending authorisation transfer that a sale may post."""

    transfer_id: str
    sale_id: str
    customer_id: str | None
    amount_minor: int
    currency: str


def book_sales(
    conn: Connection,
    merchant_id: str,
    records: list[dict[str, Any]],
    now_ms: int,
    rules: ReviewRules | None = None,
) -> dict[int, Booked]:
    """Book each record (already checked) as one transfer; answers keyed by seq. With `rules`,
    sales they name, and settle-later debt over their cap, go to the review account."""
    if not records:
        return {}
    rules = rules or ReviewRules()
    owners = _customers(conn, {r["customer_id"] for r in records if r["customer_id"]})
    holds = open_holds_for_sales(conn, [r["sale_id"] for r in records])
    currencies = {r["currency"] for r in records}
    bk.ensure_accounts(conn, _house_accounts(merchant_id, currencies))
    wallets = bk.lock_balances(
        conn, {bk.wallet(c) for c in owners} | {bk.settle_later(c) for c in owners}
    )
    planned: list[tuple[int, bk.Transfer, str | None, bool]] = []
    for record in records:
        transfer, reason, later = _transfer_for(record, merchant_id, owners, holds, wallets)
        transfer, reason, later = rules.apply(record, transfer, reason, later, wallets)
        planned.append((record["seq"], transfer, reason, later))
    applied = bk.apply_transfers(conn, [p[1] for p in planned], now_ms)
    answers = {}
    for (seq, _, reason, later), transfer in zip(planned, applied, strict=True):
        declined = transfer.kind in ("declined", "review")
        status: wire.SaleStatus = "declined" if declined else "accepted"
        answers[seq] = Booked(status, reason, later, transfer.transfer_id)
    return answers


def _house_accounts(merchant_id: str, currencies: set[str]) -> dict[str, tuple[str, str, str]]:
    specs = {}
    for currency in currencies:
        specs[bk.merchant(merchant_id, currency)] = ("merchant", merchant_id, currency)
        specs[bk.suspense(currency)] = ("suspense", "house", currency)
        specs[review_account(currency)] = ("review", "house", currency)
    return specs


def _customers(conn: Connection, ids: set[str]) -> dict[str, str]:
    """Live customers among `ids`, with their currency."""
    query = select(customers.c.customer_id, customers.c.currency).where(
        customers.c.customer_id.in_(sorted(ids)), customers.c.deleted_ms.is_(None)
    )
    return {row.customer_id: row.currency for row in conn.execute(query)}


def open_holds(conn: Connection, auth_ids: list[str]) -> dict[str, Hold]:
    """Approved authorisations among `auth_ids` whose hold is neither posted nor voided."""
    if not auth_ids:
        return {}
    resolved = select(transfers.c.pending_id).where(transfers.c.pending_id.is_not(None))
    query = select(authorizations).where(
        authorizations.c.auth_id.in_(auth_ids),
        authorizations.c.status == "approved",
        authorizations.c.pending_transfer_id.not_in(resolved),
    )
    return {
        row.auth_id: Hold(
            row.pending_transfer_id, row.sale_id, row.customer_id, row.amount_minor, row.currency
        )
        for row in conn.execute(query)
    }


def open_holds_for_sales(conn: Connection, sale_ids: list[str]) -> dict[str, Hold]:
    """Open holds placed for these sale ids, keyed by sale id. By sale id, not auth id: a kiosk
    whose approval was lost in transit sells offline under the same sale id, and its sale must
    still post the hold the ledger placed."""
    resolved = select(transfers.c.pending_id).where(transfers.c.pending_id.is_not(None))
    query = select(authorizations).where(
        authorizations.c.sale_id.in_(sale_ids),
        authorizations.c.status == "approved",
        authorizations.c.pending_transfer_id.not_in(resolved),
    )
    return {
        row.sale_id: Hold(
            row.pending_transfer_id, row.sale_id, row.customer_id, row.amount_minor, row.currency
        )
        for row in conn.execute(query)
    }


def _transfer_for(
    record: dict[str, Any],
    merchant_id: str,
    owners: dict[str, str],
    holds: dict[str, Hold],
    wallets: dict[str, bk.Balance],
) -> tuple[bk.Transfer, str | None, bool]:
    """The transfer for one sale, its decline reason, and whether it is settle-later."""
    amount, currency, customer = record["amount_minor"], record["currency"], record["customer_id"]
    to_merchant = bk.merchant(merchant_id, currency)
    hold = holds.pop(record["sale_id"], None)
    if hold and customer in owners and _hold_matches(hold, record):
        post = bk.Transfer(
            "post",
            bk.wallet(customer),
            to_merchant,
            amount,
            currency,
            "post",
            sale_id=record["sale_id"],
            pending_id=hold.transfer_id,
        )
        wallets[bk.wallet(customer)].debits_pending -= amount
        wallets[bk.wallet(customer)].debits_posted += amount
        return post, None, False
    reason = _decline_reason(customer, currency, owners)
    if reason:
        suspense = bk.Transfer(
            "declined",
            bk.suspense(currency),
            to_merchant,
            amount,
            currency,
            sale_id=record["sale_id"],
        )
        return suspense, reason, False
    balance = wallets[bk.wallet(customer)]
    if balance.available >= amount:
        balance.debits_posted += amount
        sale = bk.Transfer(
            "sale", balance.account_id, to_merchant, amount, currency, sale_id=record["sale_id"]
        )
        return sale, None, False
    debt = bk.Transfer(
        "settle_later",
        bk.settle_later(customer),
        to_merchant,
        amount,
        currency,
        sale_id=record["sale_id"],
    )
    return debt, None, True


def _hold_matches(hold: Hold, record: dict[str, Any]) -> bool:
    """A hold is posted only by its own sale, unchanged. One that does not match stays pending
    until the kiosk voids it or it expires; the sale is then booked on its own."""
    wanted = (record["sale_id"], record["customer_id"], record["amount_minor"], record["currency"])
    return (hold.sale_id, hold.customer_id, hold.amount_minor, hold.currency) == wanted


def _decline_reason(customer: str | None, currency: str, owners: dict[str, str]) -> str | None:
    if not customer:
        return "no customer on the sale"
    if customer not in owners:
        return "unknown or deleted customer"
    if owners[customer] != currency:
        return f"customer's wallet is in {owners[customer]}, sale is in {currency}"
    return None
