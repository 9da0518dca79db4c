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
from models.presentation import PresentationAttackModel
from models.quality import QualityGates, QualityReport, assess
from models.smile import SmileModel, smile_ratio

DETECTOR_FILE = "face_detection_short_range"
LANDMARK_FILE = "face_landmark"
MIN_SIDE = 32
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000
MAX_CANDIDATES = 3  # detections tried, largest first, until FaceMesh confirms one
# BlazeFace short-range misses faces that fill the frame or touch its edge (GENKI's 64x64
# crops: 8 %); when nothing is found the frame is tried again inside a border this wide
# (edge pixels repeated: on GENKI this recovered more faces than a black border), then inside
# a narrower one.
RETRY_BORDERS = (0.5, 0.25)
# An image this small (short side, px) may be a face crop that the face fills: when BlazeFace
# finds nothing in it, FaceMesh is asked about the whole image as one face. With no detector
# behind the guess, FaceMesh must be near certain: on GENKI crops, presence 0.55-0.95 was also
# given to lettering, fabric and a patterned texture; the faces it recovered scored >= 0.99.
WHOLE_FACE_MAX_SIDE = 256
WHOLE_FACE_MIN_PRESENCE = 0.98


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
    smile_score: float | None = None  # P(smiling) from the trained smile model
    smiling: bool | None = None  # smile_score at or above the model's threshold
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
        smile: SmileModel | None = None,
        presentation: PresentationAttackModel | None = None,
        mirror: bool = True,
    ) -> None:
        self.detector = detector
        self.landmarks = landmarks
        self.embedder = embedder
        self.gates = gates or QualityGates()
        self.smile = smile or SmileModel.load()
        self.presentation = presentation or PresentationAttackModel.load()
        self.mirror = mirror  # average the descriptor with the mirror image's (see `embed`)

    @classmethod
    def load(cls, config: FaceConfig) -> FaceEngine:
        """Open the provisioned models named by `config` (raises if they are not provisioned)."""
        from models.embedding import open_embedder
        from models.provision import model_path

        detector = FaceDetector.load(model_path(DETECTOR_FILE, config.model_dir), config.threads)
        landmarks = LandmarkModel.load(model_path(LANDMARK_FILE, config.model_dir), config.threads)
        smile = SmileModel.load(model_dir=config.model_dir, threads=config.threads)
        return cls(
            detector, landmarks, open_embedder(config), smile=smile, mirror=config.mirror_average
        )

    def analyse(self, image_bgr: Any) -> FaceObservation:
        """Find the largest face in a BGR frame and measure it."""
        image = check_image(image_bgr)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        timings = {"detect_ms": 0.0, "landmarks_ms": 0.0}
        detection, mesh = self._locate(rgb, timings)
        if mesh is None:
            return FaceObservation("no_face", detection, timings_ms=timings)
        started = time.perf_counter()
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        quality = assess(grey, mesh.points, self.gates)
        ratio = smile_ratio(mesh.points)
        score = self.smile.score(grey, mesh.points)
        timings["quality_smile_ms"] = _since(started)
        smiling = score >= self.smile.threshold
        return FaceObservation(
            quality.guidance, detection, mesh, quality, ratio, score, smiling, timings
        )

    def _locate(
        self, rgb: np.ndarray, timings: dict[str, float]
    ) -> tuple[Detection | None, FaceMesh | None]:
        """The largest confirmed face; if none, again inside borders of repeated edge pixels;
        in a small image, last, the whole image as one face if FaceMesh confirms it."""
        first: Detection | None = None
        side = max(rgb.shape[:2])
        for border in (0, *(round(share * side) for share in RETRY_BORDERS)):
            started = time.perf_counter()
            detections = sorted(self._detect(rgb, border), key=lambda d: -d.area)
            timings["detect_ms"] += _since(started)
            if not detections:
                continue
            started = time.perf_counter()
            detection, mesh = self._confirmed_face(rgb, detections)
            timings["landmarks_ms"] += _since(started)
            if mesh is not None:
                return detection, mesh
            first = first or detection
        if min(rgb.shape[:2]) <= WHOLE_FACE_MAX_SIDE:
            started = time.perf_counter()
            whole = whole_image_face(rgb.shape[1], rgb.shape[0])
            mesh = self.landmarks.landmarks(rgb, whole, WHOLE_FACE_MIN_PRESENCE)
            timings["landmarks_ms"] += _since(started)
            if mesh is not None:
                return whole, mesh
        return first, None

    def _detect(self, rgb: np.ndarray, border: int) -> list[Detection]:
        """BlazeFace's faces in the frame, or in the frame inside a `border` of repeated edges."""
        if not border:
            return self.detector.detect(rgb)
        padded = cv2.copyMakeBorder(rgb, border, border, border, border, cv2.BORDER_REPLICATE)
        return [_shifted(d, -border) for d in self.detector.detect(padded)]

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
        """The 128-d face descriptor of the observed face (dlib semantics: same person < 0.6).

        With `mirror` (config `mirror_average`, default on) the descriptor is the mean of the
        aligned chip's and its mirror image's: on in-the-wild faces (celeba-dev) this cut FNMR
        at FMR 1e-3 from 13.4 % to 12.0 % for one more network run (docs/face.md).
        """
        if observation.mesh is None:
            raise BadImage("no face to embed in this frame")
        rgb = cv2.cvtColor(check_image(image_bgr), cv2.COLOR_BGR2RGB)
        chip = self.embedder.face_chip(rgb, landmark_box(observation.mesh.points))
        vector = self.embedder.embed_chip(chip)
        if self.mirror:
            vector = (vector + self.embedder.embed_chip(np.ascontiguousarray(chip[:, ::-1]))) / 2
        return np.asarray(vector, dtype=np.float32).reshape(128)


def whole_image_face(width: int, height: int) -> Detection:
    """A detection covering the centred square of an image, upright (a face crop's face)."""
    side = float(min(width, height))
    x, y = (width - side) / 2, (height - side) / 2
    keypoints = np.array(
        [
            (x + 0.3 * side, y + 0.4 * side),  # right eye (image left)
            (x + 0.7 * side, y + 0.4 * side),  # left eye
            (x + 0.5 * side, y + 0.6 * side),  # nose tip
            (x + 0.5 * side, y + 0.75 * side),  # mouth centre
            (x, y + 0.45 * side),  # ear tragions
            (x + side, y + 0.45 * side),
        ],
        np.float32,
    )
    return Detection((x, y, side, side), 0.0, keypoints)


def _shifted(detection: Detection, offset: float) -> Detection:
    x, y, width, height = detection.box
    box = (x + offset, y + offset, width, height)
    return Detection(box, detection.score, detection.keypoints + offset)


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
