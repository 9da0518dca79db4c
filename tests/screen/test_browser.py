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


def _agree_to_face_payment(page: Page) -> None:
    page.click("#method-face")
    page.wait_until(lambda: page.element("body").get_attribute("data-screen") == "face_consent")
    page.tap("consent-agree")
    page.wait_phase("face_capture")


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
    assert "Green tea" in page.visible_text("#items")
    assert page.visible_text("[data-testid=amount]") == "EUR 12.50"
    page.shot("02-basket")
    # WHEN the customer taps pay, then "smile to pay", and agrees to face payment
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.shot("03-choose-payment")
    _agree_to_face_payment(page)
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
    # WHEN the match needs a step-up THEN the keypad takes the digits (the name is masked)
    time.sleep(1.0)  # the amount has been on screen 1 s: now the smile counts
    screen.kiosk.decide_face("step_up", name="Alex Example")
    page.wait_phase("step_up")
    assert page.visible_text("section[data-for=step_up] h1") == "Hello A. E***"
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
    _agree_to_face_payment(page)
    time.sleep(1.0)
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


def test_the_choice_offers_only_the_methods_this_sale_allows(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    # GIVEN a sale whose POS allows only the customer's QR code (terminal mode)
    screen.kiosk.methods = ("customer_qr",)
    page = _page(browser, screen, screenshots, "methods")
    _fill_basket(page)
    # WHEN the customer reaches the payment choice
    page.click("#pay")
    page.wait_phase("choose_payment")
    # THEN only that method is offered
    assert page.element("#method-customer-qr").is_displayed()
    assert not page.element("#method-face").is_displayed()
    assert not page.element("#method-merchant-qr").is_displayed()
    page.shot("01-one-method")


def test_an_offline_sale_tells_the_customer_it_is_confirmed_later_never_the_limits(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    # GIVEN the ledger is unreachable with one sale waiting
    screen.kiosk.online = False
    screen.kiosk.backlog["count"], screen.kiosk.backlog["amount_minor"] = 1, 400
    page = _page(browser, screen, screenshots, "offline")
    # WHEN a customer fills a basket THEN the banner says the payment is confirmed later
    _fill_basket(page)
    banner = page.visible_text("#offline-banner")
    assert banner == "Offline: your payment will be confirmed later"
    page.shot("01-offline-basket")
    # WHEN they pay with a code and the queue records the sale offline
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.click("#method-customer-qr")
    page.wait_phase("qr_wait")
    screen.kiosk.feed(CodePresented(time.monotonic(), "token", "TOKEN-1", "customer-9"))
    screen.kiosk.approve(offline=True)
    # THEN approved, with the offline notice
    page.wait_phase("approved")
    assert page.element("#approved-offline").is_displayed()
    page.shot("02-offline-approved")
    # AND once the link is back the banner goes, without a tap or a reload
    screen.kiosk.set_link(True, backlog_count=0)
    page.wait_until(lambda: not page.element("#offline-banner").is_displayed())


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
    # WHEN the offline limit forbids the sale THEN the customer reads why, in words
    raw = "offline sale of 5040 is over the offline per-sale limit of 5000 (minor units)"
    screen.kiosk.feed(OfflineLimitReached(time.monotonic(), raw))
    page.wait_phase("offline_limit")
    notice = page.visible_text("section[data-for=offline_limit] .notice")
    assert notice.startswith("We are offline and cannot take this payment now")
    assert "5040" not in notice and "minor units" not in notice
    page.shot("01-offline-limit")
    # WHEN they pay another way and the ledger declines THEN the decline reason is on screen
    page.tap("pay-another-way")
    page.wait_phase("choose_payment")
    page.click("#method-customer-qr")
    page.wait_phase("qr_wait")
    screen.kiosk.feed(CodePresented(time.monotonic(), "wallet", "W-2"))
    screen.kiosk.feed(SaleDeclined(time.monotonic(), "insufficient funds", "insufficient_funds"))
    page.wait_phase("declined")
    notice = page.visible_text("section[data-for=declined] .notice")
    assert notice == "Not enough balance for this payment"
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
    _agree_to_face_payment(page)
    screen.kiosk.see_face(camera_frame.box, "now_smile")
    page.wait_phase("smile_prompt")
    assert page.visible_text("#guidance") == "现在请微笑，支付 EUR 12.50"
    page.shot("03-now-smile")
    # WHEN the sale ends and the kiosk is idle again THEN the next customer starts in English
    screen.kiosk.cancel()
    page.wait_phase("idle")
    page.wait_until(lambda: page.visible_text("section[data-for=idle] h1") == "Smile to pay")


def test_the_consent_page_says_what_is_stored_for_how_long_and_how_to_delete_it(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = Page(browser, screen, screenshots, "consent")
    page.open("/consent")
    text = "section[data-for=consent] .consent-text"
    page.wait_until(lambda: "numeric template" in page.visible_text(text))
    for words in ("What we store", "How long", "How to delete"):
        assert words in page.visible_text(text)
    page.shot("01-en")
    page.click("#lang")
    page.wait_until(lambda: "数字模板" in page.visible_text(text))
    page.shot("02-zh")


def test_declining_face_payment_leaves_the_qr_ways_and_records_nothing(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = _page(browser, screen, screenshots, "consent-declined")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    page.tap("method-face")
    page.wait_until(lambda: page.element("body").get_attribute("data-screen") == "face_consent")
    page.tap("consent-decline")
    page.wait_until(lambda: page.element("body").get_attribute("data-screen") == "choose_payment")
    assert not page.element("#method-face").is_displayed()
    assert page.element("#method-customer-qr").is_displayed()
    assert page.element("#method-merchant-qr").is_displayed()
    assert screen.kiosk.consents == [] and screen.kiosk.view()["phase"] == "choose_payment"
    page.shot("01-qr-ways-left")


def test_the_operator_page_unlocks_with_the_pin_and_requests_a_sync(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = Page(browser, screen, screenshots, "operator")
    page.driver.get(screen.url + "/operator")
    # WHEN a wrong PIN is typed THEN the page stays locked and says so
    page.element("#pin").send_keys("0000")
    page.click("#unlock")
    page.wait_until(lambda: page.visible_text("#login-error") == "Wrong PIN")
    # WHEN the right PIN is typed THEN the status shows in words and "sync now" reaches the kiosk
    page.element("#pin").send_keys(OPERATOR_PIN)
    page.click("#unlock")
    page.wait_until(lambda: "Camera" in page.visible_text("#health"))
    assert not page.element("#login").is_displayed()
    summary = page.visible_text("#summary")
    assert "Payments waiting to sync" in summary and "backlog" not in summary
    assert "Offline selling still allowed EUR 200.00 in 20 more payments" in summary
    assert "s ago" in page.visible_text("#health")
    page.click("#sync-now")
    page.wait_until(lambda: screen.kiosk.sync_requests == 1)
    page.shot("01-status")
    # WHEN the manager logs out THEN the page locks again
    page.click("#logout")
    page.wait_until(lambda: page.element("#login").is_displayed())
    # WHEN someone keeps typing wrong PINs THEN this client is locked out with a countdown
    for _ in range(5):
        page.element("#pin").send_keys("1111")
        page.click("#unlock")
        time.sleep(0.2)
    page.wait_until(lambda: "Try again in" in page.visible_text("#login-error"))
    assert not page.element("#unlock").is_enabled()
    page.shot("02-locked-out")


def test_a_lost_camera_sends_the_customer_back_to_choose_with_the_reason_in_their_language(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = _page(browser, screen, screenshots, "camera-lost")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    _agree_to_face_payment(page)
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


def test_the_operator_page_is_reached_from_the_kiosk_screen_by_holding_the_brand(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    page = _page(browser, screen, screenshots, "gesture")
    # WHEN staff hold the brand for 3 s THEN the operator page asks for the PIN
    ActionChains(browser).click_and_hold(page.element("#brand")).pause(3.3).release().perform()
    page.wait_until(lambda: browser.current_url.endswith("/operator"))
    page.wait_until(lambda: page.element("#pin").is_displayed())


def test_a_lost_event_stream_shows_out_of_service_within_5_s_and_recovers(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    from device.screen.config import ScreenConfig
    from device.screen.server import create_screen_app, serve_screen_in_thread

    page = _page(browser, screen, screenshots, "out-of-service")
    _fill_basket(page)
    port = int(screen.url.rsplit(":", 1)[1])
    secret = screen.server.app.state.screen_secret
    # WHEN the kiosk's screen server dies
    screen.server.stop()
    died = time.monotonic()
    page.wait_until(lambda: page.element("[data-testid=out-of-service]").is_displayed())
    # THEN "out of service" shows within 5 s
    assert time.monotonic() - died < 5.0
    page.shot("01-out-of-service")
    # WHEN it comes back (same boot secret) THEN the page recovers by itself
    app = create_screen_app(screen.kiosk, ScreenConfig(port=0), OPERATOR_PIN, secret)
    screen.server = serve_screen_in_thread(app, "127.0.0.1", port)
    page.wait_until(lambda: not page.element("[data-testid=out-of-service]").is_displayed())
    page.wait_phase("basket")


@pytest.mark.parametrize(("currency", "shown"), [("KWD", "KWD 12.500"), ("JPY", "JPY 12500")])
def test_money_follows_the_currency_minor_units(
    browser: Any, screenshots: Path, currency: str, shown: str
) -> None:
    from tests.screen.conftest import start_screen
    from tests.screen.step_kiosk import StepKiosk

    running = start_screen(StepKiosk(currency=currency))
    try:
        page = _page(browser, running, screenshots, f"money-{currency}")
        running.kiosk.add_item("Gift", 1, 12500)
        page.wait_phase("basket")
        assert page.visible_text("[data-testid=amount]") == shown
        assert page.visible_text("[data-testid=basket-line] .item-amount") == shown
    finally:
        running.server.stop()


def test_nobody_in_front_of_the_camera_is_asked_before_the_sale_is_dropped(
    browser: Any, screen: RunningScreen, screenshots: Path
) -> None:
    page = _page(browser, screen, screenshots, "face-still-there")
    _fill_basket(page)
    page.click("#pay")
    page.wait_phase("choose_payment")
    _agree_to_face_payment(page)
    # WHEN no face is seen for 3 of the 8 s walk-away time
    # THEN the screen asks, saying the sale will be dropped
    page.wait_until(lambda: page.element("[data-testid=still-there]").is_displayed())
    assert "This payment is cancelled in" in page.visible_text("[data-testid=still-there]")
    page.shot("01-still-there")
    # WHEN the customer answers THEN the walk-away clock starts again and the sale stays
    page.tap("still-here")
    page.wait_until(lambda: not page.element("[data-testid=still-there]").is_displayed())
    assert screen.kiosk.view()["phase"] == "face_capture"
