"""The step-up check at checkout, asked of the ledger: the kiosk never holds a customer's
step-up secret (issue 13, item 5).

Offline there is no step-up at all, by choice: any form of a 4-8 digit secret a kiosk can check
by itself (even a keyed, slow hash with an attempt counter) falls to whoever takes the kiosk's
disk and key file, in minutes for 4 digits. So a sale that needs a step-up is declined while the
ledger cannot be reached, and the customer pays by code instead. A hash that a kiosk outside any
fleet stored locally (`enroll --step-up` without a ledger) is still honoured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sync.agent.client import LedgerClient, LedgerError

log = logging.getLogger("smilepay.sync")


class LedgerStepUp:
    """Wraps the kiosk's gallery: `check_step_up` asks the ledger; everything else is the
    gallery's."""

    def __init__(self, gallery: Any, new_client: Callable[[], LedgerClient]) -> None:
        self._gallery = gallery
        self._new_client = new_client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gallery, name)

    def check_step_up(self, customer_id: str, digits: str) -> bool:
        """True only if the ledger (or a local hash, outside a fleet) accepts the digits."""
        if self._gallery.check_step_up(customer_id, digits):
            return True
        try:
            with self._new_client() as client:
                answer = client.check_step_up(customer_id, digits)
        except LedgerError as exc:
            log.warning("step-up needs the ledger; declined", extra={"error": str(exc)})
            return False
        if answer.get("reason") == "locked":
            log.warning(
                "step-up locked after too many wrong tries", extra={"customer": customer_id}
            )
        return answer.get("ok") is True
