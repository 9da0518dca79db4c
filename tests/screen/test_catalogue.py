"""A kiosk with a product catalogue: the customer taps products on the screen to fill the basket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.screen.config import CatalogueItem, ScreenConfig
from device.screen.server import create_screen_app
from device.screen.serving import serve_screen_in_thread
from tests.screen.browser_page import Page
from tests.screen.conftest import OPERATOR_PIN, RunningScreen
from tests.screen.step_kiosk import StepKiosk

CATALOGUE = (
    CatalogueItem(name="Flat white", unit_minor=350),
    CatalogueItem(name="Croissant", unit_minor=275),
)


@pytest.fixture
def shop() -> Iterator[RunningScreen]:
    config = ScreenConfig(port=0, catalogue=CATALOGUE)
    kiosk = StepKiosk()
    server = serve_screen_in_thread(create_screen_app(kiosk, config, OPERATOR_PIN), "127.0.0.1", 0)
    yield RunningScreen(kiosk, server)
    server.stop()


@pytest.mark.browser
def test_tapping_products_fills_the_basket(
    browser: object, shop: RunningScreen, screenshots: Path
) -> None:
    # GIVEN the idle screen of a kiosk with a catalogue
    page = Page(browser, shop, screenshots, "catalogue")
    page.open()
    page.wait_phase("idle")
    page.shot("01-idle")
    # WHEN the customer taps a croissant, then (on the basket screen) a flat white
    page.click('[data-for="idle"] [data-product="Croissant"]')
    page.wait_phase("basket")
    page.click('[data-for="basket"] [data-product="Flat white"]')
    page.wait_until(lambda: len(shop.kiosk.view()["items"]) == 2)
    # THEN both are in the basket, with their prices, and the total shows on screen
    assert [(i["name"], i["unit_minor"]) for i in shop.kiosk.view()["items"]] == [
        ("Croissant", 275),
        ("Flat white", 350),
    ]
    page.wait_until(lambda: "6.25" in page.visible_text('[data-for="basket"] .total-line'))
    page.shot("02-basket")


def test_screen_settings_list_the_catalogue(shop: RunningScreen) -> None:
    import httpx

    settings = httpx.get(shop.url + "/screen.json").json()
    assert settings["catalogue"] == [
        {"name": "Flat white", "unit_minor": 350},
        {"name": "Croissant", "unit_minor": 275},
    ]


def test_a_catalogue_item_without_a_price_is_a_config_error() -> None:
    from base.errors import ConfigError
    from device.config import parse_config

    with pytest.raises(ConfigError, match=r"screen\.catalogue\.0\.unit_minor"):
        parse_config({"screen": {"catalogue": [{"name": "Tea"}]}})
