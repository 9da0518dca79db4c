"""The Camera contract, run against every driver this machine can run."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import open_camera
from drivers.camera.base import Camera, CameraUnavailable
from drivers.camera.config import (
    OpenCVCameraConfig,
    ReplayCameraConfig,
    SyntheticCameraConfig,
)
from drivers.camera.synthetic import SyntheticCamera

HAS_V4L2_DEVICE = bool(glob.glob("/dev/video*"))


def _synthetic(tmp_path: Path) -> Camera:
    camera = open_camera(SyntheticCameraConfig(type="synthetic"))
    assert isinstance(camera, SyntheticCamera)
    camera.feed_many(np.full((48, 64, 3), n, np.uint8) for n in range(5))
    return camera


def _replay_folder(tmp_path: Path) -> Camera:
    for n in range(5):
        cv2.imwrite(str(tmp_path / f"{n}.png"), np.full((48, 64, 3), n, np.uint8))
    return open_camera(ReplayCameraConfig(type="replay", path=tmp_path, fps=500))


def _opencv(tmp_path: Path) -> Camera:
    if not HAS_V4L2_DEVICE:
        pytest.skip("no /dev/video* device on this machine")
    return open_camera(OpenCVCameraConfig(type="opencv", index=0))


FACTORIES = {"synthetic": _synthetic, "replay": _replay_folder, "opencv": _opencv}


@pytest.fixture(params=sorted(FACTORIES))
def camera(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Camera]:
    cam = FACTORIES[request.param](tmp_path)
    yield cam
    cam.stop()


def test_read_before_start_is_camera_unavailable(camera: Camera) -> None:
    with pytest.raises(CameraUnavailable):
        camera.read(0.05)


def test_started_camera_gives_bgr_frames_with_rising_indexes(camera: Camera) -> None:
    # GIVEN a started camera
    camera.start()
    # WHEN three frames are read
    frames = [camera.read(2.0) for _ in range(3)]
    # THEN each is an (h, w, 3) uint8 image, indexes rise, timestamps never go back
    for frame in frames:
        assert frame.image.dtype == np.uint8
        assert frame.image.ndim == 3 and frame.image.shape[2] == 3
        assert frame.grey().shape == frame.image.shape[:2]
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert frames[0].timestamp <= frames[1].timestamp <= frames[2].timestamp


def test_stop_twice_is_safe_and_reads_then_fail(camera: Camera) -> None:
    camera.start()
    camera.read(2.0)
    camera.stop()
    camera.stop()
    with pytest.raises(CameraUnavailable):
        camera.read(0.05)


def test_opencv_camera_on_a_missing_device_is_camera_unavailable() -> None:
    # GIVEN a V4L2 index that does not exist
    camera = open_camera(OpenCVCameraConfig(type="opencv", index=97))
    # WHEN / THEN starting it names the device
    with pytest.raises(CameraUnavailable, match="/dev/video97"):
        camera.start()


@pytest.mark.hw("camera")
def test_rig_camera_streams_frames_and_stops(camera_driver: Camera) -> None:
    # GIVEN the real camera the --kiosk-env file names (skipped without one)
    camera_driver.start()
    # WHEN ten frames are read THEN they are BGR images with a usable grey image
    frames = [camera_driver.read(2.0) for _ in range(10)]
    assert all(f.image.ndim == 3 and f.image.shape[2] == 3 for f in frames)
    assert all(f.grey().ndim == 2 for f in frames)
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    camera_driver.stop()
    camera_driver.stop()
