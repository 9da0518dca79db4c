"""Errors the queue raises; each is a SmilepayError, so the CLI prints one line and exits 2."""

from __future__ import annotations

from base.errors import SmilepayError


class QueueError(SmilepayError):
    """Base of every queue error."""


class InvalidSale(QueueError):
    """A sale draft that cannot be recorded; the message names the bad field."""


class LimitExceeded(QueueError):
    """An offline sale refused by a risk limit; the message is the reason for the screen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueueUnavailable(QueueError):
    """The queue cannot take new sales (disk full, read-only, tmpfs, bad pragmas, corrupt file).
    Everything already accepted is kept; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SaleConflict(QueueError):
    """A sale id that is already queued with different content."""


class IdentityMismatch(QueueError):
    """The database belongs to another device id or another device key."""


class InvalidResult(QueueError):
    """A ledger answer that does not match a queued sale; nothing of the batch was applied."""


class TokenAlreadyUsed(QueueError):
    """A customer token whose nonce already paid a sale on this kiosk (`code` for the screen)."""

    code = "token_already_used"

    def __init__(self, sale_id: str) -> None:
        super().__init__(f"{self.code}: this payment code already paid sale {sale_id}; refresh it")
        self.reason = str(self)
