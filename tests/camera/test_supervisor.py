"""CameraSupervisor: a camera that disappears is reported and reconnected when it returns."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.camera.base import CameraUnavailable, FrameTimeout
from drivers.camera.supervisor import CameraStatus, CameraSupervisor
from drivers.camera.synthetic import SyntheticCamera


def frame(value: int) -> np.ndarray:
    return np.full((24, 32, 3), value, np.uint8)


def supervised() -> tuple[SyntheticCamera, CameraSupervisor, list[CameraStatus]]:
    camera = SyntheticCamera()
    changes: list[CameraStatus] = []
    supervisor = CameraSupervisor(
        camera, backoff_initial_s=0.01, backoff_max_s=0.04, on_change=changes.append
    )
    return camera, supervisor, changes


def test_running_camera_passes_frames_through() -> None:
    camera, supervisor, changes = supervised()
    supervisor.start()
    camera.feed(frame(3))
    assert int(supervisor.read(0.5).image[0, 0, 0]) == 3
    assert supervisor.available
    assert [c.state for c in changes] == ["running"]


def test_unplugged_camera_is_reported_with_its_reason() -> None:
    # GIVEN a running supervised camera
    camera, supervisor, changes = supervised()
    supervisor.start()
    # WHEN it is unplugged and read
    camera.unplug()
    with pytest.raises(CameraUnavailable):
        supervisor.read(0.05)
    # THEN the state is "unavailable" with the driver's reason and a retry time
    assert supervisor.status.state == "unavailable"
    assert "unplugged" in supervisor.status.reason
    assert supervisor.status.retry_at is not None
    assert changes[-1].state == "unavailable"


def test_camera_reconnects_after_replug() -> None:
    # GIVEN a supervised camera that was unplugged and failed some reads
    camera, supervisor, changes = supervised()
    supervisor.start()
    camera.unplug()
    for _ in range(3):
        with pytest.raises(CameraUnavailable):
            supervisor.read(0.05)
    # WHEN it is plugged back in and a frame is waiting
    camera.replug()
    camera.feed(frame(9))
    # THEN the next read restarts it and delivers the frame
    assert int(supervisor.read(0.5).image[0, 0, 0]) == 9
    assert supervisor.status == CameraStatus("running")
    assert [c.state for c in changes] == ["running", "unavailable", "running"]


def test_backoff_doubles_up_to_the_cap_while_the_camera_stays_away() -> None:
    # GIVEN a camera that is unplugged before the supervisor starts
    camera, supervisor, _ = supervised()
    camera.unplug()
    supervisor.start()
    backoffs = [supervisor.status.backoff_s]
    # WHEN reconnect attempts keep failing
    for _ in range(4):
        with pytest.raises(CameraUnavailable, match="unplugged"):
            supervisor.read(0.5)
        backoffs.append(supervisor.status.backoff_s)
    # THEN the wait doubles from the initial value and stops at the cap
    assert backoffs == [0.01, 0.02, 0.04, 0.04, 0.04]


def test_failed_start_is_recorded_not_raised() -> None:
    camera, supervisor, _ = supervised()
    camera.unplug()
    supervisor.start()
    assert supervisor.status.state == "unavailable"
    assert not supervisor.available


def test_stop_stops_the_camera() -> None:
    camera, supervisor, _ = supervised()
    supervisor.start()
    supervisor.stop()
    supervisor.stop()
    assert supervisor.status.state == "stopped"
    with pytest.raises(CameraUnavailable, match="not started"):
        camera.read(0.01)


def test_a_few_read_timeouts_do_not_count_as_a_lost_camera() -> None:
    # GIVEN a running camera that simply has no frame for a while
    camera, supervisor, changes = supervised()
    supervisor.start()
    # WHEN fewer reads than `stall_reads` time out
    for _ in range(supervisor.stall_reads - 1):
        with pytest.raises(FrameTimeout):
            supervisor.read(0.01)
    # THEN the camera is still "running" and the next frame comes through
    assert supervisor.available
    camera.feed(frame(4))
    assert int(supervisor.read(0.5).image[0, 0, 0]) == 4
    assert [c.state for c in changes] == ["running"]


def test_a_camera_that_stalls_for_stall_reads_timeouts_is_lost() -> None:
    _, supervisor, _ = supervised()
    supervisor.start()
    for _ in range(supervisor.stall_reads):
        with pytest.raises(FrameTimeout):
            supervisor.read(0.01)
    assert supervisor.status.state == "unavailable"
    assert "5 times in a row" in supervisor.status.reason
