"""Online authorisation for the kiosk, with a bounded wait and a fallback to the offline path.

The sale id is made first and used for the ledger's hold and for the queued sale, so whichever
way the answer goes (approved, lost in transit, too late), the ledger books the sale once: the
queued record posts the hold keyed by that id, or is booked as an offline sale if no hold exists.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any, Protocol

from base.errors import SmilepayError
from sync.agent.client import LedgerClient, LedgerError, LedgerUnavailable
from sync.queue.errors import TokenAlreadyUsed
from sync.queue.used_nonces import NONCE_KEY, split_token

log = logging.getLogger("smilepay.sync.authorization")


class SaleDeclined(SmilepayError):
    """The ledger declined the sale online; nothing was recorded on the device."""

    def __init__(self, sale_id: str, reason: str | None) -> None:
        super().__init__(f"payment declined: {reason or 'no reason given'}")
        self.sale_id = sale_id
        self.reason = reason


class QueueForSales(Protocol):
    """The part of `sync.queue.SaleQueue` the helper uses."""

    def enqueue_sale(self, draft: Any) -> dict[str, Any]: ...
    def token_used_by(self, nonce_sha256: str) -> str | None: ...


def authorize_or_fallback(
    client: LedgerClient, queue: QueueForSales, draft: Any, timeout_s: float | None = None
) -> tuple[dict[str, Any], bool]:
    """Ask the ledger to authorise `draft`, then queue it; returns (signed record, online).

    - approved: queued with the ledger's auth_id, offline=False;
    - declined: raises SaleDeclined and queues nothing;
    - no answer within `timeout_s` (or the ledger unreachable): queued offline, which the queue
      accepts only within the offline limits (it raises its LimitExceeded otherwise).
    Other refusals (e.g. this device revoked) are raised as LedgerRefused. A draft without a
    customer is queued offline at once. If queueing an approved sale fails, the hold is voided
    (best effort; the ledger also expires holds) and the error raised.
    """
    draft = _with(draft, sale_id=getattr(draft, "sale_id", None) or str(uuid.uuid4()))
    draft, token = _take_token(queue, draft)
    if draft.customer_id is None:
        # No wallet to hold money on (e.g. a merchant-presented QR): only the offline path.
        return queue.enqueue_sale(_with(draft, offline=True, auth_id=None)), False
    try:
        answer = client.authorize(
            draft.sale_id,
            draft.customer_id,
            draft.amount_minor,
            draft.currency,
            draft.method,
            timeout_s=timeout_s,
            token=token,
        )
    except LedgerUnavailable as exc:
        log.warning(
            "online authorisation unavailable; selling offline",
            extra={"sale_id": draft.sale_id, "error": str(exc)},
        )
        return queue.enqueue_sale(_with(draft, offline=True, auth_id=None)), False
    if answer.status != "approved" or not answer.auth_id:
        raise SaleDeclined(draft.sale_id, answer.reason)
    try:
        return queue.enqueue_sale(_with(draft, offline=False, auth_id=answer.auth_id)), True
    except Exception:
        _void_quietly(client, answer.auth_id)
        raise


def _take_token(queue: QueueForSales, draft: Any) -> tuple[Any, str | None]:
    """The draft with its customer token replaced by the nonce hash (the token goes to the
    ledger online, never into the record); a token that already paid here is declined at once."""
    evidence, token = split_token(dict(draft.evidence))
    if token is None:
        return draft, None
    earlier = queue.token_used_by(evidence[NONCE_KEY])
    if earlier is not None:
        raise SaleDeclined(draft.sale_id, TokenAlreadyUsed(earlier).reason)
    return _with(draft, evidence=evidence), token


def _void_quietly(client: LedgerClient, auth_id: str) -> None:
    try:
        client.void_authorization(auth_id)
    except LedgerError as exc:
        log.warning(
            "could not void hold; the ledger will expire it",
            extra={"auth_id": auth_id, "error": str(exc)},
        )


def _with(draft: Any, **changes: Any) -> Any:
    """A copy of a draft (dataclass or pydantic model) with some fields changed."""
    if dataclasses.is_dataclass(draft) and not isinstance(draft, type):
        return dataclasses.replace(draft, **changes)
    return draft.model_copy(update=changes)
