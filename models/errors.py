"""The face models' one input error, so catching it catches every bad image or face box."""

from base.errors import SmilepayError


class BadImage(SmilepayError):
    """An image or face box the face models cannot use; the message says what was wrong."""
