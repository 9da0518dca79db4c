"""Errors the ledger answers with a 4xx status and `{"error": code, "reason": text}`."""

from __future__ import annotations


class LedgerError(Exception):
    """A request the ledger refuses; `status` is the HTTP status, `code` a stable short name."""

    status = 400

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class BadRequest(LedgerError):
    """The body or parameters are malformed."""

    status = 400


class Unauthorized(LedgerError):
    """Unknown device, bad or stale signature, missing or wrong token."""

    status = 401


class Forbidden(LedgerError):
    """A revoked device."""

    status = 403


class NotFound(LedgerError):
    """The named device, customer or authorisation does not exist."""

    status = 404


class Conflict(LedgerError):
    """A replayed nonce, or an id already used with other details."""

    status = 409
