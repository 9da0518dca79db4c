"""Quality gates on a detected face: size, pose, brightness and sharpness → one guidance key.

The key is what the kiosk screen tells the customer; the first failing gate wins, in the order a
customer can fix them: get in front of the camera, come closer, face the screen, light, hold still.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.smile import eye_distance

GUIDANCE_KEYS = (
    "no_face",
    "come_closer",
    "look_at_screen",
    "too_dark",
    "too_bright",
    "hold_still",
    "ok",
)
NOSE_TIP = 1
CHIN = 152
MOUTH_CENTRE = 13
EYES = (33, 263)
SHARPNESS_SIZE = 112  # the face is resampled to this width before measuring sharpness


@dataclass(frozen=True)
class QualityGates:
    """Thresholds of the gates (pixels, ratios of the eye distance, grey levels 0–255)."""

    min_eye_distance_px: float = 28.0
    max_yaw: float = 0.35
    pitch_range: tuple[float, float] = (0.30, 0.80)
    max_roll_deg: float = 30.0
    min_brightness: float = 45.0
    max_brightness: float = 215.0
    min_sharpness: float = 15.0


@dataclass(frozen=True)
class QualityReport:
    """The measures and the guidance key they lead to."""

    guidance: str
    eye_distance_px: float
    yaw: float
    pitch: float
    roll_deg: float
    brightness: float
    sharpness: float


def pose(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll°) from landmarks: nose offsets relative to the eye line, and its angle.

    yaw: the nose tip's sideways offset from the eye midpoint over the eye distance (0 frontal);
    pitch: where the nose tip sits between the eye line and the mouth (about 0.55 frontal).
    """
    left, right = points[EYES[0], :2], points[EYES[1], :2]
    across = right - left
    width = float(np.linalg.norm(across))
    unit = across / max(width, 1e-6)
    down = np.array([-unit[1], unit[0]])
    nose = points[NOSE_TIP, :2] - (left + right) / 2
    mouth = points[MOUTH_CENTRE, :2] - (left + right) / 2
    yaw = float(nose @ unit) / max(width, 1e-6)
    pitch = float(nose @ down) / max(float(mouth @ down), 1e-6)
    roll = float(np.degrees(np.arctan2(across[1], across[0])))
    return yaw, pitch, roll


def face_pixels(grey: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The grey pixels inside the landmarks' bounding box, clipped to the image."""
    height, width = grey.shape
    x0, y0 = np.clip(points[:, :2].min(axis=0), 0, [width - 1, height - 1]).astype(int)
    x1, y1 = np.clip(points[:, :2].max(axis=0), 0, [width - 1, height - 1]).astype(int)
    return grey[y0 : y1 + 1, x0 : x1 + 1]


def sharpness(face: np.ndarray) -> float:
    """Variance of the Laplacian of the face resampled to a fixed width (low = blurred)."""
    if face.size == 0:
        return 0.0
    height = max(1, round(face.shape[0] * SHARPNESS_SIZE / max(face.shape[1], 1)))
    fixed = cv2.resize(face, (SHARPNESS_SIZE, height), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(fixed, cv2.CV_32F).var())


def assess(
    grey: np.ndarray, points: np.ndarray, gates: QualityGates | None = None
) -> QualityReport:
    """Measure one face (landmarks in image pixels) in a grey frame and pick the guidance key."""
    gates = gates or QualityGates()
    yaw, pitch, roll = pose(points)
    face = face_pixels(grey, points)
    brightness = float(face.mean()) if face.size else 0.0
    measures = (eye_distance(points), yaw, pitch, roll, brightness, sharpness(face))
    return QualityReport(guidance(QualityReport("ok", *measures), gates), *measures)


def guidance(report: QualityReport, gates: QualityGates) -> str:
    """The first failing gate's key, or "ok"."""
    if report.eye_distance_px < gates.min_eye_distance_px:
        return "come_closer"
    low, high = gates.pitch_range
    if (
        abs(report.yaw) > gates.max_yaw
        or not low <= report.pitch <= high
        or abs(report.roll_deg) > gates.max_roll_deg
    ):
        return "look_at_screen"
    if report.brightness < gates.min_brightness:
        return "too_dark"
    if report.brightness > gates.max_brightness:
        return "too_bright"
    if report.sharpness < gates.min_sharpness:
        return "hold_still"
    return "ok"
