"""The Indicator role: a status light, and an optional relay for a gate or lock."""

from __future__ import annotations

from typing import Protocol

from base.light import Light

__all__ = ["Indicator", "Light"]


class Indicator(Protocol):
    """A status light with an optional relay."""

    def show(self, light: Light) -> None:
        """Set the light."""

    def pulse_relay(self) -> None:
        """Open the gate/lock for the configured time (no-op without a relay)."""

    def close(self) -> None:
        """Release the pins; safe to call twice."""
