"""Camera driver selection: `camera.type` picks the driver."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from base.settings import Section


class Picamera2CameraConfig(Section):
    """Raspberry Pi camera through picamera2: full-res `main` stream and YUV420 `lores` stream."""

    type: Literal["picamera2"]
    main_size: tuple[int, int] = (1280, 960)
    lores_size: tuple[int, int] = (640, 480)
    fps: float = 15.0


class OpenCVCameraConfig(Section):
    """USB webcam through OpenCV's V4L2 backend."""

    type: Literal["opencv"]
    index: int = 0
    size: tuple[int, int] = (640, 480)
    fps: float = 15.0


class ReplayCameraConfig(Section):
    """Frames from a video file or a folder of images (name order) at a set frame rate."""

    type: Literal["replay"]
    path: Path
    fps: float = 15.0
    loop: bool = True


class SyntheticCameraConfig(Section):
    """Generated frames with a test-facing API (`feed(frame)`)."""

    type: Literal["synthetic"]
    size: tuple[int, int] = (640, 480)


CameraConfig = Annotated[
    Picamera2CameraConfig | OpenCVCameraConfig | ReplayCameraConfig | SyntheticCameraConfig,
    Field(discriminator="type"),
]
