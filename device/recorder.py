"""Carries out `AuthorizeSale`: online authorisation with a bounded wait, else the offline path
within limits; the sale is durably queued before "approved" is posted back to the checkout."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from base.errors import SmilepayError
from device.checkout import (
    AuthorizeSale,
    Event,
    Fault,
    OfflineLimitReached,
    SaleApproved,
    SaleDeclined,
    decline_code,
)

log = logging.getLogger("smilepay.kiosk.sales")
ClientFactory = Callable[[], Any]  # -> sync.agent.client.LedgerClient
Clock = Callable[[], float]


class SaleRecorder:
    """Records sales one at a time on its own thread, so the screen never waits on the network."""

    def __init__(
        self,
        queue: Any,
        new_client: ClientFactory,
        currency: str,
        post: Callable[[Event], None],
        clock: Clock,
        auth_timeout_s: float,
    ) -> None:
        self.queue = queue
        self.new_client = new_client
        self.currency = currency
        self.post = post
        self.clock = clock
        self.auth_timeout_s = auth_timeout_s
        self.last_online: bool | None = None
        self.last_online_at: float | None = None  # when last_online was learned (clock)
        self._client: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sales")

    def submit(self, command: AuthorizeSale) -> None:
        """Record the sale in the background; the outcome comes back as a checkout event."""
        self._worker.submit(self._record, command)

    def close(self) -> None:
        """Finish the sale in progress, then release the ledger client."""
        self._worker.shutdown(wait=True)
        if self._client is not None:
            self._client.close()

    def _record(self, command: AuthorizeSale) -> None:
        try:
            self.post(self._authorize(command))
        except Exception as exc:  # the checkout must always hear back, even on a bug
            log.exception("sale recording failed", extra={"sale_id": command.sale_id})
            self.post(Fault(self.clock(), f"the sale was not recorded: {exc}"))

    def _authorize(self, command: AuthorizeSale) -> Event:
        from sync.agent.authorization import SaleDeclined as LedgerDeclined
        from sync.agent.authorization import authorize_or_fallback
        from sync.queue.errors import LimitExceeded

        draft = self._draft(command)
        try:
            record, online = authorize_or_fallback(
                self._ledger(), self.queue, draft, self.auth_timeout_s
            )
        except LedgerDeclined as exc:
            self.last_online, self.last_online_at = True, self.clock()
            reason = exc.reason or "declined by the ledger"
            return SaleDeclined(self.clock(), reason, decline_code(exc.reason))
        except LimitExceeded as exc:
            return OfflineLimitReached(self.clock(), str(exc))
        except SmilepayError as exc:
            return Fault(self.clock(), str(exc))
        self.last_online, self.last_online_at = online, self.clock()
        log.info("sale recorded", extra=_summary(record, online))
        return SaleApproved(self.clock(), record["sale_id"], offline=not online)

    def _ledger(self) -> Any:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def _draft(self, command: AuthorizeSale) -> Any:
        from sync.queue import SaleDraft

        return SaleDraft(
            sale_id=command.sale_id,
            amount_minor=command.amount_minor,
            currency=self.currency,
            method=command.method.value,
            customer_id=command.customer_id,
            evidence=dict(command.evidence),
            items=[
                {"name": i.name, "quantity": i.quantity, "amount_minor": i.amount_minor}
                for i in command.items
            ],
            # Until the ledger answers, a sale is an offline one; authorize_or_fallback sets
            # offline=False and the auth_id when the ledger approves it online.
            offline=True,
            auth_id=None,
        )


def _summary(record: dict[str, Any], online: bool) -> dict[str, Any]:
    return {
        "sale_id": record["sale_id"],
        "seq": record["seq"],
        "amount_minor": record["amount_minor"],
        "method": record["method"],
        "online": online,
    }
