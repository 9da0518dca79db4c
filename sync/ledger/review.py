"""The review account: sales the ledger will not book to a customer on the kiosk's word alone
(over the limits it handed out, a token spent twice or unknown, settle-later debt over its cap).
The merchant is credited from `review:<currency>` as from suspense; the operator resolves
each one (charge the customer, or the merchant) and sees them in `ledger reconcile` and at
`GET /v1/review`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from sync.ledger import bookkeeping as bk
from sync.ledger.tables import sales, transfers

REVIEW_KIND = "review"


def review_account(currency: str) -> str:
    """The house account holding sales under review, per currency."""
    return f"review:{currency}"


@dataclass
class ReviewRules:
    """Which sales of a batch go to review: those named in `reasons` (by seq), and settle-later
    sales that would take a customer's debt over `settle_later_max_minor` (None: no cap)."""

    reasons: dict[int, str] = field(default_factory=dict)
    settle_later_max_minor: int | None = None

    def apply(
        self,
        record: dict[str, Any],
        transfer: bk.Transfer,
        reason: str | None,
        later: bool,
        balances: dict[str, bk.Balance],
    ) -> tuple[bk.Transfer, str | None, bool]:
        """The transfer planned for `record`, or its review replacement (undoing what the plan
        counted against the customer's balances)."""
        if transfer.kind not in ("sale", "settle_later"):
            return transfer, reason, later  # online posts, suspense: not the kiosk's word
        why = self.reasons.get(record["seq"]) or self._debt_reason(transfer, balances)
        if why is None:
            return transfer, reason, later
        _undo(transfer, balances)
        return _to_review(transfer), why, False

    def _debt_reason(self, transfer: bk.Transfer, balances: dict[str, bk.Balance]) -> str | None:
        if transfer.kind != "settle_later" or self.settle_later_max_minor is None:
            return None
        debt = balances.setdefault(transfer.debit, bk.Balance(transfer.debit))
        owed = debt.owed + transfer.amount_minor
        if owed <= self.settle_later_max_minor:
            debt.debits_posted += transfer.amount_minor  # the next sale of the batch sees it
            return None
        cap = self.settle_later_max_minor
        return f"review: settle-later debt would reach {owed}, over the cap of {cap}"


def _undo(transfer: bk.Transfer, balances: dict[str, bk.Balance]) -> None:
    if transfer.kind == "sale":
        balances[transfer.debit].debits_posted -= transfer.amount_minor


def _to_review(transfer: bk.Transfer) -> bk.Transfer:
    return bk.Transfer(
        REVIEW_KIND,
        review_account(transfer.currency),
        transfer.credit,
        transfer.amount_minor,
        transfer.currency,
        sale_id=transfer.sale_id,
    )


def review_items(
    conn: Connection, limit: int = 100, device_id: str | None = None
) -> list[dict[str, Any]]:
    """Sales booked to review, newest first: who, how much, and why."""
    query = (
        select(
            sales.c.device_id,
            sales.c.seq,
            sales.c.sale_id,
            sales.c.customer_id,
            sales.c.amount_minor,
            sales.c.currency,
            sales.c.reason,
            sales.c.received_ms,
        )
        .join(transfers, transfers.c.transfer_id == sales.c.transfer_id)
        .where(transfers.c.kind == REVIEW_KIND)
        .order_by(sales.c.received_ms.desc(), sales.c.seq.desc())
        .limit(limit)
    )
    if device_id is not None:
        query = query.where(sales.c.device_id == device_id)
    return [dict(row._mapping) for row in conn.execute(query)]
