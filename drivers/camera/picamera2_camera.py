"""Raspberry Pi camera through picamera2: a full-resolution RGB888 `main` stream for capture and
a YUV420 `lores` stream whose Y plane feeds detection and QR scanning.

picamera2 imports libcamera at its top and cannot be imported off a Pi, so it is imported only
in `start`."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from drivers.camera.base import CameraUnavailable, Frame, FrameTimeout
from drivers.camera.config import Picamera2CameraConfig


def luma_of_yuv420(yuv: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The Y plane of a picamera2 YUV420 array: (h*3/2, stride) with Y in the first h rows,
    cropped to the real width (the stride may be padded)."""
    width, height = size
    if yuv.ndim != 2 or yuv.shape[0] < height * 3 // 2 or yuv.shape[1] < width:
        raise CameraUnavailable(f"lores YUV420 array {yuv.shape} does not fit size {size}")
    return np.ascontiguousarray(yuv[:height, :width])


class Picamera2Camera:
    """picamera2 driver; each frame comes from one request that is always released."""

    def __init__(
        self,
        main_size: tuple[int, int] = (1280, 960),
        lores_size: tuple[int, int] = (640, 480),
        fps: float = 15.0,
    ) -> None:
        self.main_size = main_size
        self.lores_size = lores_size
        self.fps = fps
        self._picam: Any = None
        self._pending: Any = None  # a timed-out capture job: its request must still be released
        self._index = 0

    @classmethod
    def from_config(cls, config: Picamera2CameraConfig) -> Picamera2Camera:
        """Build from the `camera` config section."""
        return cls(main_size=config.main_size, lores_size=config.lores_size, fps=config.fps)

    def start(self) -> None:
        """Configure both streams and start; CameraUnavailable if there is no camera."""
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraUnavailable(f"picamera2 is not importable here: {exc}") from exc
        self.stop()
        try:
            picam = Picamera2()
            picam.configure(self._configuration(picam))
            picam.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise CameraUnavailable(f"Raspberry Pi camera did not start: {exc}") from exc
        self._picam = picam

    def _configuration(self, picam: Any) -> Any:
        return picam.create_video_configuration(
            main={"size": self.main_size, "format": "RGB888"},
            lores={"size": self.lores_size, "format": "YUV420"},
            controls={"FrameRate": self.fps},
            buffer_count=4,
        )

    def read(self, timeout_s: float = 1.0) -> Frame:
        """Capture one request, copy `main` (B,G,R order) and the lores Y plane, release it."""
        if self._picam is None:
            raise CameraUnavailable("picamera2 camera is not started")
        if self._pending is None:
            self._pending = self._picam.capture_request(wait=False)
        try:
            request = self._pending.get_result(timeout=timeout_s)
        except TimeoutError as exc:
            raise FrameTimeout(f"Raspberry Pi camera gave no frame in {timeout_s} s") from exc
        except (RuntimeError, OSError) as exc:
            self._pending = None
            raise CameraUnavailable(f"Raspberry Pi camera failed: {exc}") from exc
        self._pending = None
        try:
            image = np.array(request.make_array("main"))  # RGB888 is B,G,R bytes, as OpenCV wants
            lores = luma_of_yuv420(request.make_array("lores"), self.lores_size)
        finally:
            request.release()
        self._index += 1
        return Frame(image=image, timestamp=time.monotonic(), index=self._index, lores=lores)

    def stop(self) -> None:
        """Stop and close the camera; safe to call twice."""
        if self._picam is not None:
            picam, self._picam, self._pending = self._picam, None, None
            try:
                picam.stop()
            finally:
                picam.close()
