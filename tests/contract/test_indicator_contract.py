"""The Indicator contract, run on the simulator, the gpiozero driver on mock pins, and the env's
real GPIO pins."""

from __future__ import annotations

import time
from typing import Any

import pytest

from drivers.indicator.base import Light
from tests.timing import slow


@pytest.mark.parametrize("light", list(Light))
def test_the_light_shown_is_the_light_seen(indicator_rig: Any, light: Light) -> None:
    indicator_rig.driver.show(Light.BUSY if light != Light.BUSY else Light.IDLE)
    indicator_rig.driver.show(light)
    assert indicator_rig.shown() == light


def test_one_relay_pulse_per_request(indicator_rig: Any) -> None:
    indicator_rig.driver.pulse_relay()
    deadline = time.monotonic() + slow(2)
    while indicator_rig.relay_pulses() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert indicator_rig.relay_pulses() == 1


def test_after_close_the_light_is_off_and_further_calls_are_ignored(indicator_rig: Any) -> None:
    indicator_rig.driver.show(Light.APPROVED)
    indicator_rig.driver.close()
    indicator_rig.driver.close()
    indicator_rig.driver.show(Light.DECLINED)
    indicator_rig.driver.pulse_relay()
    assert indicator_rig.shown() == Light.OFF
