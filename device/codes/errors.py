"""Errors for codes that are read but refused: each carries a one-line reason."""

from base.errors import CodeRejected
from base.token import TokenRejected

__all__ = ["CodeRejected", "EmvRejected", "TokenRejected"]


class EmvRejected(CodeRejected):
    """An EMVCo merchant-presented payload broke a rule (CRC, length, tag, field, profile)."""
