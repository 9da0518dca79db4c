"""Face alignment: dlib's 5-point shape predictor turns a face box into a 150x150 face chip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.errors import BadImage

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # what dlib's face ResNet was trained with
MIN_IMAGE_SIDE = 16
MAX_IMAGE_SIDE = 8192  # beyond any camera frame; larger inputs are a mistake upstream

Box = tuple[float, float, float, float]  # x, y, width, height in pixels, from any detector


def as_rgb_image(image: Any) -> np.ndarray:
    """`image` as a contiguous H x W x 3 uint8 RGB array (grey H x W is expanded), or BadImage."""
    if not isinstance(image, np.ndarray):
        raise BadImage(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise BadImage(f"image must be uint8 (0..255), got dtype {image.dtype}")
    if image.size == 0:
        raise BadImage(f"image is empty (shape {image.shape})")
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] != 3:
        raise BadImage(f"image must be H x W x 3 RGB or H x W grey, got shape {image.shape}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise BadImage(f"image {width}x{height} is too small (min {MIN_IMAGE_SIDE} px a side)")
    if max(height, width) > MAX_IMAGE_SIDE:
        raise BadImage(
            f"image {width}x{height} is too large (max {MAX_IMAGE_SIDE} px a side); downscale it"
        )
    return np.ascontiguousarray(image)


def check_box(box: Box, image: np.ndarray) -> tuple[int, int, int, int]:
    """The box as integer (left, top, right, bottom), inclusive; BadImage if unusable."""
    try:
        x, y, width, height = (float(value) for value in box)
    except (TypeError, ValueError) as exc:
        raise BadImage(f"face box must be four numbers (x, y, width, height), got {box!r}") from exc
    if not all(np.isfinite([x, y, width, height])) or width < 1 or height < 1:
        raise BadImage(f"face box {box!r} has no area")
    image_height, image_width = image.shape[:2]
    if x >= image_width or y >= image_height or x + width <= 0 or y + height <= 0:
        raise BadImage(f"face box {box!r} lies outside the {image_width}x{image_height} image")
    left, top = round(x), round(y)
    return left, top, left + round(width) - 1, top + round(height) - 1


class FaceAligner:
    """dlib's 5-point landmarks on a detector's box, then dlib's own chip extraction."""

    def __init__(self, predictor_path: Path) -> None:
        import dlib  # heavy native module: only when a face model is opened

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(predictor_path))

    def landmarks(self, image_rgb: np.ndarray, box: Box) -> Any:
        """dlib's full_object_detection (5 points) for the face in `box`."""
        image = as_rgb_image(image_rgb)
        rect = self._dlib.rectangle(*check_box(box, image))
        return self._predictor(image, rect)

    def chip(self, image_rgb: np.ndarray, box: Box) -> np.ndarray:
        """The aligned 150 x 150 x 3 uint8 RGB face chip for the face in `box`."""
        image = as_rgb_image(image_rgb)
        shape = self._predictor(image, self._dlib.rectangle(*check_box(box, image)))
        chip = self._dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return np.asarray(chip, dtype=np.uint8)
