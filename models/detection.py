"""BlazeFace short-range face detection: letterbox, run, decode anchors, weighted NMS.

The model (`face_detection_short_range.tflite`, 128×128 RGB in [-1, 1]) predicts, for each of 896
fixed anchors, a score and a box with 6 keypoints (right eye, left eye, nose tip, mouth centre,
right ear tragion, left ear tragion) as offsets in input pixels from the anchor centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

INPUT_SIZE = 128
# MediaPipe's short-range anchor layout: strides 8, 16, 16, 16 with 2 anchors per cell each.
ANCHOR_STRIDES = (8, 16, 16, 16)
MIN_SCORE = 0.5
NMS_IOU = 0.3


@dataclass(frozen=True)
class Detection:
    """One face in image pixels: box (x, y, w, h), score, and 6 keypoints as a (6, 2) array."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return self.box[2] * self.box[3]


def make_anchors() -> np.ndarray:
    """The 896 anchor centres (x, y) in [0, 1], in the model's output order."""
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        stride = ANCHOR_STRIDES[layer]
        per_cell = 0
        while layer < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[layer] == stride:
            per_cell += 2
            layer += 1
        cells = INPUT_SIZE // stride
        for row in range(cells):
            for col in range(cells):
                centres.extend([((col + 0.5) / cells, (row + 0.5) / cells)] * per_cell)
    return np.asarray(centres, dtype=np.float32)


def letterbox(image_rgb: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """Pad to a square, resize to 128×128; return the input tensor, scale and padding offsets."""
    height, width = image_rgb.shape[:2]
    side = max(height, width)
    pad_y, pad_x = (side - height) // 2, (side - width) // 2
    square = cv2.copyMakeBorder(
        image_rgb, pad_y, side - height - pad_y, pad_x, side - width - pad_x, cv2.BORDER_CONSTANT
    )
    small = cv2.resize(square, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    tensor = small.astype(np.float32)[None] / 127.5 - 1.0
    return tensor, side / INPUT_SIZE, pad_x, pad_y


def decode(
    regressors: np.ndarray, scores: np.ndarray, anchors: np.ndarray, min_score: float = MIN_SCORE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs to boxes (n, 4) as x0, y0, x1, y1 in [0, 1], scores (n,), keypoints (n, 6, 2)."""
    probabilities = 1.0 / (1.0 + np.exp(-np.clip(scores.reshape(-1), -80.0, 80.0)))
    keep = probabilities >= min_score
    raw = regressors.reshape(-1, 16)[keep] / INPUT_SIZE
    centres = anchors[keep]
    middle = raw[:, 0:2] + centres
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([middle - half, middle + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    return boxes, probabilities[keep], keypoints


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one (x0, y0, x1, y1) box with each of `others`."""
    top_left = np.maximum(box[:2], others[:, :2])
    bottom_right = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, threshold: float = NMS_IOU
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe-style blending NMS: overlapping detections are averaged, weighted by score."""
    order = list(np.argsort(-scores))
    faces = []
    while order:
        overlaps = iou(boxes[order[0]], boxes[order])
        group = [order[i] for i in np.flatnonzero(overlaps > threshold)]
        weights = scores[group] / scores[group].sum()
        box = (boxes[group] * weights[:, None]).sum(axis=0)
        points = (keypoints[group] * weights[:, None, None]).sum(axis=0)
        faces.append((box, float(scores[order[0]]), points))
        order = [index for index in order if index not in set(group)]
    return faces


class FaceDetector:
    """BlazeFace short-range on a LiteRT interpreter; detects faces up to about 2 m away."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.interpreter.allocate_tensors()
        self.input_index = interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
        self.regressors_index = outputs["regressors"]
        self.scores_index = outputs["classificators"]
        self.anchors = make_anchors()

    @classmethod
    def load(cls, model_file: Path, threads: int) -> FaceDetector:
        """Open the model file on LiteRT (or tflite-runtime)."""
        from models.runtime import load_interpreter

        return cls(load_interpreter(model_file, threads))

    def detect(self, image_rgb: np.ndarray, min_score: float = MIN_SCORE) -> list[Detection]:
        """All faces in an RGB uint8 image, best score first, in image pixel coordinates."""
        tensor, scale, pad_x, pad_y = letterbox(image_rgb)
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        boxes, scores, keypoints = decode(
            self.interpreter.get_tensor(self.regressors_index),
            self.interpreter.get_tensor(self.scores_index),
            self.anchors,
            min_score,
        )
        offset = np.array([pad_x, pad_y], dtype=np.float32)
        side = scale * INPUT_SIZE
        found = []
        for box, score, points in weighted_nms(boxes, scores, keypoints):
            x0, y0 = box[:2] * side - offset
            x1, y1 = box[2:] * side - offset
            pixel_box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            found.append(Detection(pixel_box, score, points * side - offset))
        return found


def largest(detections: list[Detection]) -> Detection | None:
    """The detection with the largest box, or None."""
    return max(detections, key=lambda d: d.area, default=None)
