"""Customer-presented codes become checkout events: only what the kiosk can verify pays."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base.token import issue_token
from device.checkout import CodePresented, CodeRejected
from device.codes_input import code_event

ISSUER = Ed25519PrivateKey.generate()
MERCHANT_CODE = (
    b"00020101021226330015com.example.pay0110other-shop52045812530397854044.205802DE5910"
    b"Other Shop6006Berlin62080104REF163047548"
)


def test_a_ledger_signed_token_pays_for_its_customer() -> None:
    token = issue_token("cust-7", ISSUER, ttl_s=300, now=time.time())
    event = code_event(token.encode(), ISSUER.public_key(), at=1.0)
    assert isinstance(event, CodePresented)
    assert (event.kind, event.customer_id, event.at) == ("token", "cust-7", 1.0)


def test_a_token_signed_by_someone_else_is_refused_with_a_reason() -> None:
    forged = issue_token("cust-7", Ed25519PrivateKey.generate(), ttl_s=300, now=time.time())
    event = code_event(forged.encode(), ISSUER.public_key(), at=1.0)
    assert isinstance(event, CodeRejected) and "signature" in event.reason


def test_an_expired_token_is_refused() -> None:
    old = issue_token("cust-7", ISSUER, ttl_s=60, now=time.time() - 3600)
    event = code_event(old.encode(), ISSUER.public_key(), at=1.0)
    assert isinstance(event, CodeRejected) and "expired" in event.reason


def test_without_the_issuer_key_tokens_are_refused_not_trusted() -> None:
    token = issue_token("cust-7", ISSUER, ttl_s=300, now=time.time())
    event = code_event(token.encode(), None, at=1.0)
    assert isinstance(event, CodeRejected) and "issuer key" in event.reason


def test_third_party_wallet_codes_are_recognised_but_not_accepted_without_an_acquirer() -> None:
    wechat = code_event(b"134567890123456789", ISSUER.public_key(), at=1.0)
    alipay = code_event(b"281234567890123456", ISSUER.public_key(), at=1.0)
    assert isinstance(wechat, CodeRejected) and wechat.reason.startswith("WeChat Pay codes")
    assert isinstance(alipay, CodeRejected) and alipay.reason.startswith("Alipay codes")


def test_a_merchant_code_and_garbage_are_refused_with_their_reason() -> None:
    merchant = code_event(MERCHANT_CODE, ISSUER.public_key(), at=1.0)
    assert isinstance(merchant, CodeRejected) and "merchant code" in merchant.reason
    garbage = code_event(b"\xff\xfe\x00", ISSUER.public_key(), at=1.0)
    assert isinstance(garbage, CodeRejected) and garbage.reason
