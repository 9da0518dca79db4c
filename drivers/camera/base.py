"""The Camera role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from base.errors import SmilepayError


class CameraUnavailable(SmilepayError):
    """The camera is gone (unplugged, driver error) or gave no frame in time."""


class FrameTimeout(CameraUnavailable):
    """No frame arrived within the read timeout; the camera itself may still be there."""


@dataclass(frozen=True)
class Frame:
    """One captured frame: full-resolution BGR image, optional low-res grey image, capture time."""

    image: np.ndarray  # (h, w, 3) uint8, B,G,R order (what OpenCV expects)
    timestamp: float  # time.monotonic() at capture
    index: int
    lores: np.ndarray | None = None  # (h', w') uint8 luminance for cheap detection / QR scanning

    def grey(self) -> np.ndarray:
        """The low-res luminance if the camera gave one, else computed from the BGR image."""
        if self.lores is not None:
            return self.lores
        b, g, r = (self.image[..., i].astype(np.float32) for i in range(3))
        grey: np.ndarray = (0.114 * b + 0.587 * g + 0.299 * r).astype(np.uint8)
        return grey


class Camera(Protocol):
    """A source of frames."""

    def start(self) -> None:
        """Open the device and begin streaming; raises CameraUnavailable."""

    def read(self, timeout_s: float = 1.0) -> Frame:
        """Return the next frame; raises CameraUnavailable if none arrives within the timeout."""
        ...

    def stop(self) -> None:
        """Stop streaming and release the device; safe to call twice."""
