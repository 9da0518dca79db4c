"""The per-frame face pipeline: image checks, detection, landmarks, quality, smile, embedding.

`FaceEngine.load(config)` opens every model once; `analyse` is cheap enough to run on every
camera frame, `embed` (alignment + the face network) only on the frames a decision needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.config import FaceConfig
from models.detection import Detection, FaceDetector
from models.errors import BadImage
from models.landmarks import FaceMesh, LandmarkModel
from models.quality import QualityGates, QualityReport, assess
from models.smile import smile_ratio

DETECTOR_FILE = "face_detection_short_range"
LANDMARK_FILE = "face_landmark"
MIN_SIDE = 32
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000
MAX_CANDIDATES = 3  # detections tried, largest first, until FaceMesh confirms one


def check_image(image: Any) -> np.ndarray:
    """Return `image` as a BGR uint8 (h, w, 3) array, or raise BadImage saying what is wrong."""
    if image is None:
        raise BadImage("no image (None)")
    if not isinstance(image, np.ndarray):
        raise BadImage(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise BadImage(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise BadImage(f"image must be (h, w, 3) BGR, got shape {image.shape}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise BadImage(f"image is {width}×{height}: too small (at least {MIN_SIDE} px a side)")
    if max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
        raise BadImage(f"image is {width}×{height}: too large (at most {MAX_SIDE} px a side)")
    if image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to BGR, or raise BadImage naming the file."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise BadImage(f"{path}: cannot read: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise BadImage(f"{path}: not a readable image (empty or corrupt)")
    try:
        return check_image(image)
    except BadImage as exc:
        raise BadImage(f"{path}: {exc}") from None


@dataclass(frozen=True)
class FaceObservation:
    """What one frame shows: the largest face, its landmarks, quality and smile, with timings."""

    guidance: str
    detection: Detection | None = None
    mesh: FaceMesh | None = None
    quality: QualityReport | None = None
    smile_ratio: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def face_box(self) -> tuple[float, float, float, float] | None:
        """The face box (x, y, w, h) in pixels, or None."""
        return self.detection.box if self.detection else None

    @property
    def usable(self) -> bool:
        """Whether the face passed every quality gate."""
        return self.guidance == "ok"


class FaceEngine:
    """Detector, landmark model and embedder, loaded once and reused for every frame."""

    def __init__(
        self,
        detector: FaceDetector,
        landmarks: LandmarkModel,
        embedder: Any,
        gates: QualityGates | None = None,
    ) -> None:
        self.detector = detector
        self.landmarks = landmarks
        self.embedder = embedder
        self.gates = gates or QualityGates()

    @classmethod
    def load(cls, config: FaceConfig) -> FaceEngine:
        """Open the provisioned models named by `config` (raises if they are not provisioned)."""
        from models.embedding import open_embedder
        from models.provision import model_path

        detector = FaceDetector.load(model_path(DETECTOR_FILE, config.model_dir), config.threads)
        landmarks = LandmarkModel.load(model_path(LANDMARK_FILE, config.model_dir), config.threads)
        return cls(detector, landmarks, open_embedder(config))

    def analyse(self, image_bgr: Any) -> FaceObservation:
        """Find the largest face in a BGR frame and measure it."""
        image = check_image(image_bgr)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        detections = sorted(self.detector.detect(rgb), key=lambda d: -d.area)
        timings["detect_ms"] = _since(started)
        if not detections:
            return FaceObservation("no_face", timings_ms=timings)
        started = time.perf_counter()
        detection, mesh = self._confirmed_face(rgb, detections)
        timings["landmarks_ms"] = _since(started)
        if mesh is None:
            return FaceObservation("no_face", detection, timings_ms=timings)
        started = time.perf_counter()
        quality = assess(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), mesh.points, self.gates)
        ratio = smile_ratio(mesh.points)
        timings["quality_smile_ms"] = _since(started)
        return FaceObservation(quality.guidance, detection, mesh, quality, ratio, timings)

    def _confirmed_face(
        self, rgb: np.ndarray, detections: list[Detection]
    ) -> tuple[Detection, FaceMesh | None]:
        """The largest detection FaceMesh confirms as a face (a poster can fool BlazeFace)."""
        for detection in detections[:MAX_CANDIDATES]:
            mesh = self.landmarks.landmarks(rgb, detection)
            if mesh is not None:
                return detection, mesh
        return detections[0], None

    def embed(self, image_bgr: Any, observation: FaceObservation) -> np.ndarray:
        """The 128-d face descriptor of the observed face (dlib semantics: same person < 0.6)."""
        if observation.mesh is None:
            raise BadImage("no face to embed in this frame")
        rgb = cv2.cvtColor(check_image(image_bgr), cv2.COLOR_BGR2RGB)
        vector = self.embedder.embed_face(rgb, landmark_box(observation.mesh.points))
        return np.asarray(vector, dtype=np.float32).reshape(128)


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """A face box (x, y, w, h) from the landmarks' extent, for the aligner's 5-point model."""
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def open_gallery_in(data_dir: Path, key_file: Path) -> Any:
    """The gallery of a data directory: `<data_dir>/gallery.db` and its key file."""
    from models.gallery import Gallery

    key_path = key_file if key_file.is_absolute() else data_dir / key_file
    return Gallery.open(data_dir / "gallery.db", key_path)
