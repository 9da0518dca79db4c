"""The project's own signed customer token, shown as a QR by the customer's phone and checked
offline by the kiosk: `SPT1.<base64url payload>.<base64url Ed25519 signature>`.

The payload is canonical JSON {customer_id, expires_at, nonce}; the signature covers the ASCII
bytes of "SPT1.<payload part>", so the kiosk verifies exactly what it received."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from base import wire
from base.errors import CodeRejected

PREFIX = "SPT1"
MAX_TOKEN_CHARS = 512
# A token is a payment code, refreshed by the customer's app like a wallet's: a screenshot of it
# is worth little for long, and it pays once (its nonce is spent; see nonce_hash).
DEFAULT_TTL_S = 60
MAX_TTL_S = 600
CLOCK_SKEW_S = 30  # how far the issuer's clock may run ahead of the verifier's
_PART = re.compile(r"[A-Za-z0-9_-]+")
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class TokenRejected(CodeRejected):
    """A customer token is malformed, expired or carries a bad signature."""


@dataclass(frozen=True)
class CustomerToken:
    """The claims of a token whose structure was checked (and signature, if from verify_token)."""

    customer_id: str
    expires_at: int
    nonce: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str, what: str) -> bytes:
    if not _PART.fullmatch(part) or len(part) % 4 == 1:
        raise TokenRejected(f"malformed token: {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenRejected(f"malformed token: {what} is not base64url") from exc


def canonical_json(claims: CustomerToken) -> bytes:
    """Sorted keys, no spaces, ASCII only: one byte string per set of claims."""
    body = {
        "customer_id": claims.customer_id,
        "expires_at": claims.expires_at,
        "nonce": claims.nonce,
    }
    return wire.canonical_bytes(body)  # claims are checked to be ASCII, so this is ASCII too


def issue_token(customer_id: str, issuer_key: Ed25519PrivateKey, ttl_s: int, now: float) -> str:
    """A token for `customer_id` valid for `ttl_s` seconds from `now` (unix seconds)."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise TokenRejected(f"ttl_s must be from 1 to {MAX_TTL_S} seconds, got {ttl_s}")
    claims = CustomerToken(customer_id, int(now) + int(ttl_s), secrets.token_urlsafe(16))
    _check_claims(claims)
    signed = f"{PREFIX}.{_b64encode(canonical_json(claims))}"
    return f"{signed}.{_b64encode(issuer_key.sign(signed.encode('ascii')))}"


def parse_token(text: str) -> tuple[CustomerToken, bytes, bytes]:
    """Check the token's shape; returns (claims, signed bytes, signature). No signature check."""
    if len(text) > MAX_TOKEN_CHARS:
        raise TokenRejected(f"malformed token: longer than {MAX_TOKEN_CHARS} characters")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenRejected(f"malformed token: expected {PREFIX}.<payload>.<signature>")
    payload = _b64decode(parts[1], "payload")
    signature = _b64decode(parts[2], "signature")
    claims = _claims_from_json(payload)
    if canonical_json(claims) != payload:
        raise TokenRejected("malformed token: payload is not canonical JSON")
    return claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _claims_from_json(payload: bytes) -> CustomerToken:
    try:
        body = json.loads(payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TokenRejected("malformed token: payload is not ASCII JSON") from exc
    if not isinstance(body, dict) or set(body) != {"customer_id", "expires_at", "nonce"}:
        raise TokenRejected("malformed token: payload needs exactly customer_id, expires_at, nonce")
    claims = CustomerToken(body["customer_id"], body["expires_at"], body["nonce"])
    _check_claims(claims)
    return claims


def _check_claims(claims: CustomerToken) -> None:
    if not isinstance(claims.customer_id, str) or not _CUSTOMER_ID.fullmatch(claims.customer_id):
        raise TokenRejected("malformed token: customer_id must be 1-64 of [A-Za-z0-9_.:-]")
    if isinstance(claims.expires_at, bool) or not isinstance(claims.expires_at, int):
        raise TokenRejected("malformed token: expires_at must be an integer")
    if not 0 < claims.expires_at < 2**53:
        raise TokenRejected("malformed token: expires_at out of range")
    if not isinstance(claims.nonce, str) or not _NONCE.fullmatch(claims.nonce):
        raise TokenRejected("malformed token: nonce must be 16-64 base64url characters")


def verify_token(text: str, issuer_public_key: Ed25519PublicKey, now: float) -> CustomerToken:
    """Check shape, signature and expiry offline; raises TokenRejected with the reason."""
    claims, signed, signature = parse_token(text)
    try:
        issuer_public_key.verify(signature, signed)
    except InvalidSignature as exc:
        raise TokenRejected("bad signature: not issued by this ledger's token key") from exc
    if now >= claims.expires_at:
        raise TokenRejected(f"expired at {claims.expires_at} (now {int(now)})")
    if claims.expires_at - now > MAX_TTL_S + CLOCK_SKEW_S:
        raise TokenRejected(f"lifetime over {MAX_TTL_S} s: not a payment code this ledger issues")
    return claims


def nonce_hash(nonce: str) -> str:
    """sha256 of a token's nonce, hex: what sale evidence, the kiosk's used-nonce store and the
    ledger keep (never the token, which is worth money until it expires)."""
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()
