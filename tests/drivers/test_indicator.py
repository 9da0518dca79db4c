"""The GPIO status light and relay on gpiozero's MockFactory pins, and the simulator."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.indicator import Light, open_indicator
from drivers.indicator.config import SimulatedIndicatorConfig
from drivers.indicator.gpio_indicator import GpioIndicator, IndicatorUnavailable
from drivers.indicator.simulated import SimulatedIndicator
from tests.timing import slow

RED, GREEN, BLUE, RELAY = 17, 27, 22, 5


@pytest.fixture
def pins() -> MockFactory:
    return MockFactory()


def rgb(pins: MockFactory) -> tuple[bool, bool, bool]:
    return (pins.pin(RED).state, pins.pin(GREEN).state, pins.pin(BLUE).state)


@pytest.mark.parametrize(
    ("light", "states"),
    [(Light.IDLE, (False, False, True)), (Light.BUSY, (True, True, False)),
     (Light.APPROVED, (False, True, False)), (Light.DECLINED, (True, False, False)),
     (Light.OFF, (False, False, False))],
)  # fmt: skip
def test_each_light_drives_its_pins(
    pins: MockFactory, light: Light, states: tuple[bool, bool, bool]
) -> None:
    # GIVEN an RGB light on three mock pins WHEN a light is shown THEN exactly its pins are high
    indicator = GpioIndicator(RED, GREEN, BLUE, pin_factory=pins)
    indicator.show(light)
    assert rgb(pins) == states
    assert indicator.lit() == light  # read back from the pins
    indicator.close()


def test_the_relay_pulses_high_then_drops_back_without_blocking(pins: MockFactory) -> None:
    # GIVEN a relay pin with a short pulse
    indicator = GpioIndicator(RED, GREEN, BLUE, RELAY, relay_pulse_s=0.05, pin_factory=pins)
    relay = pins.pin(RELAY)
    # WHEN pulsed THEN the call returns while the relay is still energised
    indicator.pulse_relay()
    assert relay.state is True
    deadline = time.monotonic() + slow(2)
    while relay.state and time.monotonic() < deadline:
        time.sleep(0.01)
    # AND the pin went low -> high -> low, once
    relay.assert_states([False, True, False])
    indicator.close()


def test_without_a_relay_pulsing_does_nothing(pins: MockFactory) -> None:
    indicator = GpioIndicator(RED, GREEN, BLUE, pin_factory=pins)
    indicator.pulse_relay()
    assert pins.pin(RELAY).state is False
    indicator.close()


def test_close_leaves_the_light_dark_and_the_relay_off_and_is_safe_twice(
    pins: MockFactory,
) -> None:
    indicator = GpioIndicator(RED, GREEN, BLUE, RELAY, relay_pulse_s=5.0, pin_factory=pins)
    indicator.show(Light.APPROVED)
    indicator.pulse_relay()
    indicator.close()
    indicator.close()
    assert rgb(pins) == (False, False, False) and pins.pin(RELAY).state is False
    indicator.show(Light.DECLINED)  # after close: ignored, not an error
    assert rgb(pins) == (False, False, False)


def test_pins_already_in_use_are_refused_with_a_clear_error(pins: MockFactory) -> None:
    first = GpioIndicator(RED, GREEN, BLUE, pin_factory=pins)
    with pytest.raises(IndicatorUnavailable, match="GPIO"):
        GpioIndicator(RED, 5, 6, pin_factory=pins)
    first.close()


def test_the_simulator_records_colours_and_pulses() -> None:
    indicator = open_indicator(SimulatedIndicatorConfig(type="simulated"))
    assert isinstance(indicator, SimulatedIndicator)
    indicator.show(Light.BUSY)
    indicator.show(Light.APPROVED)
    indicator.pulse_relay()
    assert indicator.color == Light.APPROVED
    assert indicator.history == [Light.BUSY, Light.APPROVED]
    assert indicator.relay_pulses == 1
    indicator.close()
    assert indicator.color == Light.OFF
