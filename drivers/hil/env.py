"""The hardware-in-the-loop environment file: which real device each role uses on this rig.

    # env.toml on a Pi rig (each section is the role's normal kiosk config section)
    [scanner]
    type = "serial"
    port = "/dev/serial/by-id/usb-SCANNER-if00"
    framing = "cr"

    [printer]
    type = "escpos_serial"
    port = "/dev/ttyUSB0"

    [indicator]
    type = "gpio"
    relay_pin = 23

    [camera]
    type = "picamera2"

    [operator]
    prompt = true   # physical acts (scan this code, pull that cable) are asked on the terminal

A role that is missing, or names a simulator, has no real device: tests marked
`@pytest.mark.hw("role")` skip, and every fixture of that role gives its simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from base.settings import Section, load_toml
from drivers.camera.config import CameraConfig
from drivers.indicator.config import IndicatorConfig
from drivers.printer.config import PrinterConfig
from drivers.scanner.config import ScannerConfig

ROLES = ("camera", "scanner", "printer", "indicator")
SIMULATOR_TYPES = {"simulated", "synthetic", "replay", "none"}


class OperatorSection(Section):
    """Whether a person stands at the rig to do what software cannot (present a code, unplug)."""

    prompt: bool = False


class KioskEnv(Section):
    """The rig: a config section per role that has a real device."""

    camera: CameraConfig | None = None
    scanner: ScannerConfig | None = None
    printer: PrinterConfig | None = None
    indicator: IndicatorConfig | None = None
    operator: OperatorSection = OperatorSection()

    def real(self, role: str) -> Any:
        """The role's config section if it names a real device, else None."""
        if role not in ROLES:
            raise ValueError(f"unknown hardware role {role!r}: one of {', '.join(ROLES)}")
        section = getattr(self, role)
        if section is None or section.type in SIMULATOR_TYPES:
            return None
        return section

    def describe(self) -> str:
        """One line: which roles are real on this rig."""
        real = [f"{role}={self.real(role).type}" for role in ROLES if self.real(role)]
        return ", ".join(real) or "all roles simulated"


def load_kiosk_env(path: Path | None) -> KioskEnv:
    """Read and validate an env file; no path means every role is simulated."""
    if path is None:
        return KioskEnv()
    return load_toml(KioskEnv, path, "kiosk env file")
