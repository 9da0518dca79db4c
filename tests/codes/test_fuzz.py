"""Hypothesis fuzzing: every parser either accepts or raises its own clear error, nothing else."""

from __future__ import annotations

import base64
import contextlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.token import verify_token
from device.codes import emv
from device.codes.errors import CodeRejected, EmvRejected, TokenRejected
from device.codes.payment import classify_payload
from device.codes.wallet import recognise_wallet_code

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = Ed25519PrivateKey.generate().public_key()
VALID = [
    "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
    "00020201021126410014A000000615000101065016640209123456789520499995303458540510.005802MY"
    "5909QRCSDNBHD6005BANGI6304343F",
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802"
    "CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030"
    "412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A",
]
TLV_CHARS = st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabc .-*#\x00\x07é最")


def reseal(body: str) -> str:
    """Give a mutated payload a correct CRC so that parsing goes past the CRC check."""
    cut = body.rfind("6304")
    head = body[: cut + 4] if cut >= 0 else body + "6304"
    return head + emv.crc_text(head)


@FUZZ
@given(st.text(st.characters(exclude_categories=()), max_size=600))  # with surrogates
def test_emv_parse_of_any_text_accepts_or_rejects_cleanly(text: str) -> None:
    with contextlib.suppress(EmvRejected):
        emv.parse(text)


@FUZZ
@given(
    st.sampled_from(VALID),
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=4),
    st.text(TLV_CHARS, max_size=6),
)
def test_emv_parse_of_mutated_resealed_payloads_accepts_or_rejects_cleanly(
    base: str, at: int, drop: int, insert: str
) -> None:
    # GIVEN a real payload with a slice replaced and its CRC made valid again
    at = min(at, len(base) - 8)
    mutated = reseal(base[:at] + insert + base[at + drop :])
    # WHEN parsed THEN it is accepted (and regenerates to itself) or rejected with EmvRejected
    try:
        parsed = emv.parse(mutated)
    except EmvRejected:
        return
    assert emv.generate(parsed.fields) == mutated


@FUZZ
@given(st.text(TLV_CHARS, max_size=200))
def test_tlv_split_accepts_or_rejects_cleanly(text: str) -> None:
    try:
        fields = emv.parse_tlv(text)
    except EmvRejected:
        return
    assert emv.encode_tlv(fields) == text


@FUZZ
@given(st.binary(max_size=700))
def test_classify_of_any_bytes_accepts_or_rejects_cleanly(raw: bytes) -> None:
    try:
        code = classify_payload(raw)
    except CodeRejected:
        return
    assert code.kind in ("wechat", "alipay", "emv", "token")


@FUZZ
@given(st.text(max_size=600))
def test_classify_of_any_text_accepts_or_rejects_cleanly(text: str) -> None:
    with contextlib.suppress(CodeRejected):
        classify_payload(text.encode("utf-8", "surrogatepass"))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: f"SPT1.{b64(b)}.AA")))
def test_verify_of_any_token_text_rejects_cleanly(text: str) -> None:
    try:
        verify_token(text, KEY, now=0)
    except TokenRejected:
        return
    raise AssertionError("a token nobody signed was accepted")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={"customer_id": json_values, "expires_at": json_values, "nonce": json_values},
    )
)
def test_verify_of_tokens_with_odd_json_claims_rejects_cleanly(claims: dict[str, object]) -> None:
    import json

    payload = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    try:
        verify_token(f"SPT1.{b64(payload)}.{'A' * 86}", KEY, now=0)
    except TokenRejected:
        return
    raise AssertionError("a token nobody signed was accepted")


@FUZZ
@given(st.text(max_size=40))
def test_wallet_recognition_never_raises(text: str) -> None:
    found = recognise_wallet_code(text)
    assert found is None or found.number == text
