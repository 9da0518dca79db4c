"""picamera2 driver: what can be checked without a Raspberry Pi camera."""

from __future__ import annotations

import importlib.util
import sys
from typing import ClassVar

import numpy as np
import pytest

from drivers.camera import open_camera
from drivers.camera.base import CameraUnavailable
from drivers.camera.config import Picamera2CameraConfig
from drivers.camera.picamera2_camera import Picamera2Camera, luma_of_yuv420


def test_importing_the_driver_does_not_import_picamera2() -> None:
    # GIVEN the driver module is imported (at the top of this file)
    # THEN picamera2 (and libcamera) were not pulled in by it
    assert "libcamera" not in sys.modules
    assert "picamera2" not in sys.modules or importlib.util.find_spec("libcamera") is not None


def test_luma_is_the_first_rows_of_yuv420_cropped_to_the_width() -> None:
    # GIVEN a YUV420 array as picamera2 gives it: (h*3/2, stride) with a padded stride
    width, height, stride = 6, 4, 8
    yuv = np.zeros((height * 3 // 2, stride), np.uint8)
    yuv[:height, :width] = np.arange(width * height, dtype=np.uint8).reshape(height, width)
    yuv[height:, :] = 200  # chroma
    # WHEN the luma is extracted
    luma = luma_of_yuv420(yuv, (width, height))
    # THEN it is exactly the Y plane without padding or chroma
    assert luma.shape == (height, width)
    assert luma.flags["C_CONTIGUOUS"]
    assert np.array_equal(luma, np.arange(24, dtype=np.uint8).reshape(4, 6))


def test_luma_of_an_array_too_small_for_the_size_is_an_error() -> None:
    with pytest.raises(CameraUnavailable, match="does not fit"):
        luma_of_yuv420(np.zeros((4, 8), np.uint8), (8, 4))


@pytest.mark.skipif(
    importlib.util.find_spec("libcamera") is not None, reason="libcamera present (a Pi)"
)
def test_start_off_a_pi_is_camera_unavailable_with_the_reason() -> None:
    camera = open_camera(Picamera2CameraConfig(type="picamera2"))
    assert isinstance(camera, Picamera2Camera)
    with pytest.raises(CameraUnavailable, match="picamera2"):
        camera.start()
    camera.stop()


class FakeRequest:
    """Stands in for picamera2's CompletedRequest (no camera on this machine)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def make_array(self, stream: str) -> np.ndarray:
        if stream == "main":
            return np.full((8, 12, 3), (1, 2, 3), np.uint8)
        yuv = np.full((6, 8), 99, np.uint8)
        yuv[:4, :6] = 7
        return yuv

    def release(self) -> None:
        self.log.append("released")


class FakeJob:
    def __init__(self, request: FakeRequest, ready: bool) -> None:
        self.request, self.ready = request, ready

    def get_result(self, timeout: float | None = None) -> FakeRequest:
        if not self.ready:
            raise TimeoutError
        return self.request


class FakePicamera2:
    """The subset of picamera2.Picamera2 the driver calls, recording what happens."""

    log: ClassVar[list[str]] = []
    jobs: ClassVar[list[FakeJob]] = []

    def create_video_configuration(self, **streams: object) -> dict[str, object]:
        return streams

    def configure(self, config: dict[str, object]) -> None:
        self.log.append(f"configure {config['main']} {config['lores']}")

    def start(self) -> None:
        self.log.append("start")

    def capture_request(self, wait: bool) -> FakeJob:
        self.log.append("capture")
        return self.jobs.pop(0)

    def stop(self) -> None:
        self.log.append("stop")

    def close(self) -> None:
        self.log.append("close")


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    module = type(sys)("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    FakePicamera2.log = []
    FakePicamera2.jobs = []
    return FakePicamera2


def test_frames_carry_main_bgr_and_lores_luma_and_every_request_is_released(
    fake_picamera2: type[FakePicamera2],
) -> None:
    # GIVEN a picamera2 camera (simulated) configured for 12x8 main and 6x4 lores
    log = fake_picamera2.log
    fake_picamera2.jobs = [FakeJob(FakeRequest(log), ready=True) for _ in range(2)]
    camera = Picamera2Camera(main_size=(12, 8), lores_size=(6, 4))
    camera.start()
    # WHEN two frames are read
    frames = [camera.read(0.1) for _ in range(2)]
    camera.stop()
    # THEN main is RGB888 and lores the YUV420 Y plane, and each request was released
    assert "configure {'size': (12, 8), 'format': 'RGB888'} " in log[0]
    assert "'format': 'YUV420'" in log[0]
    assert frames[0].image.shape == (8, 12, 3) and frames[0].lores is not None
    assert np.array_equal(frames[0].lores, np.full((4, 6), 7, np.uint8))
    assert log.count("released") == 2
    assert log[-2:] == ["stop", "close"]


def test_a_timed_out_capture_is_waited_for_again_not_leaked(
    fake_picamera2: type[FakePicamera2],
) -> None:
    # GIVEN a capture job that is not ready at the first read
    log = fake_picamera2.log
    job = FakeJob(FakeRequest(log), ready=False)
    fake_picamera2.jobs = [job]
    camera = Picamera2Camera(main_size=(12, 8), lores_size=(6, 4))
    camera.start()
    with pytest.raises(CameraUnavailable, match="no frame"):
        camera.read(0.01)
    # WHEN it completes and the camera is read again
    job.ready = True
    camera.read(0.01)
    # THEN the same job's request was used and released (no second capture was queued)
    assert log.count("capture") == 1 and log.count("released") == 1
