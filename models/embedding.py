"""Face embeddings: dlib's 128-d descriptor, on LiteRT (our converted model) or on dlib itself.

Distances follow dlib: Euclidean distance between descriptors, same person below 0.6.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from models.alignment import CHIP_SIZE, Box, FaceAligner
from models.config import FaceConfig
from models.errors import BadImage

DESCRIPTOR_SIZE = 128
SAME_PERSON_DISTANCE = 0.6
LITERT_MODEL = "dlib_face_recognition_resnet_v1"
LITERT_INT8_MODEL = "dlib_face_recognition_resnet_v1_int8"  # option: faster, measured cost
LITERT_MODELS = {
    "float32": LITERT_MODEL,
    "float16": LITERT_MODEL + "_fp16",
    "int8": LITERT_INT8_MODEL,
}
DLIB_MODEL = "dlib_face_recognition_resnet_model_v1"
PREDICTOR_MODEL = "shape_predictor_5_face_landmarks"


class Embedder(Protocol):
    """Turns a face into dlib's 128-d descriptor."""

    backend: str

    def embed_chip(self, chip_rgb: np.ndarray) -> np.ndarray:
        """Descriptor (128 float32) of an aligned 150 x 150 x 3 uint8 RGB face chip."""
        ...

    def embed_face(self, image_rgb: np.ndarray, box: Box) -> np.ndarray:
        """Descriptor of the face in `box` (x, y, w, h) of an RGB image: align, then embed."""
        ...


def check_chip(chip: Any) -> np.ndarray:
    """`chip` as a contiguous 150 x 150 x 3 uint8 array, or BadImage saying what is wrong."""
    if not isinstance(chip, np.ndarray):
        raise BadImage(f"face chip must be a numpy array, got {type(chip).__name__}")
    if chip.dtype != np.uint8:
        raise BadImage(f"face chip must be uint8 (0..255), got dtype {chip.dtype}")
    if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
        raise BadImage(f"face chip must be {CHIP_SIZE}x{CHIP_SIZE}x3 RGB, got shape {chip.shape}")
    return np.ascontiguousarray(chip)


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (dlib: same person below 0.6)."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


class LiteRTEmbedder:
    """dlib's network converted to TFLite, run on LiteRT. One instance per thread."""

    backend = "litert"

    def __init__(self, model_path: Path, predictor_path: Path, threads: int = 2) -> None:
        from models.runtime import load_interpreter

        self._interpreter = load_interpreter(model_path, threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._predictor_path = predictor_path
        self._aligner: FaceAligner | None = None

    def embed_chip(self, chip_rgb: np.ndarray) -> np.ndarray:
        """Descriptor (128 float32) of an aligned 150 x 150 x 3 uint8 RGB face chip."""
        chip = check_chip(chip_rgb).astype(np.float32)[np.newaxis]
        self._interpreter.set_tensor(self._input, chip)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output)[0], dtype=np.float32)

    def embed_face(self, image_rgb: np.ndarray, box: Box) -> np.ndarray:
        """Descriptor of the face in `box` of an RGB image."""
        if self._aligner is None:
            self._aligner = FaceAligner(self._predictor_path)
        return self.embed_chip(self._aligner.chip(image_rgb, box))


class DlibEmbedder:
    """dlib's own network: the reference the converted model is checked against, and a fallback."""

    backend = "dlib"

    def __init__(self, model_path: Path, predictor_path: Path) -> None:
        import dlib  # heavy native module: only when this backend is chosen

        self._net = dlib.face_recognition_model_v1(str(model_path))
        self._predictor_path = predictor_path
        self._aligner: FaceAligner | None = None

    def embed_chip(self, chip_rgb: np.ndarray) -> np.ndarray:
        """Descriptor (128 float32) of an aligned 150 x 150 x 3 uint8 RGB face chip."""
        return np.array(self._net.compute_face_descriptor(check_chip(chip_rgb)), dtype=np.float32)

    def embed_face(self, image_rgb: np.ndarray, box: Box) -> np.ndarray:
        """Descriptor of the face in `box` of an RGB image."""
        if self._aligner is None:
            self._aligner = FaceAligner(self._predictor_path)
        return self.embed_chip(self._aligner.chip(image_rgb, box))


def open_embedder(face_config: FaceConfig, weights: str | None = None) -> Embedder:
    """The embedder `face_config.embedding_backend` names, on verified model files.

    `weights` (default: `face_config.embedding_weights`) picks the LiteRT file: "float32"
    (exact), "float16" (half the size, cosine >= 0.9999 to dlib) or "int8" (a quarter of the
    size, faster; see its measured accuracy cost in `python -m models.bench_face`).
    """
    weights = weights or face_config.embedding_weights
    from models.provision import model_path

    model_dir = face_config.model_dir.expanduser()
    predictor = model_path(PREDICTOR_MODEL, model_dir)
    if face_config.embedding_backend == "dlib":
        return DlibEmbedder(model_path(DLIB_MODEL, model_dir), predictor)
    if weights not in LITERT_MODELS:
        raise ValueError(f"weights must be one of {sorted(LITERT_MODELS)}, got {weights!r}")
    litert_model = model_path(LITERT_MODELS[weights], model_dir)
    return LiteRTEmbedder(litert_model, predictor, face_config.threads)


def open_aligner(face_config: FaceConfig) -> FaceAligner:
    """dlib's 5-point aligner on the verified shape predictor in `face_config.model_dir`."""
    from models.provision import model_path

    return FaceAligner(model_path(PREDICTOR_MODEL, face_config.model_dir.expanduser()))
