"""EMVCo merchant-presented mode (MPM) QR payloads: a TLV codec of our own, CRC-16/CCITT-FALSE,
field rules, and per-scheme profiles for the real schemes that bend the rules.

Lengths count characters (EMVCo allows non-ASCII in the language template, tag 64); the CRC runs
over the UTF-8 bytes of everything up to and including "6304"."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from device.codes.errors import EmvRejected

MAX_CHARS = 512
CRC_TAG = "63"


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def crc_text(body: str) -> str:
    """The four uppercase hex digits of the CRC of `body` (which must end with "6304")."""
    return f"{crc16_ccitt_false(body.encode('utf-8')):04X}"


@dataclass(frozen=True)
class TlvField:
    """One data object: two-digit tag, value, and the nested objects if it is a template."""

    tag: str
    value: str
    children: tuple[TlvField, ...] | None = None

    def child(self, tag: str) -> str | None:
        """The value of nested tag `tag`, or None."""
        for item in self.children or ():
            if item.tag == tag:
                return item.value
        return None


def parse_tlv(text: str, where: str = "payload") -> list[TlvField]:
    """Split `text` into tag-length-value objects; reject short, non-numeric or duplicate tags."""
    fields: list[TlvField] = []
    seen: set[str] = set()
    pos = 0
    while pos < len(text):
        if pos + 4 > len(text):
            raise EmvRejected(f"{where}: truncated data object at character {pos}")
        tag, length_text = text[pos : pos + 2], text[pos + 2 : pos + 4]
        if not (_is_digits(tag) and _is_digits(length_text)):
            raise EmvRejected(f"{where}: tag/length must be digits at character {pos}")
        length = int(length_text)
        if length == 0 or pos + 4 + length > len(text):
            raise EmvRejected(f"{where}: tag {tag} length {length} runs past the end or is zero")
        if tag in seen:
            raise EmvRejected(f"{where}: duplicate tag {tag}")
        seen.add(tag)
        fields.append(TlvField(tag, text[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return fields


def encode_tlv(fields: Iterable[TlvField]) -> str:
    """Serialise objects back to text; templates are re-encoded from their children."""
    parts = []
    for item in fields:
        value = encode_tlv(item.children) if item.children is not None else item.value
        if not 0 < len(value) <= 99:
            raise EmvRejected(f"tag {item.tag}: value length {len(value)} is not 1..99")
        parts.append(f"{item.tag}{len(value):02d}{value}")
    return "".join(parts)


def _is_digits(text: str) -> bool:
    return len(text) > 0 and all("0" <= ch <= "9" for ch in text)


def is_template(tag: str) -> bool:
    """Merchant account templates 26-51, additional data 62, language 64, unreserved 80-99."""
    number = int(tag)
    return 26 <= number <= 51 or number in (62, 64) or 80 <= number <= 99


@dataclass(frozen=True)
class Profile:
    """How a scheme bends the EMVCo rules."""

    name: str
    payload_format: str = "01"
    required: frozenset[str] = frozenset({"00", "52", "53", "58", "59", "60", "63"})


EMVCO = Profile("emvco")
PROFILES: dict[str, Profile] = {
    "A000000677010111": Profile("promptpay", required=frozenset({"00", "53", "58", "63"})),
    "A000000677010112": Profile("promptpay-bill", required=frozenset({"00", "53", "58", "63"})),
    "A0000006150001": Profile("duitnow", payload_format="02"),
    "BR.GOV.BCB.PIX": Profile("pix"),
    "SG.PAYNOW": Profile("paynow"),
    "SG.COM.NETS": Profile("sgqr-nets"),
}


@dataclass(frozen=True)
class EmvPayload:
    """A parsed, validated merchant-presented payload; `fields` keep their original order."""

    fields: tuple[TlvField, ...]
    profile: str
    crc: str = field(default="")

    def get(self, tag: str) -> TlvField | None:
        """The top-level object with this tag, or None."""
        return next((item for item in self.fields if item.tag == tag), None)

    def value(self, tag: str) -> str | None:
        """The value of a top-level tag, or None."""
        item = self.get(tag)
        return item.value if item else None

    @property
    def dynamic(self) -> bool:
        """Point of initiation "12": a one-time code (usually carrying the amount)."""
        return self.value("01") == "12"

    def to_json(self) -> dict[str, object]:
        """Fields keyed by tag (templates as nested dicts), with the profile and CRC."""
        return {"profile": self.profile, "crc": self.crc, "fields": _fields_json(self.fields)}


def _fields_json(fields: Sequence[TlvField]) -> dict[str, object]:
    return {
        item.tag: _fields_json(item.children) if item.children is not None else item.value
        for item in fields
    }


def generate(fields: Sequence[TlvField]) -> str:
    """Serialise objects (without tag 63) and append a freshly computed CRC."""
    body = encode_tlv(item for item in fields if item.tag != CRC_TAG) + "6304"
    text = body + crc_text(body)
    if len(text) > MAX_CHARS:
        raise EmvRejected(f"payload is {len(text)} characters, over the {MAX_CHARS} cap")
    return text


def parse(text: str) -> EmvPayload:
    """Parse and validate a merchant-presented payload; raises EmvRejected with the reason."""
    _check_characters(text)
    _check_crc(text)
    fields = tuple(_nest(item) for item in parse_tlv(text))
    _check_order(fields)
    profile = detect_profile(fields)
    _check_required(fields, profile)
    for item in fields:
        _check_field(item, profile)
    return EmvPayload(fields, profile.name, crc=text[-4:])


def _check_characters(text: str) -> None:
    if not text:
        raise EmvRejected("payload is empty")
    if len(text) > MAX_CHARS:
        raise EmvRejected(f"payload is {len(text)} characters, over the {MAX_CHARS} cap")
    for index, ch in enumerate(text):
        if ch == "\x00":
            raise EmvRejected(f"NUL byte at character {index}")
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029":
            raise EmvRejected(f"control character U+{ord(ch):04X} at character {index}")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise EmvRejected(f"invalid (undecodable) character at character {index}")


def _check_crc(text: str) -> None:
    if len(text) < 8 or text[-8:-4] != "6304":
        raise EmvRejected("payload does not end with the CRC object 6304XXXX")
    if not re.fullmatch(r"[0-9A-Fa-f]{4}", text[-4:]):
        raise EmvRejected(f"CRC {text[-4:]!r} is not four hex digits")
    expected = crc_text(text[:-4])
    if text[-4:].upper() != expected:
        raise EmvRejected(f"bad CRC: payload says {text[-4:]}, content gives {expected}")


def _nest(item: TlvField) -> TlvField:
    if not is_template(item.tag):
        return item
    children = parse_tlv(item.value, where=f"template {item.tag}")
    return TlvField(item.tag, item.value, tuple(children))


def _check_order(fields: Sequence[TlvField]) -> None:
    if fields[0].tag != "00":
        raise EmvRejected("payload format indicator (tag 00) must come first")
    if fields[-1].tag != CRC_TAG:
        raise EmvRejected("CRC (tag 63) must come last")


def detect_profile(fields: Sequence[TlvField]) -> Profile:
    """The scheme profile named by the first known GUI in a merchant account template."""
    for item in fields:
        gui = item.child("00") if item.children is not None and int(item.tag) <= 51 else None
        if gui and gui.upper() in PROFILES:
            return PROFILES[gui.upper()]
    return EMVCO


def _check_required(fields: Sequence[TlvField], profile: Profile) -> None:
    tags = {item.tag for item in fields}
    missing = sorted(profile.required - tags)
    if missing:
        raise EmvRejected(f"missing mandatory tag(s) {', '.join(missing)} ({profile.name})")
    if not any(2 <= int(tag) <= 51 for tag in tags):
        raise EmvRejected("no merchant account information (tags 02-51)")
    if fields[0].value != profile.payload_format:
        raise EmvRejected(
            f"payload format indicator {fields[0].value!r}, expected "
            f"{profile.payload_format!r} for {profile.name}"
        )


_AMOUNT = re.compile(r"[0-9]+(\.[0-9]*)?")
_MAX_LEN = {"59": 25, "60": 15, "61": 10}


def is_amount(text: str) -> bool:
    """EMVCo amount: digits with at most one ".", no sign, exponent, NaN or spaces."""
    return len(text) <= 13 and _AMOUNT.fullmatch(text) is not None


def _check_field(item: TlvField, profile: Profile) -> None:
    rule = _FIELD_RULES.get(item.tag)
    if rule is not None and not rule(item.value):
        raise EmvRejected(f"tag {item.tag} has an invalid value {item.value!r}")
    if item.tag in _MAX_LEN and len(item.value) > _MAX_LEN[item.tag]:
        raise EmvRejected(f"tag {item.tag} is longer than {_MAX_LEN[item.tag]} characters")
    if item.tag != "64" and not item.value.isascii():
        raise EmvRejected(f"tag {item.tag} has non-ASCII characters (only tag 64 may)")
    if item.children is not None and int(item.tag) != 62 and int(item.tag) != 64:
        gui = item.child("00")
        if not gui or len(gui) > 32:
            raise EmvRejected(f"template {item.tag} lacks a globally unique identifier (00)")


_FIELD_RULES: dict[str, Callable[[str], bool]] = {
    "00": lambda v: v in ("01", "02"),
    "01": lambda v: v in ("11", "12"),
    "52": lambda v: len(v) == 4 and _is_digits(v),
    "53": lambda v: len(v) == 3 and _is_digits(v),
    "54": is_amount,
    "55": lambda v: v in ("01", "02", "03"),
    "56": is_amount,
    "57": lambda v: len(v) <= 5 and is_amount(v),
    "58": lambda v: len(v) == 2 and v.isascii() and v.isalpha() and v.isupper(),
    "63": lambda v: len(v) == 4,
}


def merchant_qr_payload(
    merchant_name: str,
    city: str,
    mcc: str,
    currency_numeric: str,
    amount_minor: int,
    reference: str,
    *,
    country_code: str,
    account_gui: str,
    account_id: str,
    account_tag: str = "26",
    minor_digits: int = 2,
) -> str:
    """A dynamic merchant-presented payload for the kiosk's own QR: amount in minor units
    (e.g. 1234 -> "12.34"), `reference` as the bill number (62/01). Validated by parsing it back."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise EmvRejected(f"amount_minor must be a positive integer, got {amount_minor!r}")
    fields = [
        TlvField("00", "01"),
        TlvField("01", "12"),
        TlvField(account_tag, "", (TlvField("00", account_gui), TlvField("01", account_id))),
        TlvField("52", mcc),
        TlvField("53", currency_numeric),
        TlvField("54", format_amount(amount_minor, minor_digits)),
        TlvField("58", country_code),
        TlvField("59", merchant_name),
        TlvField("60", city),
        TlvField("62", "", (TlvField("01", reference),)),
    ]
    text = generate(fields)
    parse(text)
    return text


def format_amount(amount_minor: int, minor_digits: int) -> str:
    """Minor units to the EMVCo decimal text: (1234, 2) -> "12.34", (500, 0) -> "500"."""
    if minor_digits == 0:
        return str(amount_minor)
    units, fraction = divmod(amount_minor, 10**minor_digits)
    return f"{units}.{fraction:0{minor_digits}d}"
