"""Screen and service commands: the kiosk benchmark."""

from __future__ import annotations

from typing import Any

from device.cli import not_built


def register(commands: Any, benches: Any) -> None:
    """Add the kiosk benchmark."""
    bench = benches.add_parser("kiosk", help="kiosk start-up time and memory")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=not_built("bench kiosk"))
