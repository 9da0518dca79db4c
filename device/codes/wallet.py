"""Customer-presented wallet payment codes (the barcode a phone wallet shows at checkout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WalletKind = Literal["wechat", "alipay"]


@dataclass(frozen=True)
class WalletCode:
    """A recognised wallet payment code: which wallet style and the digits."""

    kind: WalletKind
    number: str


def recognise_wallet_code(text: str) -> WalletCode | None:
    """WeChat Pay style: 18 digits starting 10-15. Alipay style: 16-24 digits starting 25-30.
    Anything else (including non-ASCII digits such as "١٢") is not a wallet code."""
    if not (text.isascii() and text.isdigit()):
        return None
    prefix = int(text[:2]) if len(text) >= 2 else -1
    if len(text) == 18 and 10 <= prefix <= 15:
        return WalletCode("wechat", text)
    if 16 <= len(text) <= 24 and 25 <= prefix <= 30:
        return WalletCode("alipay", text)
    return None
