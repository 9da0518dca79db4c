"""Customer screen settings."""

from pathlib import Path
from typing import Literal

from device.settings import Section


class ScreenConfig(Section):
    """Where the kiosk serves its screen, and in which languages."""

    host: str = "127.0.0.1"
    port: int = 8080
    languages: tuple[Literal["en", "zh"], ...] = ("en", "zh")
    operator_pin_file: Path | None = None
