"""Indicator role: GPIO light and relay through gpiozero, and a simulator, chosen by config."""

from __future__ import annotations

from drivers.indicator.base import Indicator, Light
from drivers.indicator.config import IndicatorConfig
from drivers.loading import build_driver

DRIVERS = {
    "gpio": "drivers.indicator.gpio_indicator:GpioIndicator",
    "simulated": "drivers.indicator.simulated:SimulatedIndicator",
}


def open_indicator(config: IndicatorConfig) -> Indicator | None:
    """Build the indicator driver that `config.type` names, or None for `type = "none"`."""
    indicator: Indicator | None = build_driver(DRIVERS, config)
    return indicator


__all__ = ["Indicator", "Light", "open_indicator"]
