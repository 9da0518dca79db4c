"""Customer screen settings."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from base.settings import Section


class CatalogueItem(Section):
    """A product the customer can tap to put in the basket (cafe-style kiosks, and the demo)."""

    name: str = Field(min_length=1, max_length=80)
    unit_minor: int = Field(ge=1)


class ScreenConfig(Section):
    """Where the kiosk serves its screen, and in which languages."""

    host: str = "127.0.0.1"
    port: int = 8080
    languages: tuple[Literal["en", "zh"], ...] = ("en", "zh")
    operator_pin_file: Path | None = None
    # Products shown as buttons on the idle and basket screens; empty for kiosks whose items
    # come from a barcode scanner or the shop's POS.
    catalogue: tuple[CatalogueItem, ...] = ()
