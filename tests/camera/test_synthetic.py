"""SyntheticCamera: the test-facing camera simulator."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from drivers.camera import open_camera
from drivers.camera.base import CameraUnavailable, FrameTimeout
from drivers.camera.config import SyntheticCameraConfig
from drivers.camera.synthetic import SyntheticCamera
from tests.timing import slow


def frame(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_fed_frames_come_out_in_order_with_rising_indexes() -> None:
    # GIVEN a started synthetic camera fed three frames
    camera = SyntheticCamera()
    camera.start()
    camera.feed_many([frame(1), frame(2), frame(3)])
    # WHEN they are read
    frames = [camera.read(0.1) for _ in range(3)]
    # THEN they are the fed frames in order
    assert [int(f.image[0, 0, 0]) for f in frames] == [1, 2, 3]
    assert [f.index for f in frames] == [1, 2, 3]


def test_read_without_a_frame_raises_after_the_timeout() -> None:
    # GIVEN a started camera with nothing fed
    camera = SyntheticCamera()
    camera.start()
    # WHEN / THEN reading gives up with FrameTimeout (a kind of CameraUnavailable)
    with pytest.raises(FrameTimeout, match="no frame"):
        camera.read(0.05)


def test_unplugged_camera_fails_reads_and_starts_until_replugged() -> None:
    # GIVEN a started camera with a queued frame
    camera = SyntheticCamera()
    camera.start()
    camera.feed(frame(7))
    # WHEN it is unplugged
    camera.unplug()
    # THEN reading and starting fail, naming the cause
    with pytest.raises(CameraUnavailable, match="unplugged"):
        camera.read(0.05)
    with pytest.raises(CameraUnavailable, match="unplugged"):
        camera.start()
    # AND after replug and start the queued frame is delivered
    camera.replug()
    camera.start()
    assert int(camera.read(0.1).image[0, 0, 0]) == 7


def test_unplug_wakes_a_reader_that_is_waiting() -> None:
    # GIVEN a reader blocked on an empty camera with a long timeout
    camera = SyntheticCamera()
    camera.start()
    errors: list[str] = []

    def reader() -> None:
        try:
            camera.read(slow(10.0))
        except CameraUnavailable as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.05)
    # WHEN the camera is unplugged
    camera.unplug()
    thread.join(slow(5.0))
    # THEN the reader got CameraUnavailable rather than waiting out its timeout
    assert not thread.is_alive()
    assert errors and "unplugged" in errors[0]


def test_feed_rejects_a_frame_that_is_not_bgr() -> None:
    camera = SyntheticCamera()
    with pytest.raises(ValueError, match="BGR"):
        camera.feed(np.zeros((48, 64), np.uint8))


def test_config_selects_the_synthetic_driver() -> None:
    camera = open_camera(SyntheticCameraConfig(type="synthetic", size=(32, 24)))
    assert isinstance(camera, SyntheticCamera)
    assert camera.size == (32, 24)
