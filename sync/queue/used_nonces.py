"""Customer tokens on the kiosk: a sale keeps the sha256 of its token's nonce and its expiry as
evidence, never the token (worth money until it expires), and the queue's durable used-nonce
store declines a token that already paid."""

from __future__ import annotations

from typing import Any

from base.token import TokenRejected, nonce_hash, parse_token
from sync.queue.errors import InvalidSale

NONCE_KEY = "token_nonce_sha256"
EXPIRES_KEY = "token_expires_at"


def split_token(evidence: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(evidence without the token, the token) for a sale paid with a customer token: the
    token's `code` is replaced by its nonce hash and expiry. Other evidence is returned as is."""
    code = evidence.get("code")
    if evidence.get("kind") != "token" or not isinstance(code, str):
        return evidence, None
    try:
        claims, _, _ = parse_token(code)
    except TokenRejected as exc:
        raise InvalidSale(f"sale draft: evidence code is not a customer token: {exc}") from None
    kept = {key: value for key, value in evidence.items() if key != "code"}
    kept[NONCE_KEY] = nonce_hash(claims.nonce)
    kept[EXPIRES_KEY] = claims.expires_at
    return kept, code


def nonce_of(evidence: dict[str, Any]) -> tuple[str, int] | None:
    """(nonce hash, expiry) of a token-paid sale's evidence, or None."""
    nonce, expires = evidence.get(NONCE_KEY), evidence.get(EXPIRES_KEY, 0)
    if isinstance(nonce, str) and isinstance(expires, int):
        return nonce, expires
    return None
