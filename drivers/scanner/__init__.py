"""Code scanner role: serial 2D scanner and simulator, chosen by config."""

from __future__ import annotations

from drivers.loading import build_driver
from drivers.scanner.base import CodeScanner, ScannerUnavailable
from drivers.scanner.config import ScannerConfig

DRIVERS = {
    "serial": "drivers.scanner.serial_scanner:SerialScanner",
    "simulated": "drivers.scanner.simulated:SimulatedScanner",
}


def open_scanner(config: ScannerConfig) -> CodeScanner | None:
    """Build the scanner driver that `config.type` names, or None for `type = "none"`."""
    scanner: CodeScanner | None = build_driver(DRIVERS, config)
    return scanner


__all__ = ["CodeScanner", "ScannerUnavailable", "open_scanner"]
