"""The kiosk's catalogue: the products the screen may offer, by id, at prices set in config.

    [[catalogue.items]]
    id = "flat-white"
    name = "Flat white"
    unit_minor = 350        # minor units of device.currency

The screen names items by id only; a price never comes from the browser.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from base.settings import Section


class CatalogueItem(Section):
    """A product the customer can tap to put in the basket."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")
    name: str = Field(min_length=1, max_length=80)
    unit_minor: int = Field(ge=1, le=100_000_000)


class CatalogueConfig(Section):
    """Products shown as buttons on the idle and basket screens; empty for kiosks whose items
    come from a barcode scanner or the shop's POS."""

    items: tuple[CatalogueItem, ...] = ()

    @model_validator(mode="after")
    def _ids_are_unique(self) -> CatalogueConfig:
        ids = [item.id for item in self.items]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"catalogue item ids must be unique; repeated: {repeated}")
        return self

    def find(self, item_id: str) -> CatalogueItem | None:
        """The item with `item_id`, or None."""
        return next((item for item in self.items if item.id == item_id), None)
