"""End to end in a real browser against the real kiosk: `Kiosk` from device.app with simulated
camera, scanner, printer and light, the real face models, queue and ledger (the demo's set-up),
and the customer screen in headless Chromium. A smile sale, a QR sale and an offline sale are
walked through the UI by clicking its buttons; each screen is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.screen.browser_page import Page
from tests.screen.conftest import OPERATOR_PIN
from tests.timing import slow

pytestmark = pytest.mark.browser
SALE_WAIT_S = slow(30.0)


@dataclass
class KioskScreen:
    """The demo's world, the real kiosk, and its screen."""

    setup: Any  # device.demo.DemoSetup
    url: str
    launch_url: str


@pytest.fixture
def kiosk_screen(tmp_path: Path) -> Iterator[KioskScreen]:
    from device.demo import set_up
    from device.screen.server import create_screen_app, serve_screen_in_thread

    with ExitStack() as stack:
        setup = set_up(stack, tmp_path, 0)
        stack.callback(lambda: setup.ledger.stop())
        setup.world.start()
        stack.callback(setup.world.stop)
        setup.kiosk.start()
        stack.callback(setup.kiosk.stop)
        app = create_screen_app(setup.kiosk, setup.config.screen, OPERATOR_PIN)
        server = serve_screen_in_thread(app, "127.0.0.1", 0)
        stack.callback(server.stop)
        yield KioskScreen(setup, server.url, server.launch_url)


def _sell(page: Page, kiosk_screen: KioskScreen, method_button: str, name: str) -> None:
    """Basket (scanned), pay, the method, then whatever the customer does, until approved."""
    kiosk = kiosk_screen.setup.kiosk
    page.wait_phase("idle")
    kiosk.add_item("Flat white", 1, 350)  # what the barcode scanner does
    kiosk.add_item("Croissant", 2, 275)
    page.wait_phase("basket")
    assert page.visible_text("[data-testid=amount]") == "EUR 9.00"
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.shot(f"{name}-1-choose")
    page.click(method_button)
    if method_button == "#method-face":
        page.wait_until(lambda: page.element("#consent-agree").is_displayed())
        page.click("#consent-agree")
    # The real pipeline may move on within a frame or two: shoot whichever screen is up.
    after = {"smile_prompt", "qr_wait", "authorizing", "approved"}
    page.wait_until(lambda: page.element("body").get_attribute("data-phase") in after)
    phase = page.element("body").get_attribute("data-phase")
    if phase == "smile_prompt":
        _wait_fresh_frames(page, "#camera-face .camera-frame")
    page.shot(f"{name}-2-{page.element('body').get_attribute('data-phase')}")
    page.wait_phase("approved")
    page.shot(f"{name}-3-approved")


def _wait_fresh_frames(page: Page, css: str, count: int = 2) -> None:
    """Wait for `count` new camera frames on screen, or for the screen to move on."""

    def shown() -> int:
        return int(page.element(css).get_attribute("data-frames") or 0)

    start = shown()
    page.wait_until(
        lambda: (
            shown() >= start + count
            or page.element("body").get_attribute("data-phase") != "smile_prompt"
        )
    )


def test_smile_qr_and_offline_sales_through_the_real_kiosk_and_its_screen(
    browser: Any, kiosk_screen: KioskScreen, screenshots: Path
) -> None:
    page = Page(browser, kiosk_screen, screenshots, "kiosk", wait_s=SALE_WAIT_S)
    page.open()
    # GIVEN the real kiosk idle WHEN the customer pays by smiling THEN approved online
    _sell(page, kiosk_screen, "#method-face", "smile")
    assert page.visible_text("section[data-for=approved] h1") == "Paid EUR 9.00"
    assert not page.element("#offline-banner").is_displayed()
    # WHEN the next customer shows their wallet QR THEN approved online
    _sell(page, kiosk_screen, "#method-customer-qr", "qr")
    # WHEN the ledger goes away and a customer smiles THEN approved offline, the banner shows
    kiosk_screen.setup.ledger.stop()
    _sell(page, kiosk_screen, "#method-face", "offline")
    assert page.element("#approved-offline").is_displayed()
    backlog = kiosk_screen.setup.kiosk.services.queue.status().backlog_count
    assert backlog >= 1
    banner = "Offline: your payment will be confirmed later"
    page.wait_until(lambda: page.visible_text("#offline-banner") == banner)
    page.shot("offline-4-banner")
    records = kiosk_screen.setup.kiosk.services.queue.records()
    assert sorted(r.offline for r in records) == [False, False, True]
    # AND each face sale began with a consent record on the kiosk
    consents = kiosk_screen.setup.kiosk.consents.records()
    assert len(consents) == 2 and {c["version"] for c in consents} == {"face-pay-v1"}


def test_a_demo_face_sale_over_the_step_up_amount_succeeds(kiosk_screen: KioskScreen) -> None:
    from device.checkout import Phase

    # GIVEN the demo kiosk and its customer, who knows their step-up digits
    kiosk = kiosk_screen.setup.kiosk
    phases: list[str] = []
    kiosk.subscribe(lambda view: phases.append(view["phase"]))
    step_up_minor = kiosk.config.face.step_up_amount_minor
    # WHEN they pay a basket at the step-up amount with their face
    kiosk.add_item("Hamper", 1, step_up_minor)
    kiosk.wait_for(Phase.BASKET, slow(5))
    kiosk.pay()
    kiosk.wait_for(Phase.CHOOSE_PAYMENT, slow(5))
    kiosk.choose_payment("face")
    # THEN the keypad asked for the digits, the customer typed them, and the sale is approved
    state = kiosk.wait_for(Phase.APPROVED, SALE_WAIT_S)
    assert "step_up" in phases
    assert state.match is not None and state.match.customer_id == kiosk_screen.setup.customer_id
