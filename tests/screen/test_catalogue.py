"""The kiosk's catalogue ([catalogue] in config): the customer taps products on the screen, the
screen names them by id, and the price always comes from the kiosk, never from the browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from base.errors import ConfigError
from device.catalogue import CatalogueConfig, CatalogueItem
from device.config import parse_config
from device.screen.config import ScreenConfig
from device.screen.server import create_screen_app
from device.screen.serving import serve_screen_in_thread
from tests.screen.browser_page import Page
from tests.screen.conftest import OPERATOR_PIN, RunningScreen
from tests.screen.step_kiosk import StepKiosk
from tests.timing import slow

SHELF = CatalogueConfig(
    items=(
        CatalogueItem(id="flat-white", name="Flat white", unit_minor=350),
        CatalogueItem(id="croissant", name="Croissant", unit_minor=275),
    )
)


@pytest.fixture
def shop() -> Iterator[RunningScreen]:
    kiosk = StepKiosk(catalogue=SHELF)
    app = create_screen_app(kiosk, ScreenConfig(port=0), OPERATOR_PIN)
    server = serve_screen_in_thread(app, "127.0.0.1", 0)
    yield RunningScreen(kiosk, server)
    server.stop()


@pytest.fixture
def trusted(shop: RunningScreen) -> Iterator[httpx.Client]:
    """An HTTP client holding the screen cookie, as the kiosk's own browser does."""
    with httpx.Client(base_url=shop.url, timeout=slow(10)) as client:
        client.get(shop.launch_url.removeprefix(shop.url))
        yield client


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
    page.click('[data-for="idle"] [data-product="croissant"]')
    page.wait_phase("basket")
    page.click('[data-for="basket"] [data-product="flat-white"]')
    page.wait_until(lambda: len(shop.kiosk.view()["items"]) == 2)
    # THEN both are in the basket at the catalogue's prices, and the amount due shows
    assert [(i["item_id"], i["unit_minor"]) for i in shop.kiosk.view()["items"]] == [
        ("croissant", 275),
        ("flat-white", 350),
    ]
    page.wait_until(lambda: page.visible_text("[data-testid=amount]") == "EUR 6.25")
    page.shot("02-basket")


def test_screen_settings_list_the_catalogue_by_id(shop: RunningScreen) -> None:
    settings = httpx.get(shop.url + "/screen.json").json()
    assert settings["catalogue"] == [
        {"id": "flat-white", "name": "Flat white", "unit_minor": 350},
        {"id": "croissant", "name": "Croissant", "unit_minor": 275},
    ]


def test_the_browser_cannot_set_a_name_or_a_price(
    shop: RunningScreen, trusted: httpx.Client
) -> None:
    # WHEN the screen posts a "gold bar" with its own price THEN it is refused, nothing added
    gold = {"name": "gold bar", "quantity": 1, "unit_minor": 9_999_999}
    response = trusted.post("/api/items", json=gold)
    assert response.status_code == 400 and "unknown field" in response.json()["error"]
    # AND an id that is not in the catalogue is refused by the kiosk
    response = trusted.post("/api/items", json={"item_id": "gold-bar"})
    assert response.status_code == 409 and "gold-bar" in response.json()["error"]
    assert shop.kiosk.view()["items"] == []
    # AND a catalogue id adds the item at the kiosk's price
    assert trusted.post("/api/items", json={"item_id": "croissant"}).status_code == 200
    assert shop.kiosk.view()["total_minor"] == 275


def test_a_catalogue_item_without_a_price_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"catalogue\.items\.0\.unit_minor"):
        parse_config({"catalogue": {"items": [{"id": "tea", "name": "Tea"}]}})


def test_catalogue_ids_are_unique_and_plain() -> None:
    twice = [{"id": "tea", "name": "Tea", "unit_minor": 1}] * 2
    with pytest.raises(ConfigError, match="repeated"):
        parse_config({"catalogue": {"items": twice}})
    with pytest.raises(ConfigError, match=r"catalogue\.items\.0\.id"):
        parse_config({"catalogue": {"items": [{"id": "Tea Bag", "name": "T", "unit_minor": 1}]}})
