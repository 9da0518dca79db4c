"""Customer tokens at the ledger: issued ones are recorded by the sha256 of their nonce (never
the token), and each is spent once: by the online authorisation that presents it, or by the
offline sale that arrives first with it. A second use is refused online and sent to review
offline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select, update

from base.token import TokenRejected, issue_token, nonce_hash, parse_token, verify_token
from sync.ledger.tables_security import customer_tokens

TOKEN_ALREADY_USED = "token_already_used"


@dataclass(frozen=True)
class TokenUse:
    """One use of a token: which sale, on which device, for which customer."""

    nonce_sha256: str
    customer_id: str
    sale_id: str
    device_id: str


def issue(
    conn: Connection, customer_id: str, key: Ed25519PrivateKey, ttl_s: int, now: float
) -> dict[str, Any]:
    """Issue a token and record its nonce hash, customer and expiry."""
    token = issue_token(customer_id, key, ttl_s, now)
    claims, _, _ = parse_token(token)
    conn.execute(
        customer_tokens.insert().values(
            nonce_sha256=nonce_hash(claims.nonce),
            customer_id=customer_id,
            issued_ms=int(now * 1000),
            expires_ms=claims.expires_at * 1000,
        )
    )
    return {"customer_id": customer_id, "token": token, "expires_at": claims.expires_at}


def check_online(
    conn: Connection, token: str, key: Ed25519PrivateKey | None, use: TokenUse, now: float
) -> str | None:
    """Why an online authorisation may not use this token (None: spent for it now)."""
    try:
        claims = verify_token(token, key.public_key(), now) if key else parse_token(token)[0]
    except TokenRejected as exc:
        return f"token_invalid: {exc}"
    if claims.customer_id != use.customer_id:
        return "token_invalid: the token is for another customer"
    if not key and now >= claims.expires_at:
        return "token_invalid: expired"
    used = TokenUse(nonce_hash(claims.nonce), use.customer_id, use.sale_id, use.device_id)
    return spend(conn, used, int(now * 1000), sale_ms=int(now * 1000))


def spend(conn: Connection, use: TokenUse, now_ms: int, sale_ms: int | None) -> str | None:
    """Spend the token for `use.sale_id`; the reason it cannot be, or None. The same sale
    spending it again is fine (a resent sale, or the sale of an online authorisation)."""
    row = conn.execute(
        select(customer_tokens)
        .where(customer_tokens.c.nonce_sha256 == use.nonce_sha256)
        .with_for_update()
    ).first()
    if row is None:
        return "token_unknown: this ledger never issued that token"
    if row.customer_id != use.customer_id:
        return "token_invalid: the token is for another customer"
    if row.spent_sale_id is not None:
        if row.spent_sale_id == use.sale_id:
            return None
        return f"{TOKEN_ALREADY_USED}: spent by sale {row.spent_sale_id} on {row.spent_device_id}"
    if sale_ms is None or sale_ms > row.expires_ms + 30_000:
        return "token_expired: the sale is not within the token's lifetime"
    conn.execute(
        update(customer_tokens)
        .where(customer_tokens.c.nonce_sha256 == use.nonce_sha256)
        .values(spent_ms=now_ms, spent_sale_id=use.sale_id, spent_device_id=use.device_id)
    )
    return None
