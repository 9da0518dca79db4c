"""Camera role: picamera2, OpenCV (V4L2), replay and synthetic drivers, chosen by config."""

from __future__ import annotations

from drivers.camera.base import Camera, CameraUnavailable, Frame
from drivers.camera.config import CameraConfig
from drivers.loading import build_driver

DRIVERS = {
    "picamera2": "drivers.camera.picamera2_camera:Picamera2Camera",
    "opencv": "drivers.camera.opencv_camera:OpenCVCamera",
    "replay": "drivers.camera.replay:ReplayCamera",
    "synthetic": "drivers.camera.synthetic:SyntheticCamera",
}


def open_camera(config: CameraConfig) -> Camera:
    """Build the camera driver that `config.type` names (not started)."""
    camera: Camera = build_driver(DRIVERS, config)
    return camera


__all__ = ["Camera", "CameraUnavailable", "Frame", "open_camera"]
