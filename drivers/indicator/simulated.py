"""An in-process status light and relay with a test-facing API: `color`, `history`,
`relay_pulses`."""

from __future__ import annotations

import threading

from drivers.indicator.base import Light
from drivers.indicator.config import SimulatedIndicatorConfig


class SimulatedIndicator:
    """Indicator simulator: remembers every light shown and counts relay pulses."""

    def __init__(self) -> None:
        self.color = Light.OFF
        self.history: list[Light] = []
        self.relay_pulses = 0
        self.closed = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: SimulatedIndicatorConfig) -> SimulatedIndicator:
        """Build from the `indicator` config section."""
        return cls()

    def show(self, light: Light) -> None:
        """Set the light (ignored after close, as with real pins)."""
        with self._lock:
            if self.closed:
                return
            self.color = light
            self.history.append(light)

    def pulse_relay(self) -> None:
        """Count one gate/lock opening (ignored after close)."""
        with self._lock:
            if not self.closed:
                self.relay_pulses += 1

    def close(self) -> None:
        """Switch off; safe to call twice."""
        with self._lock:
            if not self.closed:
                self.color = Light.OFF
                self.closed = True
