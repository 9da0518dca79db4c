"""A status light and optional relay on GPIO through gpiozero (lgpio backend on a Pi).

The light is an RGB LED, or three single LEDs, driven on/off (no PWM, so any pin factory and any
pins work); amber is red + green. The relay pulse runs in gpiozero's background thread so a
sale's result is never held up by the gate's opening time.
"""

from __future__ import annotations

import logging
from typing import Any

from gpiozero import RGBLED, DigitalOutputDevice, GPIOZeroError

from base.errors import SmilepayError
from drivers.indicator.base import Light
from drivers.indicator.config import GpioIndicatorConfig

log = logging.getLogger(__name__)

COLOURS: dict[Light, tuple[int, int, int]] = {
    Light.OFF: (0, 0, 0),
    Light.IDLE: (0, 0, 1),
    Light.BUSY: (1, 1, 0),
    Light.APPROVED: (0, 1, 0),
    Light.DECLINED: (1, 0, 0),
}


LIGHT_OF_PINS = {tuple(bool(v) for v in rgb): light for light, rgb in COLOURS.items()}


class IndicatorUnavailable(SmilepayError):
    """The GPIO pins cannot be claimed (in use, invalid, or no GPIO on this machine)."""


class GpioIndicator:
    """Indicator on GPIO pins; `pin_factory` None means gpiozero's default (lgpio on a Pi)."""

    def __init__(
        self,
        red_pin: int,
        green_pin: int,
        blue_pin: int,
        relay_pin: int | None = None,
        relay_pulse_s: float = 1.0,
        pin_factory: Any = None,
    ) -> None:
        self.relay_pulse_s = relay_pulse_s
        try:
            self._led = RGBLED(red_pin, green_pin, blue_pin, pwm=False, pin_factory=pin_factory)
            self._relay = self._claim_relay(relay_pin, pin_factory)
        except (GPIOZeroError, OSError) as exc:
            raise IndicatorUnavailable(f"status light GPIO pins: {exc}") from exc
        self.light = Light.OFF

    @classmethod
    def from_config(cls, config: GpioIndicatorConfig) -> GpioIndicator:
        """Build from the `indicator` config section (claims the pins)."""
        return cls(
            config.red_pin,
            config.green_pin,
            config.blue_pin,
            config.relay_pin,
            config.relay_pulse_s,
        )

    def show(self, light: Light) -> None:
        """Set the light (ignored after close)."""
        if self._led.closed:
            return
        self._led.value = COLOURS[light]
        self.light = light

    def lit(self) -> Light:
        """What the pins show right now, read back through the pin factory (OFF once closed)."""
        if self._led.closed:
            return Light.OFF
        return LIGHT_OF_PINS.get(tuple(bool(v) for v in self._led.value), Light.OFF)

    def pulse_relay(self) -> None:
        """Energise the relay for `relay_pulse_s`, in the background (no-op without a relay)."""
        if self._relay is None or self._relay.closed:
            return
        self._relay.blink(on_time=self.relay_pulse_s, off_time=0, n=1, background=True)
        log.info("relay pulsed", extra={"seconds": self.relay_pulse_s})

    def close(self) -> None:
        """Switch everything off and release the pins; safe to call twice."""
        for device in (self._led, self._relay):
            if device is not None and not device.closed:
                device.off()  # leave the gate locked and the light dark, not as it was
                device.close()

    def _claim_relay(self, pin: int | None, pin_factory: Any) -> DigitalOutputDevice | None:
        if pin is None:
            return None
        relay: DigitalOutputDevice = DigitalOutputDevice(
            pin, initial_value=False, pin_factory=pin_factory
        )
        return relay
