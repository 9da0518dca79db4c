"""One entry point for every payment code, whether read by the camera or a serial scanner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from base import token
from device.codes import emv, wallet
from device.codes.errors import CodeRejected

MAX_PAYLOAD_BYTES = 512
PaymentKind = Literal["wechat", "alipay", "emv", "token"]


@dataclass(frozen=True)
class PaymentCode:
    """A recognised code: its kind, its text, and the parsed EMV payload or token claims."""

    kind: PaymentKind
    text: str
    emv: emv.EmvPayload | None = None
    token: token.CustomerToken | None = None


def payload_text(raw: bytes) -> str:
    """Raw code bytes as text; refuses over-long, non-UTF-8, NUL and control characters.
    A scanner's trailing CR/LF terminator is dropped."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise CodeRejected(f"code is {len(raw)} bytes, over the {MAX_PAYLOAD_BYTES}-byte cap")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise CodeRejected(f"NUL byte at offset {nul}")
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise CodeRejected(f"invalid UTF-8 at offset {exc.start}") from exc
    if not text:
        raise CodeRejected("code is empty")
    for index, ch in enumerate(text):
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            raise CodeRejected(f"control character U+{ord(ch):04X} at character {index}")
    return text


def classify_payload(raw: bytes) -> PaymentCode:
    """Recognise a wallet code, an EMV merchant payload or a customer token (signature NOT
    checked here: call token.verify_token with the issuer key). Raises CodeRejected."""
    text = payload_text(raw)
    found = wallet.recognise_wallet_code(text)
    if found is not None:
        return PaymentCode(found.kind, text)
    if text.startswith(token.PREFIX + "."):
        claims, _, _ = token.parse_token(text)
        return PaymentCode("token", text, token=claims)
    if text.startswith("000201") or text.startswith("000202"):
        return PaymentCode("emv", text, emv=emv.parse(text))
    raise CodeRejected(f"not a payment code we know (starts {text[:12]!r})")
