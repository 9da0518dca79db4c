"""What the status light shows: a word of the checkout, shown by the Indicator role."""

from __future__ import annotations

from enum import StrEnum


class Light(StrEnum):
    """What the status light shows."""

    OFF = "off"
    IDLE = "blue"
    BUSY = "amber"
    APPROVED = "green"
    DECLINED = "red"
