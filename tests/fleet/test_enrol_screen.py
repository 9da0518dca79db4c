"""Enrolment on the kiosk's screen in headless Chromium, with a synthetic camera playing the
demo frames through the real face models: consent, guided capture, step-up, confirmation; the
enrolment then travels to kiosk B of the same merchant, which recognises the customer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from device.config import KioskConfig
from device.enrolment import CONSENT_TEXT_VERSION
from device.screen.config import ScreenConfig
from device.screen.enrol import EnrolmentService
from device.screen.server import create_screen_app, serve_screen_in_thread
from models.gallery import Gallery
from tests.fleet.conftest import (
    FleetLedger,
    init_kiosk,
    last_json,
    sync_until_drained,
    write_frames,
)
from tests.screen.browser_page import Page
from tests.screen.conftest import browser, screenshots  # noqa: F401
from tests.screen.step_kiosk import StepKiosk
from tests.timing import slow

pytestmark = pytest.mark.browser


class SyntheticCamera:
    """Plays recorded frames in a loop, as the simulated camera driver does."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self._frames = itertools.cycle(frames)

    def __call__(self) -> np.ndarray:
        return next(self._frames)


@pytest.fixture()
def kiosk_a(fleet_ledger: FleetLedger, tmp_path: Path) -> Path:
    data_dir = tmp_path / "kiosk-A"
    init_kiosk(fleet_ledger, data_dir, "shop-1")
    return data_dir


@pytest.fixture()
def enrol_screen(
    kiosk_a: Path, engine: Any, demo_frames: list[np.ndarray]
) -> Iterator[tuple[Any, EnrolmentService]]:
    key = kiosk_a / KioskConfig().secrets.template_key_file
    gallery = Gallery.open(kiosk_a / "gallery.db", key)
    service = EnrolmentService(engine, gallery, SyntheticCamera(demo_frames[:6]), "kiosk-a")
    app = create_screen_app(
        StepKiosk(), ScreenConfig(port=0, self_enrolment=True), None, enrolment=service
    )
    server = serve_screen_in_thread(app, "127.0.0.1", 0)
    yield server, service
    server.stop()
    gallery.close()


def test_a_customer_enrols_on_the_screen_and_is_recognised_at_another_kiosk(
    fleet_ledger: FleetLedger,
    kiosk_a: Path,
    enrol_screen: tuple[Any, EnrolmentService],
    browser: Any,  # noqa: F811
    screenshots: Path,  # noqa: F811
    demo_frames: list[np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from device.cli import main as smilepay

    server, service = enrol_screen
    page = Page(browser, server, screenshots, "enrol", wait_s=slow(60.0))
    step = lambda: page.element("body").get_attribute("data-enrol-step")  # noqa: E731
    # GIVEN the enrolment page WHEN the customer starts and reads the consent
    page.open("/enrol")
    page.wait_until(lambda: step() == "cancelled")
    page.click("#enrol-start")
    page.wait_until(lambda: step() == "consent")
    assert CONSENT_TEXT_VERSION in page.visible_text("#consent-text")
    page.shot("1-consent")
    # WHEN they agree THEN the consent is on record before any capture
    page.click("#enrol-accept")
    page.wait_until(lambda: step() in ("capture", "step_up"))
    customer_id = service.state.customer_id
    assert customer_id is not None
    assert [c.text_version for c in service.gallery.consents(customer_id)] == [CONSENT_TEXT_VERSION]
    # WHEN the guided capture has three good frames THEN the step-up keypad follows
    page.wait_until(lambda: step() == "step_up")
    page.shot("2-step-up")
    page.element("#enrol-digits").send_keys("4711")
    page.click("#enrol-digits-ok")
    page.wait_until(lambda: step() == "confirm")
    page.element("#enrol-name").send_keys("Astronaut")
    page.click("#enrol-confirm")
    page.wait_until(lambda: step() == "done")
    page.shot("3-done")
    assert service.gallery.template_or_none(customer_id) is not None
    # WHEN kiosk A and then kiosk B of the same merchant sync
    kiosk_b = tmp_path / "kiosk-B"
    init_kiosk(fleet_ledger, kiosk_b, "shop-1")
    sync_until_drained(fleet_ledger, kiosk_a)
    sync_until_drained(fleet_ledger, kiosk_b)
    # THEN B recognises the customer enrolled on A's screen
    frames = write_frames(tmp_path / "frames", demo_frames)
    assert smilepay(["face", "replay", str(frames), "--data-dir", str(kiosk_b), "--json"]) == 0
    at_b = last_json(capsys.readouterr().out)
    assert (at_b["customer_id"], at_b["match"]) == (customer_id, "Astronaut")
    # AND the ledger holds the step-up secret (kiosks never do)
    show = ["ledger", "customer", "show", customer_id, *fleet_ledger.operator_args(), "--json"]
    assert smilepay(show) == 0
    assert last_json(capsys.readouterr().out)["enrolment"]["step_up"] is True
