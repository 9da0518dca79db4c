"""Smile measure from FaceMesh: mouth width over outer-eye distance, and a per-person calibration.

Points 61 and 291 are the mouth corners, 33 and 263 the outer eye corners. Dividing by the eye
distance makes the ratio independent of how far the face is. On the Yale faces, `normal` gave
0.54–0.64 and `happy` 0.66–0.80, so 0.65 is the absolute cut for a single image; within one
person's session the smile is judged against their own neutral (same subject: ×1.20–1.30).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOUTH_CORNERS = (61, 291)
OUTER_EYE_CORNERS = (33, 263)
ABSOLUTE_SMILE_RATIO = 0.65


def eye_distance(points: np.ndarray) -> float:
    """Distance between the outer eye corners in pixels."""
    right, left = OUTER_EYE_CORNERS
    return float(np.linalg.norm(points[right, :2] - points[left, :2]))


def smile_ratio(points: np.ndarray) -> float:
    """Mouth width divided by the outer-eye distance (about 0.6 neutral, 0.75 smiling)."""
    mouth = np.linalg.norm(points[MOUTH_CORNERS[0], :2] - points[MOUTH_CORNERS[1], :2])
    return float(mouth / max(eye_distance(points), 1e-6))


def is_smiling(ratio: float) -> bool:
    """Single-image call, for when no neutral of this person is known."""
    return ratio >= ABSOLUTE_SMILE_RATIO


@dataclass(frozen=True)
class SmileCalibration:
    """One person's smile judged against their own neutral ratio.

    `gain` is how much wider than neutral the mouth must be to count as a smile; `relax` is how
    far below the widest ratio seen the mouth must come back to count as neutral again.
    """

    gain: float = 1.10
    relax: float = 1.07

    def smiling(self, ratio: float, neutral: float) -> bool:
        """Whether `ratio` is a smile for a person whose neutral ratio is `neutral`."""
        return ratio >= neutral * self.gain

    def relaxed(self, ratio: float, widest: float) -> bool:
        """Whether `ratio` counts as neutral: below the absolute cut, or well below their widest."""
        return ratio < ABSOLUTE_SMILE_RATIO or ratio * self.relax <= widest
