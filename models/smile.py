"""Smile measure from FaceMesh: mouth width over outer-eye distance, and a per-person calibration.

Points 61 and 291 are the mouth corners, 33 and 263 the outer eye corners. Dividing by the eye
distance makes the ratio independent of how far the face is. On the Yale faces, `normal` gave
0.54–0.64 and `happy` 0.66–0.80, so 0.65 is the absolute cut for a single image; within one
person's session the smile is judged against their own neutral (same subject: ×1.20–1.30).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from base.errors import SmilepayError
from models.linear import WEIGHTS_DIR, LinearModel, MlpModel, load_classifier, logit

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


# --- the trained smile detector ------------------------------------------------------------

SMILE_MODEL_FILE = "smile.json"
EyePlaces = tuple[tuple[float, float], tuple[float, float]]  # (x, y) of each eye centre
CANONICAL_SIZE = 64
# Where the eye centres land in the canonical 64x64 face (the mouth then sits at rows 40-56).
CANONICAL_EYES = ((20.0, 24.0), (44.0, 24.0))
EYE_RINGS = ((33, 133), (362, 263))
# Lips, their corners' surroundings (cheeks lift) and the lower eyelids (eyes narrow).
SMILE_POINTS = (
    *(61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185),
    *(78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191),
    *(205, 425, 50, 280, 36, 266, 216, 436, 57, 287, 43, 273, 202, 422),
    *(145, 153, 159, 374, 380, 386, 1, 2, 152, 199),
)
# FaceMesh points that are each other's mirror image (left/right of the face), for the smile
# points and the eye rings; the others listed in SMILE_POINTS lie on the midline.
MIRROR_PAIRS = (
    *((61, 291), (146, 375), (91, 321), (181, 405), (84, 314), (37, 267), (39, 269), (40, 270)),
    *((185, 409), (78, 308), (95, 324), (88, 318), (178, 402), (87, 317), (82, 312), (81, 311)),
    *((80, 310), (191, 415), (205, 425), (50, 280), (36, 266), (216, 436), (57, 287), (43, 273)),
    *((202, 422), (145, 374), (153, 380), (159, 386), (33, 263), (133, 362)),
)
_HOG = None


def eyes_transform(points: np.ndarray, eyes: EyePlaces) -> np.ndarray:
    """2x3 similarity taking image pixels to where the eye centres land on `eyes`
    ((x, y) of the image-left eye, then the other), eyes level."""
    found = np.array([points[list(ring), :2].mean(axis=0) for ring in EYE_RINGS], np.float64)
    target = np.array(eyes, np.float64)
    source_vec, target_vec = found[1] - found[0], target[1] - target[0]
    scale = np.linalg.norm(target_vec) / max(float(np.linalg.norm(source_vec)), 1e-6)
    angle = np.arctan2(target_vec[1], target_vec[0]) - np.arctan2(source_vec[1], source_vec[0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = target.mean(axis=0) - rotation @ found.mean(axis=0)
    return np.hstack([rotation, shift[:, None]])


def canonical_transform(points: np.ndarray) -> np.ndarray:
    """2x3 similarity taking image pixels to the canonical 64x64 face (eyes level, fixed size)."""
    return eyes_transform(points, CANONICAL_EYES)


def _mouth_hog(patch: np.ndarray) -> np.ndarray:
    import cv2

    global _HOG
    if _HOG is None:  # (48x24 window, 16x16 blocks, 8 px cells, 9 bins): 5 x 2 blocks, 360 values
        _HOG = cv2.HOGDescriptor((48, 24), (16, 16), (8, 8), (8, 8), 9)
    return np.asarray(_HOG.compute(patch), np.float32).reshape(-1)


def mirrored_points(points: np.ndarray, width: int) -> np.ndarray:
    """The FaceMesh points of the horizontally mirrored image (x -> width - 1 - x), with the
    left/right points of MIRROR_PAIRS swapped so that each index names the same part of the
    face again (only the smile points and eye rings are re-indexed)."""
    flipped = np.array(points, np.float64, copy=True)
    flipped[:, 0] = width - 1 - flipped[:, 0]
    pairs = np.array(MIRROR_PAIRS)
    flipped[np.concatenate([pairs[:, 0], pairs[:, 1]])] = flipped[
        np.concatenate([pairs[:, 1], pairs[:, 0]])
    ]
    return flipped


def smile_features(grey: np.ndarray, points: np.ndarray, mirror: bool = False) -> np.ndarray:
    """Landmark geometry of the mouth, cheeks and eyelids, HOG of the mouth and the mouth's
    equalised pixels at 24x12, all in the eye-normalised 64x64 face (776 values).

    With `mirror`, the features of the horizontally mirrored image, computed from the same
    landmarks (re-indexed) and one more 64x64 warp: no landmark network run.
    """
    import cv2

    if mirror:
        points = mirrored_points(points, grey.shape[1])
    transform = canonical_transform(points)
    shape = points[list(SMILE_POINTS), :2] @ transform[:, :2].T + transform[:, 2]
    warp = transform
    if mirror:  # image pixels -> mirrored image (x -> w - 1 - x) -> canonical face
        flip = np.array([[-1.0, 0.0, grey.shape[1] - 1.0], [0.0, 1.0, 0.0]])
        warp = np.hstack(
            [
                transform[:, :2] @ flip[:, :2],
                (transform[:, :2] @ flip[:, 2] + transform[:, 2])[:, None],
            ]
        )
    face = cv2.warpAffine(
        grey,
        warp,
        (CANONICAL_SIZE, CANONICAL_SIZE),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_REPLICATE,
    )
    face = cv2.equalizeHist(face)
    mouth = np.ascontiguousarray(face[36:60, 8:56])
    geometry = (shape / CANONICAL_SIZE).reshape(-1)
    pixels = cv2.resize(mouth, (24, 12), interpolation=cv2.INTER_AREA).reshape(-1) / 255.0
    return np.concatenate([geometry, _mouth_hog(mouth), pixels]).astype(np.float32)


class SmileModel:
    """The shipped smile classifier (tools/train_smile.py): P(smiling) from `smile_features`
    (a small ensemble of one-hidden-layer networks; a logistic model file also loads), fused,
    when the file says `fusion`, with FER2013's P(happy) (`models.expression`)."""

    def __init__(self, model: LinearModel | MlpModel, expression: Any = None) -> None:
        self.model = model
        self.fusion: dict[str, float] | None = model.about.get("fusion")
        if self.fusion is not None and expression is None:
            raise SmilepayError(
                "this smile model fuses the expression network's P(happy) (models/expression.py) "
                "but none was given: open it with SmileModel.load after `smilepay models "
                "provision`, or pass an ExpressionModel"
            )
        self.expression = expression

    @classmethod
    def load(
        cls, path: Path | None = None, model_dir: Path | None = None, threads: int = 1
    ) -> SmileModel:
        """The model shipped in models/weights (or the file at `path`), with the provisioned
        expression network from `model_dir` when the model fuses it."""
        model = load_classifier(path or WEIGHTS_DIR / SMILE_MODEL_FILE)
        if "fusion" not in model.about:
            return cls(model)
        from models.expression import EXPRESSION_FILE, ExpressionModel
        from models.provision import model_path

        return cls(model, ExpressionModel.load(model_path(EXPRESSION_FILE, model_dir), threads))

    @property
    def threshold(self) -> float:
        """Probability at or above which a face counts as smiling."""
        return self.model.threshold

    @property
    def mirror_average(self) -> bool:
        """Whether the model was trained to be scored as the mean over the face and its mirror."""
        return bool(self.model.about.get("mirror_average", False))

    def network_score(self, grey: np.ndarray, points: np.ndarray) -> float:
        """The smile network's own P(smiling) (the mean with its mirror image's when the model
        says `mirror_average`), before any fusion."""
        if not self.mirror_average:
            return float(self.model.probability(smile_features(grey, points)))
        both = np.stack([smile_features(grey, points), smile_features(grey, points, mirror=True)])
        return float(np.mean(self.model.probability(both)))

    def score(self, grey: np.ndarray, points: np.ndarray) -> float:
        """P(smiling) of the face with these FaceMesh points in a grey image."""
        network = self.network_score(grey, points)
        if self.fusion is None:
            return network
        happy = self.expression.happy_logit(grey, points)
        return float(fused_probability(self.fusion, network, happy))


def fused_probability(fusion: dict[str, float], network: Any, happy_logit: Any) -> Any:
    """sigmoid(smile * logit(network) + expression * happy_logit + bias), elementwise (a float
    for floats, an array for arrays)."""
    z = fusion["smile"] * logit(network) + fusion["expression"] * np.asarray(happy_logit)
    z = np.clip(z + fusion["bias"], -80.0, 80.0)
    fused = 1.0 / (1.0 + np.exp(-z))
    return float(fused) if fused.ndim == 0 else fused
