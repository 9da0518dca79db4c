"""USB webcams through OpenCV's V4L2 backend."""

from __future__ import annotations

import time

import cv2
import numpy as np

from drivers.camera.base import CameraUnavailable, Frame
from drivers.camera.config import OpenCVCameraConfig


class OpenCVCamera:
    """`cv2.VideoCapture(index, cv2.CAP_V4L2)` with the configured size and frame rate."""

    def __init__(self, index: int = 0, size: tuple[int, int] = (640, 480), fps: float = 15.0):
        self.index = index
        self.size = size
        self.fps = fps
        self._capture: cv2.VideoCapture | None = None
        self._index = 0

    @classmethod
    def from_config(cls, config: OpenCVCameraConfig) -> OpenCVCamera:
        """Build from the `camera` config section."""
        return cls(index=config.index, size=config.size, fps=config.fps)

    def start(self) -> None:
        """Open /dev/video<index>; CameraUnavailable if it is absent or busy."""
        self.stop()
        capture = cv2.VideoCapture(self.index, cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise CameraUnavailable(f"cannot open /dev/video{self.index} through V4L2")
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        capture.set(cv2.CAP_PROP_FPS, self.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # latest frame, not a stale queue
        self._capture = capture

    def read(self, timeout_s: float = 1.0) -> Frame:
        """The next frame. V4L2 blocks inside OpenCV with its own timeout, so `timeout_s` is
        advisory; a failed grab (device gone) raises CameraUnavailable."""
        if self._capture is None:
            raise CameraUnavailable("opencv camera is not started")
        ok, image = self._capture.read()
        if not ok or image is None:
            raise CameraUnavailable(f"/dev/video{self.index} gave no frame (unplugged?)")
        self._index += 1
        return Frame(image=np.asarray(image), timestamp=time.monotonic(), index=self._index)

    def stop(self) -> None:
        """Release the device; safe to call twice."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
