"""Frames from a video file or a folder of images, paced at a set frame rate, optionally
looping: for tests, demos and hardware-in-the-loop rigs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.base import CameraUnavailable, Frame, FrameTimeout
from drivers.camera.config import ReplayCameraConfig

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm"}


def natural_key(path: Path) -> list[object]:
    """Sort key so that "2.png" comes before "10.png"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder in (natural) name order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=natural_key)


class _ImageFolder:
    def __init__(self, folder: Path) -> None:
        self.files = image_files(folder)
        if not self.files:
            raise CameraUnavailable(f"replay folder {folder} holds no images")
        self.position = 0

    def next_image(self) -> np.ndarray | None:
        if self.position >= len(self.files):
            return None
        path = self.files[self.position]
        self.position += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise CameraUnavailable(f"replay image {path} cannot be read as an image")
        return image

    def rewind(self) -> None:
        self.position = 0

    def close(self) -> None:
        pass


class _VideoFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise CameraUnavailable(f"replay video {path} cannot be opened as a video")
        self.delivered = 0

    def next_image(self) -> np.ndarray | None:
        ok, image = self.capture.read()
        if not ok:
            if self.delivered == 0:
                raise CameraUnavailable(f"replay video {self.path} has no readable frame")
            return None
        self.delivered += 1
        return np.asarray(image)

    def rewind(self) -> None:
        self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def close(self) -> None:
        self.capture.release()


class ReplayCamera:
    """Replays a video file or an image folder (natural name order) at `fps`, looping if asked."""

    def __init__(self, path: Path, fps: float = 15.0, loop: bool = True) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.period = 1.0 / fps
        self.loop = loop
        self._source: _ImageFolder | _VideoFile | None = None
        self._due = 0.0
        self._index = 0

    @classmethod
    def from_config(cls, config: ReplayCameraConfig) -> ReplayCamera:
        """Build from the `camera` config section."""
        return cls(config.path, fps=config.fps, loop=config.loop)

    def start(self) -> None:
        """Open the folder or video; CameraUnavailable names the path if it cannot be used."""
        if not self.path.exists():
            raise CameraUnavailable(f"replay source {self.path} does not exist")
        self.stop()
        self._source = _ImageFolder(self.path) if self.path.is_dir() else _VideoFile(self.path)
        self._due = time.monotonic()

    def read(self, timeout_s: float = 1.0) -> Frame:
        """The next frame, no earlier than one period after the previous one."""
        if self._source is None:
            raise CameraUnavailable("replay camera is not started")
        wait = self._due - time.monotonic()
        if wait > timeout_s:
            time.sleep(timeout_s)
            raise FrameTimeout(f"replay camera: no frame within {timeout_s} s")
        time.sleep(max(wait, 0.0))
        image = self._next_image(self._source)
        self._due = max(self._due + self.period, time.monotonic() - self.period)
        self._index += 1
        return Frame(image=image, timestamp=time.monotonic(), index=self._index)

    def _next_image(self, source: _ImageFolder | _VideoFile) -> np.ndarray:
        image = source.next_image()
        if image is None and self.loop:
            source.rewind()
            image = source.next_image()
        if image is None:
            raise CameraUnavailable(f"replay of {self.path} has ended")
        return image

    def stop(self) -> None:
        """Close the source; safe to call twice."""
        if self._source is not None:
            self._source.close()
            self._source = None
