"""classify_payload: one entry for codes from the camera and from serial scanners."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base.token import issue_token
from device.codes.errors import CodeRejected, EmvRejected, TokenRejected
from device.codes.payment import classify_payload

PROMPTPAY = b"00020101021129370016A000000677010111011300668012345675802TH530376463046197"


def test_wallet_codes_are_classified_by_wallet() -> None:
    assert classify_payload(b"134567890123456789").kind == "wechat"
    assert classify_payload(b"2812345678901234\r\n").kind == "alipay"  # scanner terminator


def test_emv_payload_is_parsed() -> None:
    code = classify_payload(PROMPTPAY)
    assert code.kind == "emv" and code.emv is not None and code.emv.profile == "promptpay"


def test_token_is_recognised_with_its_claims_unverified() -> None:
    text = issue_token("cust-1", Ed25519PrivateKey.generate(), ttl_s=60, now=1_800_000_000)
    code = classify_payload(text.encode())
    assert code.kind == "token" and code.token is not None and code.token.customer_id == "cust-1"


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (b"1" * 513, CodeRejected, "over the 512-byte cap"),
        (b"1345678901234\x0056789", CodeRejected, "NUL byte at offset 13"),
        (b"\xff\xfe1234", CodeRejected, "invalid UTF-8 at offset 0"),
        (b"13456789\x1b[2J0123456789", CodeRejected, "control character U\\+001B"),
        (b"1345678901234567\x8589", CodeRejected, "invalid UTF-8"),
        (b"", CodeRejected, "empty"),
        (b"\r\n", CodeRejected, "empty"),
        (b"hello world", CodeRejected, "not a payment code"),
        (PROMPTPAY[:-4] + b"0000", EmvRejected, "bad CRC"),
        (b"SPT1.x.y", TokenRejected, "malformed token"),
    ],
)
def test_hostile_or_unknown_codes_are_rejected_with_a_reason(
    raw: bytes, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        classify_payload(raw)
