"""Double-entry bookkeeping: accounts with TigerBeetle's four counters and immutable transfers.

Every transfer moves one amount from one debit account to one credit account in one currency,
so debits equal credits by construction; corrections are new transfers, never updates. Online
payments are two-phase: a *pending* transfer holds the amount, then a *post* or *void*
transfer resolves it (at most one, enforced by the unique `pending_id`).

Account ids: wallet:<customer>, settle_later:<customer> (what the customer owes for offline
sales the wallet could not cover), merchant:<merchant>:<currency>, settlement:<currency>
(money entering from outside: top-ups), suspense:<currency> (offline sales declined after sync).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError

from sync.ledger.storage import bulk_insert
from sync.ledger.tables import accounts, transfers

Phase = Literal["posted", "pending", "post", "void"]
COUNTERS = ("debits_pending", "credits_pending", "debits_posted", "credits_posted")


def wallet(customer_id: str) -> str:
    """The customer's wallet account id."""
    return f"wallet:{customer_id}"


def settle_later(customer_id: str) -> str:
    """The account holding what the customer owes for uncovered offline sales."""
    return f"settle_later:{customer_id}"


def merchant(merchant_id: str, currency: str) -> str:
    """The merchant's account id in one currency."""
    return f"merchant:{merchant_id}:{currency}"


def settlement(currency: str) -> str:
    """Where top-up money enters the ledger."""
    return f"settlement:{currency}"


def suspense(currency: str) -> str:
    """Where offline sales declined after sync are booked, for the retailer to resolve."""
    return f"suspense:{currency}"


@dataclass(frozen=True)
class Transfer:
    """One immutable money movement. For post/void, `pending_id` names the held transfer."""

    kind: str
    debit: str
    credit: str
    amount_minor: int
    currency: str
    phase: Phase = "posted"
    sale_id: str | None = None
    reference: str | None = None
    pending_id: str | None = None
    transfer_id: str = ""

    def with_id(self) -> Transfer:
        """This transfer with a fresh id if it has none."""
        if self.transfer_id:
            return self
        return Transfer(**{**self.__dict__, "transfer_id": uuid.uuid4().hex})


@dataclass
class Balance:
    """An account's counters, as read (and locked) inside the current transaction."""

    account_id: str
    debits_pending: int = 0
    credits_pending: int = 0
    debits_posted: int = 0
    credits_posted: int = 0

    @property
    def available(self) -> int:
        """What a liability account (a wallet) can still spend: credits minus debits and holds."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def owed(self) -> int:
        """What a debit-normal account (settle_later) is owed: debits minus credits."""
        return self.debits_posted - self.credits_posted


def ensure_accounts(conn: Connection, specs: dict[str, tuple[str, str, str]]) -> None:
    """Create the accounts in `specs` {account_id: (kind, owner, currency)} that do not exist.

    A concurrent creator may win the insert; the savepoint lets us carry on in that case."""
    if not specs:
        return
    existing = set(
        conn.scalars(select(accounts.c.account_id).where(accounts.c.account_id.in_(list(specs))))
    )
    for account_id in sorted(set(specs) - existing):
        kind, owner, currency = specs[account_id]
        row = {"account_id": account_id, "kind": kind, "owner_id": owner, "currency": currency}
        try:
            with conn.begin_nested():
                conn.execute(accounts.insert().values(**row, **dict.fromkeys(COUNTERS, 0)))
        except IntegrityError:
            pass  # created by a concurrent transaction: exactly what we wanted


def lock_balances(conn: Connection, account_ids: set[str]) -> dict[str, Balance]:
    """Read the counters of these accounts, locking their rows (in id order, against deadlocks)."""
    query = (
        select(accounts.c.account_id, *[accounts.c[name] for name in COUNTERS])
        .where(accounts.c.account_id.in_(sorted(account_ids)))
        .order_by(accounts.c.account_id)
        .with_for_update()
    )
    return {row.account_id: Balance(**row._mapping) for row in conn.execute(query)}


def apply_transfers(conn: Connection, batch: list[Transfer], now_ms: int) -> list[Transfer]:
    """Insert the transfers and add their effect to the account counters; returns them with ids."""
    if not batch:
        return []
    with_ids = [transfer.with_id() for transfer in batch]
    bulk_insert(conn, transfers, [_transfer_row(t, now_ms) for t in with_ids])
    rows = [
        {"target": account_id, **{f"d_{name}": delta[name] for name in COUNTERS}}
        for account_id, delta in sorted(counter_deltas(with_ids).items())
    ]
    update = (
        accounts.update()
        .where(accounts.c.account_id == bindparam("target"))
        .values({name: accounts.c[name] + bindparam(f"d_{name}") for name in COUNTERS})
    )
    conn.execute(update, rows)
    return with_ids


def counter_deltas(batch: list[Transfer]) -> dict[str, dict[str, int]]:
    """How much each account's four counters change when these transfers are applied."""
    deltas: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for t in batch:
        debit, credit, amount = deltas[t.debit], deltas[t.credit], t.amount_minor
        if t.phase in ("pending", "void", "post"):
            sign = 1 if t.phase == "pending" else -1
            debit["debits_pending"] += sign * amount
            credit["credits_pending"] += sign * amount
        if t.phase in ("posted", "post"):
            debit["debits_posted"] += amount
            credit["credits_posted"] += amount
    return deltas


def _transfer_row(t: Transfer, now_ms: int) -> dict[str, object]:
    return {
        "transfer_id": t.transfer_id,
        "kind": t.kind,
        "phase": t.phase,
        "debit_account_id": t.debit,
        "credit_account_id": t.credit,
        "amount_minor": t.amount_minor,
        "currency": t.currency,
        "pending_id": t.pending_id,
        "sale_id": t.sale_id,
        "reference": t.reference,
        "created_ms": now_ms,
    }
