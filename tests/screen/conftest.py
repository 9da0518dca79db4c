"""Fixtures for the screen: a StepKiosk served by real uvicorn, a real headless Chromium, and a
camera frame made from a real photo with the face box found by OpenCV."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from device.screen.config import ScreenConfig
from device.screen.server import ScreenServer, create_screen_app, serve_screen_in_thread
from tests.conftest import ROOT
from tests.screen.step_kiosk import StepKiosk

OPERATOR_PIN = "2468"
SCREENSHOTS = ROOT / "artifacts" / "screens"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,800",
    "--force-device-scale-factor=1",
)


@dataclass
class CameraFrame:
    """A 640x480 JPEG of a real face and the face's box in it."""

    jpeg: bytes
    box: list[int]


@pytest.fixture(scope="session")
def camera_frame(shared_data: Path) -> CameraFrame:
    import cv2

    image = cv2.imread(str(shared_data / "faces" / "press" / "examples_obama-480p.jpg"))
    assert image is not None, "cannot read the face photo"
    left = (image.shape[1] - 640) // 2
    frame = image[:480, left : left + 640]
    cascade = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    )
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    faces = cascade.detectMultiScale(grey, 1.1, 5, minSize=(60, 60))
    assert len(faces) == 1, f"expected one face in the photo, found {len(faces)}"
    ok, jpeg = cv2.imencode(".jpg", frame)
    assert ok
    return CameraFrame(jpeg.tobytes(), [int(v) for v in faces[0]])


@dataclass
class RunningScreen:
    """A StepKiosk and the screen server in front of it."""

    kiosk: StepKiosk
    server: ScreenServer

    @property
    def url(self) -> str:
        return self.server.url


def start_screen(kiosk: StepKiosk, pin: str | None = OPERATOR_PIN) -> RunningScreen:
    """Serve `kiosk`'s screen on an ephemeral port."""
    app = create_screen_app(kiosk, ScreenConfig(port=0), pin)
    return RunningScreen(kiosk, serve_screen_in_thread(app, "127.0.0.1", 0))


@pytest.fixture
def screen(camera_frame: CameraFrame) -> Iterator[RunningScreen]:
    running = start_screen(StepKiosk(frame_jpeg=camera_frame.jpeg))
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium driven by Debian's chromedriver, with a fresh profile."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="smilepay-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
