"""Status light and optional relay selection: `indicator.type` picks the driver."""

from typing import Annotated, Literal

from pydantic import Field

from base.settings import Section


class GpioIndicatorConfig(Section):
    """An RGB status light (and optional relay for a gate or lock) on GPIO through gpiozero."""

    type: Literal["gpio"]
    red_pin: int = 17
    green_pin: int = 27
    blue_pin: int = 22
    relay_pin: int | None = None
    relay_pulse_s: float = 1.0


class SimulatedIndicatorConfig(Section):
    """An in-process light and relay with a test-facing API (`color`, `relay_pulses`)."""

    type: Literal["simulated"]


class NoIndicatorConfig(Section):
    """No light attached."""

    type: Literal["none"]


IndicatorConfig = Annotated[
    GpioIndicatorConfig | SimulatedIndicatorConfig | NoIndicatorConfig,
    Field(discriminator="type"),
]
