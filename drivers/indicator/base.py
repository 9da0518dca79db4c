"""The Indicator role: a status light, and an optional relay for a gate or lock."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Light(StrEnum):
    """What the status light shows."""

    OFF = "off"
    IDLE = "blue"
    BUSY = "amber"
    APPROVED = "green"
    DECLINED = "red"


class Indicator(Protocol):
    """A status light with an optional relay."""

    def show(self, light: Light) -> None:
        """Set the light."""

    def pulse_relay(self) -> None:
        """Open the gate/lock for the configured time (no-op without a relay)."""

    def close(self) -> None:
        """Release the pins; safe to call twice."""
