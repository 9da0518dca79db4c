"""Sends the device's pending refund records to the ledger and applies its answers.

Exactly once: a refund stays pending until the ledger has answered it with a final status
(refunded or refused), and the ledger answers a record it already booked with the same answer,
so a lost answer only means sending it again.
"""

from __future__ import annotations

import logging
from typing import Any

from sync.queue.refunds import FINAL_STATES, RefundQueue

log = logging.getLogger("smilepay.sync.refunds")


def push_refunds(
    queue: RefundQueue, client: Any, timeout_s: float | None = None
) -> dict[str, dict[str, Any]]:
    """Send every pending refund (oldest first); returns the ledger's answer per refund id.
    Raises the client's LedgerUnavailable / LedgerRefused when there is no usable answer."""
    pending = queue.pending()
    if not pending:
        return {}
    answer = client.send_refunds([r.record for r in pending], timeout_s=timeout_s)
    results: dict[str, dict[str, Any]] = {}
    for result in answer.get("results", []):
        refund_id, status = str(result.get("refund_id")), result.get("status")
        results[refund_id] = result
        if status in FINAL_STATES:
            queue.apply_result(refund_id, status, result.get("reason"))
        elif status == "rejected":
            log.error("refund rejected by the ledger", extra={"result": result})
    return results
