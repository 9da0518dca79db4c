"""What the ledger enforces beyond the protocol: body size, and the money rules that bound what
a kiosk's offline word can cost (see limits_check)."""

from __future__ import annotations

from dataclasses import dataclass

from sync.ledger.body_limit import DEFAULT_MAX_BODY_BYTES

DEFAULT_SETTLE_LATER_MAX_MINOR = 10_000  # a customer's settle-later debt, across all kiosks


@dataclass(frozen=True)
class LedgerPolicy:
    """Limits of one ledger: request body bytes, and the settle-later debt cap per customer."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    settle_later_max_minor: int = DEFAULT_SETTLE_LATER_MAX_MINOR
