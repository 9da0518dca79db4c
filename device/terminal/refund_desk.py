"""Refunds asked for by the POS or the operator: checked against what remains of the sale,
recorded durably (signed and chained, sync/queue/refunds.py), sent to the ledger at once when it
answers and by the background sender otherwise, and printed.

Order of work, so nothing is left half-done: the request is stored with its refund id first; the
refund record is then queued (or refused before anything is queued); a restart finds a stored
request whose refund is in the queue and answers from the queue.

What remains of a sale is the ledger's figure when it answers (it sees every kiosk's refunds),
less this kiosk's refunds it has not booked yet; offline, it is the kiosk's own record of the
sale less its own refunds, and offline refunds must fit the offline limits.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from base.threads import LoopThread
from device.ports import TerminalPort
from device.terminal.messages import ApiError, RefundRequest
from device.terminal.store import StoredRequest, TerminalStore

log = logging.getLogger("smilepay.terminal.refunds")
FINAL = ("refunded", "refused")


class RefundDesk:
    """Refunds on this kiosk; thread-safe (one refund at a time)."""

    def __init__(
        self,
        kiosk: TerminalPort,
        queue: Any,  # sync.queue.refunds.RefundQueue
        new_client: Callable[[], Any],  # -> sync.agent.client.LedgerClient
        store: TerminalStore,
        currency: str,
        ledger_timeout_s: float,
        resend_every_s: float = 5.0,
    ) -> None:
        self.kiosk, self.queue, self.store = kiosk, queue, store
        self.new_client, self.currency = new_client, currency
        self.ledger_timeout_s = ledger_timeout_s
        self.resend_every_s = resend_every_s
        self._client: Any = None
        self._lock = threading.RLock()
        self._sender = LoopThread("refund-sync", self._send_loop)

    def start(self) -> None:
        """Settle requests a previous run left open, then start the background sender."""
        self.recover()
        self._sender.start()

    def close(self) -> None:
        """Stop the sender and release the ledger client."""
        self._sender.stop()
        with self._lock:
            if self._client is not None:
                self._client.close()

    # --- a refund ------------------------------------------------------------------------------

    def refund(self, pos_id: str, request: RefundRequest) -> dict[str, Any]:
        """Refund part or all of a sale, once per (POS, reference)."""
        with self._lock:
            stored = self.store.get(pos_id, "refund", request.reference)
            if stored is not None:
                return self._again(stored, request)
            remaining, currency, online = self._remaining(request.sale_id)
            self._check(request, remaining, currency)
            refund_id = str(uuid.uuid4())
            outcome = _outcome(request, refund_id, currency, "in_progress")
            self.store.begin(
                StoredRequest(
                    pos_id,
                    "refund",
                    request.reference,
                    request.fingerprint(),
                    refund_id,
                    "in_progress",
                    outcome,
                )
            )
            return self._record(pos_id, request, refund_id, currency, online, remaining)

    def outcome_of(self, stored: StoredRequest) -> dict[str, Any]:
        """A stored refund's answer brought up to date: a refund recorded before the ledger
        answered says `booked` once the ledger has booked it, or `refused` if it did not."""
        outcome = stored.outcome
        if outcome.get("status") != "refunded" or outcome.get("booked", True):
            return outcome
        queued = self.queue.get(stored.subject_id)
        if queued is None or queued.state == "pending":
            return outcome
        if queued.state == "refused":
            return {**outcome, "status": "refused", "reason": queued.reason, "booked": False}
        return {**outcome, "booked": True}

    def _again(self, stored: StoredRequest, request: RefundRequest) -> dict[str, Any]:
        if stored.request_hash != request.fingerprint():
            raise ApiError(
                409, "reference_reused", "this reference was used for another request", "reference"
            )
        return self.outcome_of(stored)

    def _check(self, request: RefundRequest, remaining: int, currency: str) -> None:
        if request.currency is not None and request.currency != currency:
            raise ApiError(422, "invalid_field", f"the sale is in {currency}", "currency")
        if request.amount_minor > remaining:
            raise ApiError(
                422,
                "exceeds_remaining",
                f"only {remaining} of sale {request.sale_id} remains to refund",
                "amount_minor",
            )

    def _record(
        self,
        pos_id: str,
        request: RefundRequest,
        refund_id: str,
        currency: str,
        online: bool,
        remaining: int,
    ) -> dict[str, Any]:
        from sync.queue.errors import LimitExceeded
        from sync.queue.refunds import RefundDraft

        draft = RefundDraft(
            request.sale_id,
            request.amount_minor,
            currency,
            request.reference,
            request.reason,
            refund_id,
        )
        try:
            stored = self.queue.enqueue(draft, offline=not online)
        except LimitExceeded as exc:
            return self._end(pos_id, request, refund_id, currency, "refused", exc.reason)
        answer = self._send_now() if online else None
        result = (answer or {}).get(refund_id, {})
        if result.get("status") == "refused":
            return self._end(pos_id, request, refund_id, currency, "refused", result.get("reason"))
        booked = result.get("status") == "refunded"
        left = result.get("remaining_minor")
        self.kiosk.print_record({**stored.record, "booked": booked})
        return self._end(
            pos_id,
            request,
            refund_id,
            currency,
            "refunded",
            None,
            booked=booked,
            remaining_minor=left if left is not None else remaining - request.amount_minor,
            receipt=self.kiosk.receipt_of({**stored.record, "booked": booked}),
        )

    def _end(
        self,
        pos_id: str,
        request: RefundRequest,
        refund_id: str,
        currency: str,
        status: str,
        reason: str | None,
        **extra: Any,
    ) -> dict[str, Any]:
        outcome = {**_outcome(request, refund_id, currency, status), "reason": reason, **extra}
        self.store.finish(pos_id, "refund", request.reference, outcome)
        log.info("refund", extra={k: v for k, v in outcome.items() if k != "receipt"})
        return outcome

    # --- what remains of a sale ----------------------------------------------------------------

    def _remaining(self, sale_id: str) -> tuple[int, str, bool]:
        """(what may still be refunded, the sale's currency, whether the ledger answered)."""
        from sync.agent.client import LedgerRefused, LedgerUnavailable

        local = self.kiosk.sale_record(sale_id)
        try:
            at_ledger = self._ledger().refundable(sale_id, timeout_s=self.ledger_timeout_s)
        except LedgerRefused as exc:
            if exc.status != 404:
                raise ApiError(502, "ledger_refused", exc.reason) from None
            at_ledger, online = None, True
        except LedgerUnavailable:
            at_ledger, online = None, False
        else:
            online = True
        if at_ledger is not None and at_ledger.get("status") != "accepted":
            raise ApiError(
                422,
                "sale_declined",
                "the ledger declined this sale: there is nothing to refund",
                "sale_id",
            )
        if at_ledger is not None:
            unbooked = sum(
                r.amount_minor for r in self.queue.for_sale(sale_id) if r.state == "pending"
            )
            return int(at_ledger["remaining_minor"]) - unbooked, at_ledger["currency"], True
        if local is not None:
            return (
                local["amount_minor"] - self.queue.refunded_minor(sale_id),
                local["currency"],
                online,
            )
        if online:
            raise ApiError(
                404, "unknown_sale", f"no sale {sale_id} at the ledger or on this kiosk", "sale_id"
            )
        raise ApiError(
            503,
            "ledger_unreachable",
            "the ledger does not answer, and offline only this kiosk's own sales can be refunded",
            "sale_id",
        )

    # --- sending ---------------------------------------------------------------------------------

    def _ledger(self) -> Any:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def _send_now(self) -> dict[str, dict[str, Any]] | None:
        """Send pending refunds; None when the ledger did not answer."""
        from sync.agent.client import LedgerError
        from sync.agent.refunds import push_refunds

        with self._lock:
            try:
                return push_refunds(self.queue, self._ledger(), timeout_s=self.ledger_timeout_s)
            except LedgerError as exc:
                log.warning("refunds not sent", extra={"error": str(exc)})
                return None

    def _send_loop(self) -> None:
        while not self._sender.stopping.wait(self.resend_every_s):
            if self.queue.pending(limit=1):
                self._send_now()

    def recover(self) -> None:
        """Answer requests a previous run left open from the refund queue."""
        for stored in self.store.unfinished():
            if stored.kind != "refund":
                continue
            queued = self.queue.get(stored.subject_id)
            if queued is None:
                outcome = {
                    **stored.outcome,
                    "status": "refused",
                    "reason": "the kiosk stopped before recording the refund; nothing was refunded",
                }
            else:
                status = "refused" if queued.state == "refused" else "refunded"
                outcome = {
                    **stored.outcome,
                    "status": status,
                    "reason": queued.reason,
                    "booked": queued.state == "refunded",
                }
            self.store.finish(stored.pos_id, "refund", stored.reference, outcome)


def _outcome(request: RefundRequest, refund_id: str, currency: str, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "reference": request.reference,
        "refund_id": refund_id,
        "sale_id": request.sale_id,
        "amount_minor": request.amount_minor,
        "currency": currency,
        "reason": None,
        "receipt": None,
    }
