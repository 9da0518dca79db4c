"""Liveness within what one 2-D camera allows.

A live customer shows (1) a neutral→smile transition after the amount is on screen, (2) whose
mouth moves non-rigidly relative to the eyes and nose (a photo tilted or moved only moves
rigidly), (3) frames that differ from each other (sensor noise, micro-motion) and (4) landmarks
that jitter. A repeated still image fails (1), (3) and (4). A replayed video of the customer
smiling, or a good mask, passes: the README says so.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

CROP_SIZE = 64
# Points that barely move when smiling: eye corners, nose bridge and tip, forehead.
RIGID_POINTS = (33, 133, 362, 263, 168, 6, 197, 1, 10)
MOUTH_POINTS = (61, 291, 0, 17, 78, 308, 40, 270, 91, 321)
EYES = (33, 263)


@dataclass(frozen=True)
class LivenessRules:
    """Thresholds (grey levels for frame differences, eye distances for landmark motion)."""

    min_frame_difference: float = 0.6
    max_static_fraction: float = 0.5
    min_landmark_jitter: float = 2e-4
    # A photo turned ±8° and scaled ±10%, landmarks re-detected: up to 0.022; the astronaut's
    # warped neutral → real smile: at least 0.055, median 0.065 (20 trials each).
    min_mouth_deformation: float = 0.035


@dataclass(frozen=True)
class FaceTrace:
    """What liveness keeps of one usable frame: 2-D landmarks and a small grey face crop."""

    points: np.ndarray
    crop: np.ndarray


@dataclass(frozen=True)
class LivenessResult:
    """Whether the sequence looks live, why not, and the measures behind it."""

    live: bool
    reasons: tuple[str, ...]
    static_fraction: float
    landmark_jitter: float
    mouth_deformation: float


def trace(grey: np.ndarray, points: np.ndarray) -> FaceTrace:
    """Keep the 2-D landmarks and a 64×64 crop of the landmarks' box from a grey frame."""
    height, width = grey.shape
    x0, y0 = np.clip(points[:, :2].min(axis=0), 0, [width - 1, height - 1]).astype(int)
    x1, y1 = np.clip(points[:, :2].max(axis=0), 0, [width - 1, height - 1]).astype(int)
    face = grey[y0 : y1 + 1, x0 : x1 + 1]
    crop = cv2.resize(face, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    return FaceTrace(points[:, :2].astype(np.float32).copy(), crop.astype(np.float32))


def _eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[EYES[0]] - points[EYES[1]]))


def static_fraction(traces: list[FaceTrace], rules: LivenessRules) -> float:
    """Share of consecutive frame pairs whose face crops are (almost) identical."""
    pairs = list(itertools.pairwise(traces))
    if not pairs:
        return 1.0
    still = [float(np.abs(a.crop - b.crop).mean()) < rules.min_frame_difference for a, b in pairs]
    return sum(still) / len(pairs)


def landmark_jitter(traces: list[FaceTrace]) -> float:
    """Median landmark motion between consecutive frames, in eye distances (0 for a still photo)."""
    moves = [
        float(np.linalg.norm(b.points - a.points, axis=1).mean()) / max(_eye_distance(a.points), 1)
        for a, b in itertools.pairwise(traces)
    ]
    return float(np.median(moves)) if moves else 0.0


def mouth_deformation(neutral: np.ndarray, smiling: np.ndarray) -> float:
    """How far the mouth moved once head motion is removed, in eye distances.

    A similarity transform fitted on the rigid points maps the neutral face onto the smiling
    one; a photo that is only moved, turned or scaled leaves the mouth where the fit puts it.
    """
    rigid = list(RIGID_POINTS)
    transform, _ = cv2.estimateAffinePartial2D(neutral[rigid], smiling[rigid])
    if transform is None:
        return 0.0
    mouth = list(MOUTH_POINTS)
    moved = neutral[mouth] @ transform[:, :2].T + transform[:, 2]
    residual = np.linalg.norm(moved - smiling[mouth], axis=1).mean()
    return float(residual) / max(_eye_distance(smiling), 1.0)


def assess_liveness(
    traces: list[FaceTrace],
    neutral: FaceTrace | None,
    smiling: FaceTrace | None,
    rules: LivenessRules | None = None,
) -> LivenessResult:
    """Judge a session's usable frames, its neutral reference and its smile frame."""
    rules = rules or LivenessRules()
    reasons: list[str] = []
    if neutral is None or smiling is None:
        reasons.append("no_smile_transition")
        deformation = 0.0
    else:
        deformation = mouth_deformation(neutral.points, smiling.points)
        if deformation < rules.min_mouth_deformation:
            reasons.append("rigid_motion_only")
    still = static_fraction(traces, rules)
    if still > rules.max_static_fraction:
        reasons.append("static_frames")
    jitter = landmark_jitter(traces)
    if jitter < rules.min_landmark_jitter:
        reasons.append("no_landmark_motion")
    return LivenessResult(not reasons, tuple(reasons), still, jitter, deformation)
