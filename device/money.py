"""Money as the customer reads it: ISO 4217 minor units per currency (JPY 0, EUR 2, KWD 3)."""

from __future__ import annotations

# ISO 4217 exponents that are not 2; every other currency has 2 minor digits.
MINOR_DIGITS = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}


def minor_digits(currency: str) -> int:
    """How many decimal places `currency` has (ISO 4217)."""
    return MINOR_DIGITS.get(currency.upper(), 2)


def amount_text(amount_minor: int, currency: str) -> str:
    """ "12.50" from 1250 EUR, "1250" from 1250 JPY, "1.250" from 1250 KWD."""
    digits = minor_digits(currency)
    if digits == 0:
        return str(amount_minor)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}"


def money_text(amount_minor: int, currency: str) -> str:
    """ "EUR 12.50": the amount always with its currency."""
    return f"{currency} {amount_text(amount_minor, currency)}"
