"""picamera2 driver: what can be checked without a Raspberry Pi camera."""

from __future__ import annotations

import importlib.util
import sys

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
