"""Customer-presented codes: wallet number styles and the signed customer token."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base.token import issue_token, parse_token, verify_token
from device.codes.errors import TokenRejected
from device.codes.wallet import WalletCode, recognise_wallet_code

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("134567890123456789", WalletCode("wechat", "134567890123456789")),
        ("101234567890123456", WalletCode("wechat", "101234567890123456")),
        ("2812345678901234", WalletCode("alipay", "2812345678901234")),
        ("301234567890123456789012", WalletCode("alipay", "301234567890123456789012")),
        ("251234567890123456", WalletCode("alipay", "251234567890123456")),
        ("16345678901234567", None),  # 17 digits, WeChat prefix
        ("163456789012345678", None),  # 18 digits, prefix 16
        ("3112345678901234", None),  # prefix 31
        ("281234567890123", None),  # 15 digits
        ("2812345678901234567890123", None),  # 25 digits
        ("13456789012345678a", None),
        ("١٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩", None),  # Arabic-Indic digits are not ASCII digits
        ("", None),
    ],
)
def test_wallet_codes_are_recognised_by_length_and_prefix(
    text: str, expected: WalletCode | None
) -> None:
    assert recognise_wallet_code(text) == expected


@pytest.fixture(scope="module")
def issuer() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_issued_token_verifies_offline_with_the_issuer_public_key(
    issuer: Ed25519PrivateKey,
) -> None:
    # GIVEN a token issued for a customer, valid 120 s
    text = issue_token("cust-42", issuer, ttl_s=120, now=NOW)
    # WHEN the kiosk verifies it 60 s later with only the public key
    claims = verify_token(text, issuer.public_key(), now=NOW + 60)
    # THEN it yields the customer and expiry
    assert text.startswith("SPT1.")
    assert (claims.customer_id, claims.expires_at) == ("cust-42", NOW + 120)


def test_two_tokens_for_the_same_customer_differ_by_nonce(issuer: Ed25519PrivateKey) -> None:
    first = issue_token("cust-42", issuer, ttl_s=120, now=NOW)
    second = issue_token("cust-42", issuer, ttl_s=120, now=NOW)
    assert first != second


def test_expired_token_is_rejected_as_expired(issuer: Ed25519PrivateKey) -> None:
    text = issue_token("cust-42", issuer, ttl_s=120, now=NOW)
    with pytest.raises(TokenRejected, match="expired"):
        verify_token(text, issuer.public_key(), now=NOW + 120)


def test_token_from_another_key_has_a_bad_signature(issuer: Ed25519PrivateKey) -> None:
    forged = issue_token("cust-42", Ed25519PrivateKey.generate(), ttl_s=120, now=NOW)
    with pytest.raises(TokenRejected, match="bad signature"):
        verify_token(forged, issuer.public_key(), now=NOW)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_changed_customer_id_breaks_the_signature(issuer: Ed25519PrivateKey) -> None:
    # GIVEN a valid token whose payload is swapped for another customer's (same shape)
    prefix, _, signature = issue_token("cust-42", issuer, ttl_s=120, now=NOW).split(".")
    body = {"customer_id": "cust-43", "expires_at": NOW + 120, "nonce": "A" * 22}
    payload = b64(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    # WHEN / THEN it is rejected as a bad signature
    with pytest.raises(TokenRejected, match="bad signature"):
        verify_token(f"{prefix}.{payload}.{signature}", issuer.public_key(), now=NOW)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("SPT1.abc", "expected SPT1"),
        ("SPT2.abc.def", "expected SPT1"),
        ("SPT1.***.AAAA", "payload is not base64url"),
        ("SPT1." + b64(b"not json") + ".AAAA", "not ASCII JSON"),
        ("SPT1." + b64(b'{"customer_id":"a"}') + ".AAAA", "exactly customer_id"),
        (
            "SPT1."
            + b64(b'{"customer_id":"a","expires_at":"1","nonce":"' + b"A" * 16 + b'"}')
            + ".AAAA",
            "expires_at must be an integer",
        ),
        (
            "SPT1."
            + b64(b'{"customer_id":"a","expires_at":true,"nonce":"' + b"A" * 16 + b'"}')
            + ".AAAA",
            "expires_at must be an integer",
        ),
        (
            "SPT1."
            + b64(b'{"customer_id":"a b","expires_at":5,"nonce":"' + b"A" * 16 + b'"}')
            + ".AAAA",
            "customer_id",
        ),
        (
            "SPT1."
            + b64(b'{"nonce":"' + b"A" * 16 + b'","customer_id":"a","expires_at":5}')
            + ".AAAA",
            "not canonical",
        ),
        ("SPT1." + "A" * 600 + ".AAAA", "longer than 512"),
    ],
)
def test_malformed_tokens_are_rejected_with_the_reason(
    text: str, reason: str, issuer: Ed25519PrivateKey
) -> None:
    with pytest.raises(TokenRejected, match=reason):
        verify_token(text, issuer.public_key(), now=NOW)


def test_parse_token_reads_claims_without_the_key(issuer: Ed25519PrivateKey) -> None:
    claims, signed, signature = parse_token(issue_token("c1", issuer, ttl_s=5, now=NOW))
    assert claims.customer_id == "c1" and signed.startswith(b"SPT1.") and len(signature) == 64


def test_issue_refuses_a_non_positive_ttl(issuer: Ed25519PrivateKey) -> None:
    with pytest.raises(TokenRejected, match="ttl_s"):
        issue_token("c1", issuer, ttl_s=0, now=NOW)
