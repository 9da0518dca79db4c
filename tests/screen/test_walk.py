"""A shopper's walk through every screen in a real headless Chromium at each kiosk display size
(800x480, 1024x600, 1280x800, portrait 1080x1920), in each language: at every screen no control
is off screen, overlapping or too small, the amount due is in sight on the basket and every
payment screen (sampled every 50 ms), every basket line can be reached, a double tap adds once,
and the smile is accepted no sooner than 1 s after the face screen showed the amount. Every
screen is kept as a screenshot under artifacts/screens/walk-<size>-<lang>-*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.checkout import (
    CodePresented,
    CodeRejected,
    Fault,
    MerchantQrPaid,
    OfflineLimitReached,
    SaleDeclined,
    StillHere,
    Tick,
)
from tests.screen.browser_page import Page
from tests.screen.conftest import CameraFrame, RunningScreen
from tests.screen.layout import (
    PAYMENT_PHASES,
    SIZES,
    amount_shown,
    layout_problems,
    samples,
    start_sampler,
)
from tests.timing import slow

pytestmark = pytest.mark.browser
LANGUAGES = ["en", "zh"]
EXTRA_LINES = [(f"Item {n}", 100 + n) for n in range(1, 30)]  # more than any size shows


@pytest.fixture
def sized(browser: Any, request: pytest.FixtureRequest) -> Iterator[tuple[int, int]]:
    width, height = request.param
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    yield width, height
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


class Walk:
    """The page plus the checks made at every screen."""

    def __init__(self, page: Page, tag: str) -> None:
        self.page, self.tag, self.count = page, tag, 0

    def check(self, name: str, amount: bool | None = None) -> None:
        """No layout problem, the amount in sight where it must be, and a screenshot."""
        page = self.page
        page.wait_until(
            lambda: page.driver.execute_script("return document.fonts.status") == "loaded"
        )
        problems = layout_problems(page.driver)
        assert not problems, f"{self.tag} {name}: {problems}"
        phase = page.element("body").get_attribute("data-phase")
        if amount is None:
            amount = phase in PAYMENT_PHASES or phase == "basket"
        if amount:
            assert amount_shown(page.driver), f"{self.tag} {name}: the amount is not in sight"
        self.count += 1
        page.shot(f"{self.count:02d}-{name}")

    def phase(self, phase: str) -> None:
        self.page.wait_phase(phase)


def _pay_and_choose(walk: Walk) -> None:
    walk.page.tap("pay")
    walk.phase("choose_payment")


@pytest.mark.parametrize("sized", SIZES, indirect=True, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_shopper_walks_every_screen(
    browser: Any,
    sized: tuple[int, int],
    lang: str,
    screen: RunningScreen,
    screenshots: Path,
    camera_frame: CameraFrame,
) -> None:
    width, height = sized
    kiosk = screen.kiosk
    page = Page(browser, screen, screenshots, f"walk-{width}x{height}-{lang}")
    page.open()
    page.wait_phase("idle")
    walk = Walk(page, f"{width}x{height} {lang}")
    if lang != "en":
        page.tap("language")
        page.wait_until(lambda: page.element("body").get_attribute("data-lang") == lang)
    start_sampler(browser)
    walk.check("idle")

    # A double tap on a product adds one; the line merges taps into a quantity.
    product = page.element("section[data-for=idle] [data-testid=product]")
    browser.execute_script("arguments[0].click(); arguments[0].click();", product)
    walk.phase("basket")
    time.sleep(0.4)
    assert [i["quantity"] for i in kiosk.view()["items"]] == [1]
    page.visible("[data-testid=basket-line] [data-testid=quantity-plus]").click()
    page.wait_until(lambda: kiosk.view()["items"][0]["quantity"] == 2)
    walk.check("basket")

    # Many lines: the list scrolls with a cue; every line can be reached; total and Pay stay.
    for name, price in EXTRA_LINES:
        kiosk.add_item(name, 1, price)
    shown = lambda: page.driver.find_elements(page.by.CSS_SELECTOR, "[data-testid=basket-line]")  # noqa: E731
    page.wait_until(lambda: len(shown()) == 1 + len(EXTRA_LINES))
    assert page.element("[data-testid=scroll-cue]").is_displayed(), (
        "no cue that more lines are below"
    )
    walk.check("basket-long")
    _every_line_reachable(page)
    walk.check("basket-scrolled")

    # Emptying the basket asks first.
    page.tap("cancel")
    page.wait_until(lambda: page.element("[data-testid=confirm-empty]").is_displayed())
    walk.check("confirm-empty")
    page.tap("keep-basket")
    page.wait_until(lambda: not page.element("[data-testid=confirm-empty]").is_displayed())
    assert kiosk.view()["phase"] == "basket"

    _pay_and_choose(walk)
    walk.check("choose-payment")
    page.tap("back")
    walk.phase("basket")
    _pay_and_choose(walk)

    # Face payment starts with consent; the camera screen has a privacy notice.
    page.tap("method-face")
    page.wait_until(lambda: page.element("body").get_attribute("data-screen") == "face_consent")
    walk.check("face-consent")
    page.tap("consent-agree")
    walk.phase("face_capture")
    assert kiosk.consents == ["face-pay-v1"]
    kiosk.see_face(camera_frame.box, "come_closer")
    assert page.visible("[data-testid=privacy]").text
    kiosk.see_face(camera_frame.box, "come_closer")
    walk.check("face-capture")
    kiosk.see_face(camera_frame.box, "now_smile")
    walk.phase("smile_prompt")
    kiosk.see_face(camera_frame.box, "now_smile")  # the face stays in view
    walk.check("smile-prompt")
    # The customer smiles at once and keeps smiling: the match is only taken after 1 s.
    _smile_until(kiosk, camera_frame.box, "step_up")
    # (kiosk clock) the face screen with the amount had been up 1 s when the smile was taken
    state = kiosk.state
    assert state.amount_shown_at is not None and state.deadline is not None
    taken_at = state.deadline - state.timeouts.step_up  # the accepted report's time
    assert taken_at - state.amount_shown_at >= 1.0
    walk.phase("step_up")
    # (browser clock) and the shopper had seen the amount for at least 1 s by then
    seen = samples(browser)
    amount_first = next(t for t, phase, shown, _ in seen if shown)
    step_up_first = next(t for t, phase, _, _ in seen if phase == "step_up")
    assert step_up_first - amount_first >= 1000, "the smile counted before 1 s of the amount"
    assert "Alex Example" not in page.visible("section[data-for=step_up] h1").text
    walk.check("step-up")
    page.tap("back")
    walk.phase("choose_payment")

    # Show your QR: a refused code shows a translated reason, never developer text.
    page.tap("method-customer-qr")
    walk.phase("qr_wait")
    kiosk.feed(CodeRejected(time.monotonic(), "WeChat Pay codes are ...", "wallet_not_accepted"))
    page.wait_until(lambda: page.visible_text("section[data-for=qr_wait] .notice") != "")
    assert "WeChat" not in page.visible("section[data-for=qr_wait] .notice").text
    walk.check("qr-wait")
    page.tap("back")
    walk.phase("choose_payment")

    # Scan our QR, then a decline: pay another way.
    page.tap("method-merchant-qr")
    walk.phase("merchant_qr")
    walk.check("merchant-qr")
    kiosk.feed(MerchantQrPaid(time.monotonic(), "ref-1"))
    walk.phase("authorizing")
    walk.check("authorizing")
    kiosk.feed(SaleDeclined(time.monotonic(), "insufficient funds", "insufficient_funds"))
    walk.phase("declined")
    walk.check("declined", amount=False)
    page.tap("pay-another-way")
    walk.phase("choose_payment")

    # Offline: the banner says the payment is confirmed later; an offline refusal says why.
    kiosk.set_link(False, backlog_count=3)
    page.wait_until(lambda: page.element("[data-testid=offline]").is_displayed())
    page.tap("method-customer-qr")
    walk.phase("qr_wait")
    kiosk.feed(CodePresented(time.monotonic(), "token", "T-1", "customer-9"))
    walk.phase("authorizing")
    kiosk.feed(
        OfflineLimitReached(time.monotonic(), "offline sale of 5040 is over ... (minor units)")
    )
    walk.phase("offline_limit")
    assert "minor units" not in page.visible("section[data-for=offline_limit] .notice").text
    walk.check("offline-limit", amount=False)
    page.tap("pay-another-way")
    walk.phase("choose_payment")
    page.tap("method-customer-qr")
    walk.phase("qr_wait")
    kiosk.feed(CodePresented(time.monotonic(), "token", "T-2", "customer-9"))
    kiosk.approve(offline=True)
    walk.phase("approved")
    walk.check("approved-offline", amount=False)

    # Every sample taken on the basket or in a payment phase had the amount in sight.
    pinned = PAYMENT_PHASES | {"basket"}
    missing = [s for s in samples(browser) if s[1] in pinned and not s[2]]
    assert not missing, f"amount not in sight in {len(missing)} samples, first {missing[0]}"
    assert {s[1] for s in samples(browser)} >= PAYMENT_PHASES

    # "Are you still there?" before a timeout; the next customer gets the default language.
    kiosk.set_link(True, backlog_count=0)
    kiosk.feed(Tick(time.monotonic() + 60))
    walk.phase("idle")
    page.wait_until(lambda: page.element("body").get_attribute("data-lang") == "en")
    if lang != "en":  # this shopper picks their language again
        page.tap("language")
        page.wait_until(lambda: page.element("body").get_attribute("data-lang") == lang)
    kiosk.add_item("Green tea", 1, 250)
    walk.phase("basket")
    kiosk.feed(StillHere(time.monotonic() - 110))  # the basket now times out in 10 s
    page.wait_until(lambda: page.element("[data-testid=still-there]").is_displayed())
    walk.check("still-there", amount=False)
    page.tap("still-here")
    page.wait_until(lambda: not page.element("[data-testid=still-there]").is_displayed())

    # Something inside the kiosk fails while recording: the error screen.
    _pay_and_choose(walk)
    page.tap("method-customer-qr")
    walk.phase("qr_wait")
    kiosk.feed(CodePresented(time.monotonic(), "token", "T-3", "customer-9"))
    walk.phase("authorizing")
    kiosk.feed(Fault(time.monotonic(), "AuthorizeSale failed: disk I/O error"))
    walk.phase("error")
    assert "disk" not in page.visible("section[data-for=error] .notice").text
    walk.check("error", amount=False)

    # The consent text and the operator's PIN page fit as well.
    page.driver.get(screen.url + "/consent")
    page.wait_until(lambda: page.element("body").get_attribute("data-screen") == "consent")
    walk.check("consent-page", amount=False)
    page.driver.get(screen.url + "/operator")
    page.wait_until(lambda: page.element("#pin").is_displayed())
    if lang != "en":
        page.click("#lang")
    walk.check("operator-pin", amount=False)


def _smile_until(kiosk: Any, box: list[int], phase: str) -> None:
    """The face stays in view and the pipeline reports a match every 100 ms until the checkout
    takes it."""
    deadline = time.monotonic() + slow(5)
    while kiosk.view()["phase"] != phase:
        assert time.monotonic() < deadline, f"the smile was never taken ({kiosk.view()['phase']})"
        kiosk.see_face(box, "now_smile")
        kiosk.decide_face("step_up")
        time.sleep(0.1)


def _every_line_reachable(page: Page) -> None:
    """Scroll each basket line into view: it is then wholly inside the list and the screen."""
    lines = page.driver.find_elements(page.by.CSS_SELECTOR, "[data-testid=basket-line]")
    for line in lines:
        inside = page.driver.execute_script(
            """
            const line = arguments[0], list = line.closest('.items');
            line.scrollIntoView({block: 'nearest'});
            const r = line.getBoundingClientRect(), s = list.getBoundingClientRect();
            return r.top >= s.top - 1 && r.bottom <= s.bottom + 1 && r.bottom <= innerHeight;
            """,
            line,
        )
        assert inside, f"basket line {line.text!r} cannot be brought into view"
