"""Passive presentation-attack detection on one frame: is this face a printed photo?

A printed photo held to the camera loses fine skin texture (print dots, paper grain and a
second capture blur it), shifts colour (ink gamut, paper white) and reflects light flatly.
The features are classic for this (Määttä et al. 2011; Tan et al. 2010 for NUAA): uniform
LBP histograms of the grey face on a grid, difference-of-Gaussians band energies, and colour
statistics in YCrCb and HSV, all on the face resampled to a fixed 128x128 eye-aligned crop.
A logistic regression (tools/train_liveness.py, NUAA subjects 1-9) turns them into
P(attack). What it cannot judge: screens replaying a video, masks, and prints far better
than NUAA's; docs/face.md says so with the measured figures.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.linear import WEIGHTS_DIR, LinearModel
from models.smile import eyes_transform

PAD_MODEL_FILE = "liveness.json"
CROP_SIZE = 128
CROP_EYES = ((40.0, 50.0), (88.0, 50.0))
GRID = 2  # LBP histograms on the whole face and on each cell of a GRID x GRID split
DOG_SIGMAS = ((0.5, 1.0), (1.0, 2.0), (2.0, 4.0))


def _uniform_table() -> np.ndarray:
    """LBP code (0-255) to its uniform-pattern bin (58 uniform patterns, one bin for the rest)."""
    table = np.full(256, 58, np.int64)
    uniform = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = uniform
            uniform += 1
    return table


UNIFORM = _uniform_table()


def face_crop(image_bgr: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The face as a 128x128 BGR crop with the eyes level at fixed places."""
    transform = eyes_transform(points, CROP_EYES)
    scale = float(np.hypot(*transform[:, 0]))
    return cv2.warpAffine(
        image_bgr,
        transform,
        (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def lbp_histograms(grey: np.ndarray) -> np.ndarray:
    """Normalised uniform LBP(8,1) histograms of the whole face and of a 2x2 grid."""
    centre = grey[1:-1, 1:-1].astype(np.int16)
    offsets = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))
    codes = np.zeros_like(centre, dtype=np.int64)
    for bit, (dy, dx) in enumerate(offsets):
        neighbour = grey[dy : dy + centre.shape[0], dx : dx + centre.shape[1]].astype(np.int16)
        codes |= (neighbour >= centre).astype(np.int64) << bit
    bins = UNIFORM[codes]
    cells = [bins]
    step = bins.shape[0] // GRID
    for row in range(GRID):
        for col in range(GRID):
            cells.append(bins[row * step : (row + 1) * step, col * step : (col + 1) * step])
    return np.concatenate([np.bincount(c.ravel(), minlength=59) / c.size for c in cells])


def dog_energies(grey: np.ndarray) -> np.ndarray:
    """Log mean energy and kurtosis of difference-of-Gaussians bands (high to low frequency)."""
    values = []
    face = grey.astype(np.float32)
    for low, high in DOG_SIGMAS:
        band = cv2.GaussianBlur(face, (0, 0), low) - cv2.GaussianBlur(face, (0, 0), high)
        energy = float(np.mean(band**2))
        kurtosis = float(np.mean(band**4) / max(energy**2, 1e-9))
        values += [np.log(energy + 1e-6), np.log(kurtosis)]
    return np.asarray(values)


def colour_statistics(face_bgr: np.ndarray) -> np.ndarray:
    """Mean and spread of YCrCb and HSV channels, Cr/Cb histograms, share of specular pixels."""
    ycrcb = cv2.cvtColor(face_bgr, cv2.COLOR_BGR2YCrCb).reshape(-1, 3).astype(np.float32)
    hsv = cv2.cvtColor(face_bgr, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.float32)
    moments = [ycrcb.mean(0), ycrcb.std(0), hsv.mean(0), hsv.std(0)]
    histograms = [np.histogram(ycrcb[:, c], 16, (0, 256))[0] / len(ycrcb) for c in (1, 2)]
    specular = np.mean((hsv[:, 2] > 240) & (hsv[:, 1] < 40))
    return np.concatenate([*moments, *histograms, [specular]])


def pad_features(image_bgr: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Texture and colour features of the face with these FaceMesh points in a BGR frame."""
    return crop_features(face_crop(image_bgr, points))


def crop_features(face: np.ndarray) -> np.ndarray:
    """Texture and colour features of a `face_crop`."""
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    parts = (lbp_histograms(grey), dog_energies(grey), colour_statistics(face))
    return np.concatenate(parts).astype(np.float32)


class PresentationAttackModel:
    """The shipped printed-photo detector: P(attack) of one frame's face."""

    def __init__(self, model: LinearModel) -> None:
        self.model = model

    @classmethod
    def load(cls, path: Path | None = None) -> PresentationAttackModel:
        """The model shipped in models/weights (or the file at `path`)."""
        return cls(LinearModel.load(path or WEIGHTS_DIR / PAD_MODEL_FILE))

    @property
    def threshold(self) -> float:
        """The kiosk's operating point: P(attack) at or above this rejects the frame."""
        return self.model.threshold

    def attack_probability(self, image_bgr: np.ndarray, points: np.ndarray) -> float:
        """P(the face with these landmarks is a printed photo)."""
        return float(self.model.probability(pad_features(image_bgr, points)))

    def crops_probability(self, crops: list[np.ndarray]) -> float:
        """Mean P(attack) over several frames' `face_crop`s (a session's verdict)."""
        features = np.stack([crop_features(crop) for crop in crops])
        return float(np.mean(self.model.probability(features)))
