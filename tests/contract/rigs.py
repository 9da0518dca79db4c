"""Rigs for the contract tests: a driver plus the device side a test can act on.

Every role has a simulator rig, a rig for its real driver on stand-in hardware this machine has
(a real pty, gpiozero's mock pins), and a rig for the device the kiosk env names, where a person
does the physical acts (`operator.ask`).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from base.backoff import Backoff
from drivers.hil.pty import PtyLine
from drivers.hil.pty_printer import PtyPrinterDevice
from drivers.hil.pytest_plugin import Operator
from drivers.indicator.base import Light
from drivers.indicator.gpio_indicator import COLOURS, GpioIndicator
from drivers.indicator.simulated import SimulatedIndicator
from drivers.printer.config import SerialPrinterConfig
from drivers.printer.escpos_printer import EscposPrinter
from drivers.printer.simulated import SimulatedPrinter
from drivers.scanner.framing import Framing, encode_frame
from drivers.scanner.serial_scanner import SerialScanner
from drivers.scanner.simulated import SimulatedScanner
from tests.timing import slow

# --- scanner -----------------------------------------------------------------------------------


class SimScannerRig:
    def __init__(self) -> None:
        self.driver = SimulatedScanner(max_frame_bytes=64)

    def present(self, payload: bytes) -> None:
        self.driver.present(payload)

    def unplug(self) -> None:
        self.driver.unplug()

    def replug(self) -> None:
        self.driver.replug()

    def close(self) -> None:
        self.driver.close()


class PtyScannerRig:
    def __init__(self, tmp_path: Path, framing: Framing) -> None:
        self.framing = framing
        self.line = PtyLine(tmp_path / f"ttyACM-{framing}")
        self.driver = SerialScanner(
            str(self.line.path),
            framing=framing,
            quiet_gap_s=0.05,
            max_frame_bytes=64,
            backoff=Backoff(0.02, 0.1, jitter=False),
        )

    def present(self, payload: bytes) -> None:
        self.line.write(encode_frame(payload, self.framing))

    def unplug(self) -> None:
        self.line.unplug()

    def replug(self) -> None:
        self.line.replug()

    def close(self) -> None:
        self.driver.close()
        self.line.close()


class EnvScannerRig:
    def __init__(self, driver: Any, operator: Operator) -> None:
        self.driver, self.operator = driver, operator

    def present(self, payload: bytes) -> None:
        if not payload.isascii() or not payload.decode().isprintable() or len(payload) > 64:
            pytest.skip("a real scanner can only be shown printable test cards")
        self.operator.ask(f"scan the test card that reads {payload.decode()!r}")

    def unplug(self) -> None:
        self.operator.ask("unplug the scanner")

    def replug(self) -> None:
        self.operator.ask("plug the scanner back in")

    def close(self) -> None:
        self.driver.close()


# --- printer -----------------------------------------------------------------------------------


class SimPrinterRig:
    def __init__(self) -> None:
        self.driver = SimulatedPrinter()

    def set_paper_out(self, out: bool) -> None:
        self.driver.set_paper_out(out)

    def set_power(self, on: bool) -> None:
        self.driver.set_offline(not on)

    def printed(self) -> bytes:
        return self.driver.output

    def close(self) -> None:
        self.driver.close()


class PtyPrinterRig:
    def __init__(self, tmp_path: Path) -> None:
        self.device = PtyPrinterDevice(tmp_path / "ttyUSB-printer")
        config = SerialPrinterConfig(type="escpos_serial", port=str(self.device.path))
        self.driver = EscposPrinter.from_config(config)

    def set_paper_out(self, out: bool) -> None:
        self.device.paper_out = out

    def set_power(self, on: bool) -> None:
        self.device.powered = on

    def printed(self) -> bytes:
        return settled(lambda: self.device.output)

    def close(self) -> None:
        self.driver.close()
        self.device.close()


class EnvPrinterRig:
    def __init__(self, driver: Any, operator: Operator) -> None:
        self.driver, self.operator = driver, operator

    def set_paper_out(self, out: bool) -> None:
        self.operator.ask("take the paper roll out" if out else "put the paper roll back")

    def set_power(self, on: bool) -> None:
        self.operator.ask("switch the printer on" if on else "switch the printer off")

    def printed(self) -> bytes:
        pytest.skip("a real printer's output cannot be read back: check the paper by eye")

    def close(self) -> None:
        self.driver.close()


def settled(read: Any, quiet_s: float = 0.15, timeout_s: float = 3.0) -> bytes:
    """Poll `read()` until its value stops changing for `quiet_s` (bytes still in flight)."""
    quiet_s = slow(quiet_s)  # a slower writer pauses longer between its writes
    deadline, last, since = time.monotonic() + slow(timeout_s), read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.03)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    result: bytes = last
    return result


# --- indicator ---------------------------------------------------------------------------------

LIGHT_OF_STATES = {tuple(bool(v) for v in rgb): light for light, rgb in COLOURS.items()}


class SimIndicatorRig:
    def __init__(self) -> None:
        self.driver = SimulatedIndicator()

    def shown(self) -> Light:
        return self.driver.color

    def relay_pulses(self) -> int:
        return self.driver.relay_pulses

    def close(self) -> None:
        self.driver.close()


class MockPinIndicatorRig:
    RED, GREEN, BLUE, RELAY = 17, 27, 22, 23

    def __init__(self) -> None:
        self.pins = MockFactory()
        self.driver = GpioIndicator(
            self.RED, self.GREEN, self.BLUE, self.RELAY, relay_pulse_s=0.02, pin_factory=self.pins
        )

    def shown(self) -> Light:
        states = tuple(self.pins.pin(n).state for n in (self.RED, self.GREEN, self.BLUE))
        return LIGHT_OF_STATES[states]

    def relay_pulses(self) -> int:
        states = [s.state for s in self.pins.pin(self.RELAY).states]
        return sum(1 for before, after in itertools.pairwise(states) if after > before)

    def close(self) -> None:
        self.driver.close()


class EnvIndicatorRig:
    def __init__(self, driver: Any, operator: Operator) -> None:
        self.driver, self.operator = driver, operator

    def shown(self) -> Light:
        light: Light = self.driver.lit()  # read back through the pin factory (lgpio on a Pi)
        return light

    def relay_pulses(self) -> int:
        pytest.skip("a real relay's pulses are not read back: listen for the click")

    def close(self) -> None:
        self.driver.close()
