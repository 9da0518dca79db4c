"""The customer's screen in a real headless Chromium: the page follows the kiosk live over SSE,
taps reach the kiosk, and every screen is kept as a screenshot under artifacts/screens/."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from device.checkout import (
    CameraLost,
    CodePresented,
    MerchantQrPaid,
    OfflineLimitReached,
    SaleDeclined,
    Tick,
)
from tests.screen.browser_page import Page
from tests.screen.conftest import OPERATOR_PIN, CameraFrame, RunningScreen

pytestmark = pytest.mark.browser


def _page(browser: Any, screen: RunningScreen, shots: Path, prefix: str) -> Page:
    page = Page(browser, screen, shots, prefix)
    page.open()
    page.wait_phase("idle")
    return page


def _fill_basket(page: Page) -> None:
    page.screen.kiosk.add_item("Green tea", 2, 250)  # what the barcode scanner would do
    page.screen.kiosk.add_item("Sesame bun", 1, 750)
    page.wait_phase("basket")


def test_a_smile_payment_walks_every_face_screen_from_basket_to_approved(
    browser: Any, screen: RunningScreen, screenshots: Path, camera_frame: CameraFrame
) -> None:
    # GIVEN the idle screen
    page = _page(browser, screen, screenshots, "smile")
    assert "Smile to pay" in page.visible_text("section[data-for=idle]")
    page.shot("01-idle")
    # WHEN items are scanned THEN the basket lists them with the total
    _fill_basket(page)
    assert "2 × Green tea" in page.visible_text("#items")
    assert page.visible_text("section[data-for=basket] [data-bind=total]") == "EUR 12.50"
    page.shot("02-basket")
    # WHEN the customer taps pay, then "smile to pay"
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.shot("03-choose-payment")
    page.click("#method-face")
    page.wait_phase("face_capture")
    # THEN the live camera view shows the frame with the face box and the guidance
    screen.kiosk.see_face(camera_frame.box, "come_closer")
    page.wait_until(lambda: page.visible_text("#guidance") == "Come closer")
    page.wait_until(
        lambda: (
            page.driver.execute_script(
                "return document.querySelector('#camera-face .camera-frame').naturalWidth"
            )
            == 640
        )
    )
    assert page.element("#camera-face .face-box").is_displayed()
    page.shot("04-face-come-closer")
    screen.kiosk.see_face(camera_frame.box, "now_smile")
    page.wait_phase("smile_prompt")
    assert page.visible_text("#guidance") == "Now smile to pay EUR 12.50"
    page.shot("05-face-now-smile")
    # WHEN the match needs a step-up THEN the keypad takes the digits
    screen.kiosk.decide_face("step_up", name="Alex")
    page.wait_phase("step_up")
    assert page.visible_text("section[data-for=step_up] h1") == "Hello Alex"
    for key in "4321":
        page.click(f"#keypad [data-key='{key}']")
    page.shot("06-step-up-keypad")
    page.click("#keypad [data-key=ok]")
    page.wait_phase("authorizing")
    page.shot("07-authorizing")
    # WHEN the sale is recorded THEN the approved screen shows the amount
    screen.kiosk.approve()
    page.wait_phase("approved")
    assert page.visible_text("section[data-for=approved] h1") == "Paid EUR 12.50"
    assert not page.element("#approved-offline").is_displayed()
    page.shot("08-approved")


def test_a_wrong_step_up_code_says_so_and_counts_down_the_attempts(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = _page(browser, screen, screenshots, "step-up")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-face")
    page.wait_phase("face_capture")
    screen.kiosk.decide_face("step_up")
    page.wait_phase("step_up")
    # WHEN the customer types the wrong digits
    for key in "1111":
        page.click(f"#keypad [data-key='{key}']")
    page.click("#keypad [data-key=ok]")
    # THEN the screen says it did not match and shows the attempts left
    page.wait_until(lambda: page.visible_text("section[data-for=step_up] .notice") != "")
    assert page.visible_text("section[data-for=step_up] .notice") == "That did not match"
    assert page.visible_text("[data-bind=attempts]") == "Attempts left: 2"
    page.shot("01-wrong-digits")


def test_qr_payments_show_our_code_or_wait_for_theirs_then_approve(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    # GIVEN a basket, WHEN the customer picks "scan our QR"
    page = _page(browser, screen, screenshots, "qr")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-merchant-qr")
    page.wait_phase("merchant_qr")
    # THEN our payment QR is drawn with the amount
    page.wait_until(lambda: page.element("#merchant-qr").get_attribute("naturalWidth") != "0")
    assert page.element("#merchant-qr").get_attribute("src").startswith("data:image/svg+xml")
    assert page.visible_text("section[data-for=merchant_qr] h1") == "Scan to pay EUR 12.50"
    page.shot("01-merchant-qr")
    # WHEN the phone pays THEN approved
    screen.kiosk.feed(MerchantQrPaid(time.monotonic(), "wallet-ref-1"))
    screen.kiosk.approve()
    page.wait_phase("approved")
    page.shot("02-merchant-qr-approved")
    # AND the next customer shows their own code instead
    screen.kiosk.feed(Tick(time.monotonic() + 60))  # the result screen times out to idle
    page.wait_phase("idle")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-customer-qr")
    page.wait_phase("qr_wait")
    page.shot("03-show-your-qr")
    screen.kiosk.feed(CodePresented(time.monotonic(), "wallet", "WALLET-CODE-1"))
    page.wait_phase("authorizing")
    screen.kiosk.approve()
    page.wait_phase("approved")


def test_an_offline_sale_shows_the_banner_backlog_limits_and_settle_later(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    # GIVEN the ledger is unreachable with one sale waiting
    screen.kiosk.online = False
    screen.kiosk.backlog.update(count=1, amount_minor=400)
    page = _page(browser, screen, screenshots, "offline")
    # WHEN a customer fills a basket THEN the banner shows the backlog and the limits left
    _fill_basket(page)
    banner = page.visible_text("#offline-banner")
    assert banner == (
        "Offline · waiting to sync: 1 (EUR 4.00) · can still take EUR 200.00 in 20 more"
    )
    page.shot("01-offline-basket")
    # WHEN they pay with a code and the queue records the sale offline, to settle later
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-customer-qr")
    page.wait_phase("qr_wait")
    screen.kiosk.feed(CodePresented(time.monotonic(), "token", "TOKEN-1", "customer-9"))
    screen.kiosk.approve(offline=True, settle_later=True)
    # THEN approved, with the offline and settle-later notices, and the backlog grew
    page.wait_phase("approved")
    assert page.element("#approved-offline").is_displayed()
    assert page.element("#settle-later").is_displayed()
    page.wait_until(lambda: "sync: 2 (EUR 16.50)" in page.visible_text("#offline-banner"))
    page.shot("02-offline-approved")


def test_offline_limit_and_decline_screens_show_the_reason(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = _page(browser, screen, screenshots, "refused")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-customer-qr")
    page.wait_phase("qr_wait")
    screen.kiosk.feed(CodePresented(time.monotonic(), "wallet", "W-1"))
    # WHEN the offline limit forbids the sale THEN the reason is on screen
    screen.kiosk.feed(OfflineLimitReached(time.monotonic(), "offline limit: EUR 200.00 reached"))
    page.wait_phase("offline_limit")
    assert "EUR 200.00 reached" in page.visible_text("section[data-for=offline_limit] .notice")
    page.shot("01-offline-limit")
    # WHEN the next try is declined by the ledger THEN the decline reason is on screen
    page.click("section[data-for=offline_limit] [data-action=cancel]")
    page.wait_phase("idle")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-customer-qr")
    page.wait_phase("qr_wait")
    screen.kiosk.feed(CodePresented(time.monotonic(), "wallet", "W-2"))
    screen.kiosk.feed(SaleDeclined(time.monotonic(), "insufficient funds"))
    page.wait_phase("declined")
    assert page.visible_text("section[data-for=declined] .notice") == "insufficient funds"
    page.shot("02-declined")


def test_the_language_toggle_switches_the_screen_to_simplified_chinese(
    browser: Any, screen: RunningScreen, screenshots: Path, camera_frame: CameraFrame
) -> None:
    page = _page(browser, screen, screenshots, "zh")
    page.click("#lang")
    page.wait_until(lambda: page.visible_text("section[data-for=idle] h1") == "微笑支付")
    page.shot("01-idle")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    assert page.visible_text("section[data-for=choose_payment] h1") == "请选择付款方式"
    page.shot("02-choose-payment")
    page.click("#method-face")
    page.wait_phase("face_capture")
    screen.kiosk.see_face(camera_frame.box, "now_smile")
    page.wait_phase("smile_prompt")
    assert page.visible_text("#guidance") == "现在请微笑，支付 EUR 12.50"
    page.shot("03-now-smile")


def test_the_consent_page_shows_the_enrollment_consent_text(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = Page(browser, screen, screenshots, "consent")
    page.open("/consent")
    page.wait_until(lambda: "numeric template" in page.visible_text(".consent-text"))
    assert page.element("#consent-agree").is_displayed()
    page.shot("01-en")
    page.click("#lang")
    page.wait_until(lambda: "数字模板" in page.visible_text(".consent-text"))
    page.shot("02-zh")


def test_the_operator_page_unlocks_with_the_pin_and_requests_a_sync(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = Page(browser, screen, screenshots, "operator")
    page.driver.get(screen.url + "/operator")
    # WHEN a wrong PIN is typed THEN the page stays locked and says so
    page.element("#pin").send_keys("0000")
    page.click("#unlock")
    page.wait_until(lambda: page.visible_text("#login-error") == "wrong PIN")
    # WHEN the right PIN is typed THEN the status shows and "sync now" reaches the kiosk
    page.element("#pin").send_keys(OPERATOR_PIN)
    page.click("#unlock")
    page.wait_until(lambda: "camera" in page.visible_text("#health"))
    assert not page.element("#login").is_displayed()
    assert "backlog.count" in page.visible_text("#summary")
    page.click("#sync-now")
    page.wait_until(lambda: screen.kiosk.sync_requests == 1)
    page.shot("01-status")


def test_every_control_fits_the_7_inch_800x480_display_without_scrolling(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    metrics = {"width": 800, "height": 480, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        page = _page(browser, screen, screenshots, "800x480")
        fits = "const s = document.querySelector('.screen.active');"
        fits += "return s.scrollHeight <= s.clientHeight && s.scrollWidth <= s.clientWidth;"
        _fill_basket(page)
        page.click("#pay")
        page.wait_phase("choose_payment")
        assert browser.execute_script(fits), "choose-payment screen scrolls at 800x480"
        page.shot("01-choose-payment")
        page.click("#method-face")
        page.wait_phase("face_capture")
        screen.kiosk.decide_face("step_up")
        page.wait_phase("step_up")
        assert browser.execute_script(fits), "step-up keypad scrolls at 800x480"
        page.shot("02-step-up")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_lost_camera_sends_the_customer_back_to_choose_with_the_reason_in_their_language(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = _page(browser, screen, screenshots, "camera-lost")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-face")
    page.wait_phase("face_capture")
    # WHEN the camera disappears mid-capture
    screen.kiosk.feed(CameraLost(time.monotonic(), "/dev/video0 gone"))
    # THEN back to the choice, with a notice the customer can act on
    page.wait_phase("choose_payment")
    notice = "section[data-for=choose_payment] .notice"
    assert page.visible_text(notice) == "Camera unavailable: please pay with a QR code"
    page.shot("01-en")
    page.click("#lang")
    page.wait_until(lambda: page.visible_text(notice) == "摄像头不可用，请使用二维码付款")
    page.shot("02-zh")
