"""Errors for codes that are read but refused: each carries a one-line reason."""

from device.errors import SmilepayError


class CodeRejected(SmilepayError):
    """A scanned or typed payload was refused; the message says what was wrong with it."""


class EmvRejected(CodeRejected):
    """An EMVCo merchant-presented payload broke a rule (CRC, length, tag, field, profile)."""


class TokenRejected(CodeRejected):
    """A customer token is malformed, expired or carries a bad signature."""
