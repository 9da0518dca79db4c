"""FaceMesh: 468 3-D face landmarks from a rotated square crop around a detected face.

The crop follows MediaPipe's recipe: centred on the detection box, 1.5× its size, rotated so the
line between the eyes is horizontal. The model (`face_landmark.tflite`, 192×192 RGB in [0, 1])
returns points in crop pixels, which are mapped back to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.detection import Detection

INPUT_SIZE = 192
CROP_SCALE = 1.5
MIN_PRESENCE = 0.5


@dataclass(frozen=True)
class FaceMesh:
    """468 landmarks (x, y, z) in image pixels (z on the same scale) and face presence."""

    points: np.ndarray
    presence: float


def crop_transform(detection: Detection) -> np.ndarray:
    """The 2×3 affine matrix taking image pixels to the 192×192 upright crop."""
    x, y, width, height = detection.box
    centre = np.array([x + width / 2, y + height / 2])
    right_eye, left_eye = detection.keypoints[0], detection.keypoints[1]
    roll = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    scale = INPUT_SIZE / (max(width, height) * CROP_SCALE)
    cos, sin = math.cos(-roll) * scale, math.sin(-roll) * scale
    rotation = np.array([[cos, -sin], [sin, cos]])
    shift = INPUT_SIZE / 2 - rotation @ centre
    return np.hstack([rotation, shift[:, None]]).astype(np.float64)


class LandmarkModel:
    """FaceMesh on a LiteRT interpreter."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.interpreter.allocate_tensors()
        self.input_index = interpreter.get_input_details()[0]["index"]
        outputs = sorted(interpreter.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
        self.points_index = outputs[0]["index"]  # 1404 = 468 × 3
        self.presence_index = outputs[1]["index"]

    @classmethod
    def load(cls, model_file: Path, threads: int) -> LandmarkModel:
        """Open the model file on LiteRT (or tflite-runtime)."""
        from models.runtime import load_interpreter

        return cls(load_interpreter(model_file, threads))

    def landmarks(
        self, image_rgb: np.ndarray, detection: Detection, min_presence: float = MIN_PRESENCE
    ) -> FaceMesh | None:
        """The 468 landmarks of the detected face, or None if the model's face-presence score
        is below `min_presence` (it sees no face there)."""
        to_crop = crop_transform(detection)
        crop = cv2.warpAffine(
            image_rgb,
            to_crop,
            (INPUT_SIZE, INPUT_SIZE),
            flags=cv2.INTER_LINEAR,
            # faces at the frame's edge: repeated edge pixels let FaceMesh still see a face
            borderMode=cv2.BORDER_REPLICATE,
        )
        self.interpreter.set_tensor(self.input_index, crop.astype(np.float32)[None] / 255.0)
        self.interpreter.invoke()
        raw_presence = float(self.interpreter.get_tensor(self.presence_index).reshape(-1)[0])
        presence = 1.0 / (1.0 + math.exp(-max(min(raw_presence, 80.0), -80.0)))
        if presence < min_presence:
            return None
        crop_points = self.interpreter.get_tensor(self.points_index).reshape(468, 3)
        return FaceMesh(to_image(crop_points, to_crop), presence)


def to_image(crop_points: np.ndarray, to_crop: np.ndarray) -> np.ndarray:
    """Map crop-pixel landmarks back to image pixels (z scaled like x and y)."""
    back = cv2.invertAffineTransform(to_crop)
    xy = crop_points[:, :2] @ back[:, :2].T + back[:, 2]
    scale = math.sqrt(abs(np.linalg.det(back[:, :2])))
    return np.column_stack([xy, crop_points[:, 2] * scale]).astype(np.float32)
