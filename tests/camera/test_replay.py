"""ReplayCamera: image folders and video files at a set frame rate."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import open_camera
from drivers.camera.base import CameraUnavailable, FrameTimeout
from drivers.camera.config import ReplayCameraConfig
from drivers.camera.replay import ReplayCamera


def write_images(folder: Path, values: list[int]) -> None:
    for position, value in enumerate(values):
        cv2.imwrite(str(folder / f"{position + 1}.png"), np.full((24, 32, 3), value, np.uint8))


def test_folder_is_replayed_in_natural_name_order(tmp_path: Path) -> None:
    # GIVEN images 1..11.png whose pixel value is their number times ten
    write_images(tmp_path, [10 * (n + 1) for n in range(11)])
    camera = ReplayCamera(tmp_path, fps=1000, loop=False)
    camera.start()
    # WHEN every frame is read
    values = [int(camera.read(1.0).image[0, 0, 0]) for _ in range(11)]
    # THEN "2.png" came before "10.png"
    assert values == [10 * (n + 1) for n in range(11)]
    # AND with no loop the end is reported
    with pytest.raises(CameraUnavailable, match="ended"):
        camera.read(1.0)


def test_loop_starts_again_from_the_first_image(tmp_path: Path) -> None:
    write_images(tmp_path, [5, 6])
    camera = ReplayCamera(tmp_path, fps=1000, loop=True)
    camera.start()
    assert [int(camera.read(1.0).image[0, 0, 0]) for _ in range(5)] == [5, 6, 5, 6, 5]


def test_frames_are_paced_at_the_configured_rate(tmp_path: Path) -> None:
    # GIVEN a 20 fps replay
    write_images(tmp_path, [1, 2, 3, 4, 5])
    camera = ReplayCamera(tmp_path, fps=20, loop=False)
    started = time.monotonic()
    camera.start()
    # WHEN five frames are read
    stamps = [camera.read(1.0).timestamp for _ in range(5)]
    # THEN the fifth frame comes no earlier than four periods of 50 ms after the start (the
    # camera keeps its cadence: a frame read late lets the next one come sooner, never earlier
    # than its slot, so only the schedule from the start is guaranteed on a loaded machine)
    assert stamps[-1] - started >= 4 * 0.05


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    camera = ReplayCamera(tmp_path)
    with pytest.raises(CameraUnavailable, match="holds no images"):
        camera.start()


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraUnavailable, match="does not exist"):
        ReplayCamera(tmp_path / "nope").start()


def test_unreadable_video_file_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"this is not a video")
    with pytest.raises(CameraUnavailable, match=r"clip\.mp4"):
        ReplayCamera(bogus).start()


def test_corrupt_image_in_a_folder_names_the_file(tmp_path: Path) -> None:
    write_images(tmp_path, [1])
    (tmp_path / "2.png").write_bytes(b"not a png")
    camera = ReplayCamera(tmp_path, fps=1000, loop=False)
    camera.start()
    camera.read(1.0)
    with pytest.raises(CameraUnavailable, match=r"2\.png"):
        camera.read(1.0)


def test_video_file_is_replayed_frame_by_frame(tmp_path: Path) -> None:
    # GIVEN a 6-frame MJPG video with rising brightness
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (32, 24))
    for value in range(6):
        writer.write(np.full((24, 32, 3), 40 * value, np.uint8))
    writer.release()
    camera = open_camera(ReplayCameraConfig(type="replay", path=path, fps=1000, loop=False))
    camera.start()
    # WHEN all frames are read
    values = [int(camera.read(1.0).image.mean()) for _ in range(6)]
    # THEN they come in order (JPEG may shift a level by a little)
    assert all(abs(v - 40 * n) <= 3 for n, v in enumerate(values))
    with pytest.raises(CameraUnavailable):
        camera.read(1.0)
    camera.stop()
    camera.stop()


def test_read_before_start_fails(tmp_path: Path) -> None:
    with pytest.raises(CameraUnavailable, match="not started"):
        ReplayCamera(tmp_path).read(0.01)


def test_slow_rate_read_times_out_rather_than_blocking(tmp_path: Path) -> None:
    # GIVEN a 1 fps replay that has just delivered a frame
    write_images(tmp_path, [1, 2])
    camera = ReplayCamera(tmp_path, fps=1, loop=False)
    camera.start()
    camera.read(1.0)
    # WHEN the next frame is asked for with a timeout shorter than the period
    # THEN the read gives up with CameraUnavailable, and the frame still comes later
    with pytest.raises(FrameTimeout, match="no frame"):
        camera.read(0.05)
    assert int(camera.read(2.0).image[0, 0, 0]) == 2
