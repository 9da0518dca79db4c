"""Money as the customer reads it: ISO 4217 minor units, the currency always shown."""

from __future__ import annotations

import pytest

from device.money import amount_text, minor_digits, money_text


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1250, "EUR", "EUR 12.50"),
        (5, "EUR", "EUR 0.05"),
        (1250, "JPY", "JPY 1250"),
        (1250, "KWD", "KWD 1.250"),
        (7, "BHD", "BHD 0.007"),
        (-1250, "EUR", "EUR -12.50"),
        (100, "usd", "usd 1.00"),
    ],
)
def test_amounts_follow_the_currency_minor_units(minor: int, currency: str, shown: str) -> None:
    assert money_text(minor, currency) == shown


def test_minor_digits() -> None:
    assert (minor_digits("JPY"), minor_digits("EUR"), minor_digits("KWD")) == (0, 2, 3)
    assert amount_text(0, "JPY") == "0"
