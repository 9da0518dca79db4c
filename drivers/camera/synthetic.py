"""A camera fed by the test itself: frames go in with `feed`, come out of `read` in order, and
`unplug`/`replug` simulate the device vanishing and coming back."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

import numpy as np

from drivers.camera.base import CameraUnavailable, Frame, FrameTimeout
from drivers.camera.config import SyntheticCameraConfig


class SyntheticCamera:
    """Camera simulator with a test-facing API: feed(), feed_many(), unplug(), replug()."""

    def __init__(self, size: tuple[int, int] = (640, 480)) -> None:
        self.size = size
        self._frames: deque[np.ndarray] = deque()
        self._cond = threading.Condition()
        self._started = False
        self._plugged = True
        self._index = 0

    @classmethod
    def from_config(cls, config: SyntheticCameraConfig) -> SyntheticCamera:
        """Build from the `camera` config section."""
        return cls(size=config.size)

    def feed(self, frame_bgr: np.ndarray) -> None:
        """Queue one (h, w, 3) uint8 BGR frame for `read`."""
        if frame_bgr.dtype != np.uint8 or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"expected an (h, w, 3) uint8 BGR frame, got {frame_bgr.shape}")
        with self._cond:
            self._frames.append(frame_bgr)
            self._cond.notify_all()

    def feed_many(self, frames: Iterable[np.ndarray]) -> None:
        """Queue several frames in order."""
        for frame in frames:
            self.feed(frame)

    def unplug(self) -> None:
        """The device vanishes: reads fail (waiting readers wake) and start() fails."""
        with self._cond:
            self._plugged = False
            self._started = False
            self._cond.notify_all()

    def replug(self) -> None:
        """The device is back; it must be started again, as a real one would."""
        with self._cond:
            self._plugged = True

    def start(self) -> None:
        """Begin streaming; raises CameraUnavailable while unplugged."""
        with self._cond:
            if not self._plugged:
                raise CameraUnavailable("synthetic camera is unplugged")
            self._started = True

    def read(self, timeout_s: float = 1.0) -> Frame:
        """The next fed frame; CameraUnavailable if unplugged, not started, or none in time."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                self._check_streaming()
                if self._frames:
                    return self._next_frame()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FrameTimeout(f"synthetic camera: no frame within {timeout_s} s")
                self._cond.wait(remaining)

    def _check_streaming(self) -> None:
        if not self._plugged:
            raise CameraUnavailable("synthetic camera is unplugged")
        if not self._started:
            raise CameraUnavailable("synthetic camera is not started")

    def _next_frame(self) -> Frame:
        image = self._frames.popleft()
        self._index += 1
        return Frame(image=image, timestamp=time.monotonic(), index=self._index)

    def stop(self) -> None:
        """Stop streaming; queued frames stay queued. Safe to call twice."""
        with self._cond:
            self._started = False
            self._cond.notify_all()
