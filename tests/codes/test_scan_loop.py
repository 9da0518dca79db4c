"""QRScanLoop: continuous scanning of a camera while the kiosk waits for a QR payment."""

from __future__ import annotations

import queue
from pathlib import Path

import cv2
import numpy as np

from device.codes.degrade import place_code, qr_modules
from device.codes.qr import DecodedCode
from device.codes.scan import QRScanLoop
from drivers.camera.replay import ReplayCamera
from drivers.camera.supervisor import CameraSupervisor
from drivers.camera.synthetic import SyntheticCamera
from tests.timing import slow


def code_frame(payload: bytes, seed: int = 0) -> np.ndarray:
    grey = place_code(qr_modules(payload), 4.0, np.random.default_rng(seed), centred=False)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def blank_frame() -> np.ndarray:
    return np.full((480, 640, 3), 128, np.uint8)


def test_each_payload_is_reported_once_while_it_stays_in_view() -> None:
    # GIVEN a camera showing nothing, then the same code for three frames, then another code
    camera = SyntheticCamera()
    camera.start()
    camera.feed_many(
        [blank_frame(), *(code_frame(b"pay-1", s) for s in range(3)), code_frame(b"pay-2")]
    )
    found: list[DecodedCode] = []
    loop = QRScanLoop(camera, found.append, repeat_after_s=60)
    # WHEN every frame is scanned
    for _ in range(5):
        loop.scan_once(timeout_s=1.0)
    # THEN each payload was reported once, in order
    assert [c.data for c in found] == [b"pay-1", b"pay-2"]
    assert loop.frames_scanned == 5


def test_thread_scans_until_stopped_and_reports_through_the_callback() -> None:
    # GIVEN a scan loop running in its thread on a synthetic camera
    camera = SyntheticCamera()
    camera.start()
    found: queue.Queue[DecodedCode] = queue.Queue()
    loop = QRScanLoop(camera, found.put)
    loop.start()
    try:
        # WHEN a code is shown
        camera.feed(code_frame(b"SPT1.threaded"))
        # THEN it is reported
        assert found.get(timeout=slow(10)).data == b"SPT1.threaded"
    finally:
        loop.stop()
    # AND after stop no more frames are consumed
    camera.feed(code_frame(b"late"))
    assert camera.read(0.5) is not None


def test_a_lost_camera_is_reported_and_scanning_resumes_after_reconnect() -> None:
    # GIVEN a supervised camera that is unplugged while scanning
    camera = SyntheticCamera()
    supervisor = CameraSupervisor(camera, backoff_initial_s=0.01, backoff_max_s=0.02)
    supervisor.start()
    errors: list[str] = []
    found: list[DecodedCode] = []
    loop = QRScanLoop(supervisor, found.append, on_camera_error=errors.append)
    camera.unplug()
    loop.scan_once(timeout_s=0.05)
    assert errors and "unplugged" in errors[0]
    assert supervisor.status.state == "unavailable"
    # WHEN the camera comes back with a code in view
    camera.replug()
    camera.feed(code_frame(b"after-replug"))
    loop.scan_once(timeout_s=1.0)
    # THEN the code is read and the camera is running again
    assert [c.data for c in found] == [b"after-replug"]
    assert supervisor.available


def test_scans_a_replayed_folder_of_real_photos(shared_data: Path) -> None:
    # GIVEN the replay driver over the ZXing qrcode-3 photos
    folder = shared_data / "qr" / "qrcode-3"
    camera = ReplayCamera(folder, fps=1000, loop=False)
    camera.start()
    found: list[DecodedCode] = []
    loop = QRScanLoop(camera, found.append, repeat_after_s=0)
    # WHEN the first five frames are scanned
    for _ in range(5):
        loop.scan_once(timeout_s=1.0)
    # THEN the first five expected texts were read, in order
    expected = [(folder / f"0{n}.txt").read_bytes() for n in range(1, 6)]
    assert [c.data for c in found] == expected
