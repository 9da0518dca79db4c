"""Turns raw code bytes (from the camera or a serial scanner) into checkout events."""

from __future__ import annotations

import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from base.errors import SmilepayError
from device.checkout import CodePresented, CodeRejected

# WeChat Pay / Alipay style codes are recognised, but paying with one needs an acquirer to
# charge it, and none is connected: accepting them would hand over goods that nobody pays for.
THIRD_PARTY_WALLETS = {"wechat": "WeChat Pay", "alipay": "Alipay"}


def load_issuer_key(path: Path) -> Ed25519PublicKey | None:
    """The customer-token issuer's public key from its file, or None if there is no file."""
    from base.keys import public_key_from_b64

    if not path.exists():
        return None
    try:
        return public_key_from_b64(path.read_text(encoding="ascii").strip())
    except ValueError as exc:
        raise SmilepayError(f"{path}: not a base64 Ed25519 public key: {exc}") from None


def code_event(
    raw: bytes, issuer_key: Ed25519PublicKey | None, at: float
) -> CodePresented | CodeRejected:
    """Classify a customer-presented code; tokens are verified offline with the issuer key."""
    from base.token import verify_token
    from device.codes.payment import classify_payload

    try:
        code = classify_payload(raw)
        if code.kind == "emv":
            return CodeRejected(
                at, "that is a merchant code: show your own payment code", "merchant_code"
            )
        if code.kind in THIRD_PARTY_WALLETS:
            wallet = THIRD_PARTY_WALLETS[code.kind]
            reason = f"{wallet} codes are not accepted here: show your smilepay code"
            return CodeRejected(at, reason, "wallet_not_accepted")
        if issuer_key is None:
            return CodeRejected(
                at, "this kiosk cannot check customer tokens (no issuer key)", "no_issuer_key"
            )
        claims = verify_token(code.text, issuer_key, time.time())
    except SmilepayError as exc:
        return CodeRejected(at, str(exc), "bad_code")
    return CodePresented(at, "token", code.text, customer_id=claims.customer_id)
