"""EMVCo merchant-presented payloads: the published vectors, the rules, the kiosk's own QR."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.codes import emv
from device.codes.errors import EmvRejected
from device.codes.qr import decode_frame
from device.codes.render import render_qr_png, render_qr_svg


def vectors(shared_data: Path) -> list[dict[str, object]]:
    loaded: list[dict[str, object]] = json.loads((shared_data / "emv" / "vectors.json").read_text())
    return loaded


def test_every_valid_vector_parses_and_regenerates_byte_for_byte(shared_data: Path) -> None:
    # GIVEN the eleven published payloads with a valid CRC
    valid = [v for v in vectors(shared_data) if v["valid_crc"]]
    assert len(valid) == 11
    for vector in valid:
        payload = str(vector["payload"])
        # WHEN each is parsed and generated again from its fields
        parsed = emv.parse(payload)
        # THEN the output is the input, byte for byte
        assert emv.generate(parsed.fields).encode() == payload.encode(), vector["name"]


def test_the_vector_published_with_a_wrong_crc_is_rejected(shared_data: Path) -> None:
    (bad,) = [v for v in vectors(shared_data) if not v["valid_crc"]]
    with pytest.raises(EmvRejected, match="bad CRC"):
        emv.parse(str(bad["payload"]))


def test_vectors_get_their_scheme_profile(shared_data: Path) -> None:
    profiles = {
        str(v["name"]): emv.parse(str(v["payload"])).profile
        for v in vectors(shared_data)
        if v["valid_crc"]
    }
    assert profiles["PromptPay phone 0801234567"] == "promptpay"
    assert profiles["DuitNow (MY) test fixture"] == "duitnow"
    assert profiles["PIX static, BCB 'Manual de Padroes para Iniciacao do Pix' example"] == "pix"
    assert profiles["SGQR PayNow UEN (test fixture)"] == "paynow"
    assert profiles["EMVCo MPM spec sample (BEST TRANSPORT)"] == "emvco"


def test_nested_templates_and_the_language_template_are_parsed(shared_data: Path) -> None:
    sample = next(v for v in vectors(shared_data) if "BEST TRANSPORT" in str(v["name"]))
    parsed = emv.parse(str(sample["payload"]))
    language = parsed.get("64")
    assert language is not None and language.child("01") == "最佳运输"
    additional = parsed.get("62")
    assert additional is not None and additional.child("03") == "1234"
    assert parsed.value("54") == "23.72"


def test_crc16_ccitt_false_check_value() -> None:
    # The catalogue check value of CRC-16/CCITT-FALSE over "123456789" is 0x29B1.
    assert emv.crc16_ccitt_false(b"123456789") == 0x29B1


def payload_with(body: str) -> str:
    """`body` (without 6304) sealed with a correct CRC, so only the rule under test fails."""
    return body + "6304" + emv.crc_text(body + "6304")


BASE = "000201010212" + "26160012com.smilepay" + "52045812" + "5303764"
TAIL = "5802TH" + "5905Shop1" + "6007Bangkok"

HOSTILE = {
    "over-long": (payload_with(BASE + TAIL).ljust(600, "0"), "over the 512"),
    "bad CRC": (payload_with(BASE + TAIL)[:-4] + "0000", "bad CRC"),
    "duplicate tags": (payload_with(BASE + "5303764" + TAIL), "duplicate tag 53"),
    "NaN amount": (payload_with(BASE + "5403NaN" + TAIL), "tag 54"),
    "non-digit amount": (payload_with(BASE + "54051e+03" + TAIL), "tag 54"),
    "negative amount": (payload_with(BASE + "5405-1.00" + TAIL), "tag 54"),
    "two dots": (payload_with(BASE + "54051.0.0" + TAIL), "tag 54"),
    "control character": (payload_with(BASE + TAIL + "6203\x07ab"), "control character"),
    "NUL byte": (payload_with(BASE + "5905Sh\x00p1" + TAIL[11:]), "NUL"),
    "truncated": ("00020101021226160012com.smile", "CRC"),
    "length past end": (payload_with("000201" + "5999abc"), "runs past the end"),
    "non-digit tag": (payload_with("000201" + "A103abc"), "digits"),
    "missing mandatory": (payload_with(BASE + "5802TH"), "missing mandatory"),
    "wrong format": (payload_with("000203" + BASE[6:] + TAIL), "payload format indicator '03'"),
    "no merchant account": (
        payload_with("000201" + "52045812" + "5303764" + TAIL),
        "merchant account",
    ),
    "lower-case country": (payload_with(BASE + "5802th" + TAIL[6:]), "tag 58"),
    "non-ASCII name": (payload_with(BASE + "5802TH" + "5905Shöp1" + TAIL[15:]), "non-ASCII"),
    "template without GUI": (payload_with(BASE[:12] + "26080104abcd" + BASE[32:] + TAIL), "unique"),
    "empty": ("", "empty"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_payload_is_rejected_with_its_reason(case: str) -> None:
    payload, reason = HOSTILE[case]
    with pytest.raises(EmvRejected, match=reason):
        emv.parse(payload)


def test_the_hostile_base_itself_is_valid() -> None:
    # Guards the table above: each case differs from a valid payload in one rule only.
    assert emv.parse(payload_with(BASE + "5406100.00" + TAIL)).value("54") == "100.00"


def test_promptpay_person_to_person_may_lack_52_59_60_but_plain_emvco_may_not() -> None:
    promptpay = payload_with(
        "000201010211" + "29370016A000000677010111011300668012345675802TH5303764"
    )
    assert emv.parse(promptpay).profile == "promptpay"
    other = payload_with("000201010211" + "29200016A000000999999999" + "5802TH5303764")
    with pytest.raises(EmvRejected, match=r"missing mandatory tag.*52, 59, 60"):
        emv.parse(other)


def test_duitnow_needs_payload_format_02() -> None:
    body = "000201010211" + "26180014A0000006150001" + "5204599953034585802MY5903ABC6005BANGI"
    with pytest.raises(EmvRejected, match="expected '02' for duitnow"):
        emv.parse(payload_with(body))


def kiosk_payload() -> str:
    return emv.merchant_qr_payload(
        "Smile Cafe",
        "Bangkok",
        "5812",
        "764",
        12345,
        "INV-0042",
        country_code="TH",
        account_gui="com.smilepay",
        account_id="KIOSK-7",
    )


def test_kiosk_payload_carries_amount_reference_and_a_valid_crc() -> None:
    parsed = emv.parse(kiosk_payload())
    assert parsed.dynamic
    assert parsed.value("54") == "123.45"
    additional = parsed.get("62")
    assert additional is not None and additional.child("01") == "INV-0042"
    assert parsed.value("59") == "Smile Cafe"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("amount_minor", 0, "positive"),
        ("amount_minor", -5, "positive"),
        ("mcc", "58a2", "tag 52"),
        ("merchant_name", "N" * 26, "longer than 25"),
        ("currency_numeric", "THB", "tag 53"),
    ],
)
def test_kiosk_payload_refuses_bad_fields(field: str, value: object, reason: str) -> None:
    args: dict[str, object] = {
        "merchant_name": "Cafe",
        "city": "Bangkok",
        "mcc": "5812",
        "currency_numeric": "764",
        "amount_minor": 100,
        "reference": "R1",
    }
    args[field] = value
    with pytest.raises(EmvRejected, match=reason):
        emv.merchant_qr_payload(**args, country_code="TH", account_gui="g", account_id="a")  # type: ignore[arg-type]


def test_amounts_in_minor_units_are_formatted_exactly() -> None:
    assert emv.format_amount(1, 2) == "0.01"
    assert emv.format_amount(100000, 2) == "1000.00"
    assert emv.format_amount(500, 0) == "500"


def test_rendered_png_decodes_back_to_the_same_payload() -> None:
    # GIVEN the kiosk's dynamic payload drawn as a PNG
    payload = kiosk_payload()
    png = render_qr_png(payload)
    # WHEN the PNG is decoded with the chain
    image: np.ndarray | None = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    codes = decode_frame(image)
    # THEN it carries exactly the payload's bytes
    assert png.startswith(b"\x89PNG")
    assert [c.data for c in codes] == [payload.encode()]


def test_rendered_svg_is_an_svg_document() -> None:
    svg = render_qr_svg(kiosk_payload())
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<path" in svg
