"""A face the project may ship, as a neutral→smile camera sequence, for the demo and the tests.

The source is scikit-image's astronaut (public domain), who smiles. A neutral version is made by
warping the mouth: the corners are pulled in towards the mouth centre and down, and the lips
are closed over the teeth (the rows of the opening are cut out, each lip sampled from further
from the lip line), with a displacement field that fades away from the mouth (OpenCV remap; the
FaceMesh landmarks locate it). The trained smile model calls a mouth that is merely narrowed
but still shows its teeth a smile, as a person would. A sequence then shows a few neutral
frames, the smile growing back, and smiling frames,
each with a small head motion and sensor noise as a camera would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.config import FaceConfig
from models.engine import FaceEngine, read_image

ASTRONAUT_FILE = "astronaut"
MOUTH_CORNERS = (61, 291)
LIP_CENTRE = (13, 14)  # inner upper and lower lip, middle


@dataclass(frozen=True)
class MouthGeometry:
    """Where the mouth is: centre, corners and width in pixels."""

    centre: np.ndarray
    corners: np.ndarray
    width: float
    opening: float = 0.0  # gap between the inner lips, pixels


def mouth_geometry(points: np.ndarray) -> MouthGeometry:
    """The mouth's centre, corners and width from FaceMesh points."""
    corners = points[list(MOUTH_CORNERS), :2].astype(np.float64)
    centre = points[list(LIP_CENTRE), :2].mean(axis=0).astype(np.float64)
    upper, lower = points[list(LIP_CENTRE), :2].astype(np.float64)
    width = float(np.linalg.norm(corners[1] - corners[0]))
    return MouthGeometry(centre, corners, width, float(np.linalg.norm(lower - upper)))


def relax_mouth(image: np.ndarray, mouth: MouthGeometry, strength: float) -> np.ndarray:
    """Warp the mouth towards neutral: 0 leaves the image alone, 1 is fully neutral.

    Backward mapping: each output pixel near the mouth samples from further out along the
    mouth's axis (which narrows the mouth) and from higher up near the corners (which lowers them).
    """
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = mouth.centre
    sigma = mouth.width * 0.55
    window = np.exp(-((xs - cx) ** 2 + ((ys - cy) * 1.6) ** 2) / (2 * sigma**2))
    narrow = 0.7 * strength * window
    map_x = cx + (xs - cx) * (1.0 + narrow)
    lower = np.zeros_like(xs)
    for corner_x, corner_y in mouth.corners:
        corner_window = np.exp(
            -((xs - corner_x) ** 2 + (ys - corner_y) ** 2) / (2 * (sigma * 0.5) ** 2)
        )
        lower += corner_window * mouth.width * 0.15 * strength
    # close the lips: output rows near the lip line sample from half the opening further out
    # (a cut at the lip line), fading along the mouth and away from it
    half = 0.6 * mouth.opening * strength
    along = np.exp(-((xs - cx) ** 2) / (2 * (mouth.width * 0.35) ** 2))
    across = np.exp(-((ys - cy) ** 2) / (2 * (mouth.width * 0.25) ** 2))
    close = np.sign(ys - cy) * half * along * across
    map_y = ys - lower + close
    return cv2.remap(
        image,
        map_x.astype(np.float32),
        map_y.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )


def camera_frame(image: np.ndarray, rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    """The image as one camera frame: a small head turn/shift/scale and sensor noise."""
    angle = float(rng.normal(0.0, 0.6))
    shift = rng.normal(0.0, 1.5, size=2)
    scale = float(1.0 + rng.normal(0.0, 0.005))
    turn = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix = np.asarray(turn, dtype=np.float64) + np.column_stack([np.zeros((2, 2)), shift])
    moved = cv2.warpAffine(
        image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT
    )
    noise = rng.normal(0.0, 2.0, size=moved.shape)
    return np.clip(moved.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def astronaut(model_dir: Path) -> np.ndarray:
    """The provisioned astronaut photo (BGR)."""
    from models.provision import model_path

    return read_image(model_path(ASTRONAUT_FILE, model_dir))


def neutral_and_smiling(engine: FaceEngine, model_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(neutral, smiling) versions of the astronaut."""
    smiling = astronaut(model_dir)
    observation = engine.analyse(smiling)
    if observation.mesh is None:
        raise RuntimeError("no face found on the astronaut: the models are not working")
    return relax_mouth(smiling, mouth_geometry(observation.mesh.points), 1.0), smiling


def demo_sequence(
    model_dir: Path,
    engine: FaceEngine | None = None,
    neutral_frames: int = 6,
    transition_frames: int = 4,
    smiling_frames: int = 6,
    seed: int = 7,
) -> list[np.ndarray]:
    """Neutral frames, the smile growing, then smiling frames (BGR), with natural small motion."""
    if engine is None:
        from models.config import FaceConfig

        engine = FaceEngine.load(FaceConfig(model_dir=model_dir))
    smiling = astronaut(model_dir)
    observation = engine.analyse(smiling)
    if observation.mesh is None:
        raise RuntimeError("no face found on the astronaut: the models are not working")
    mouth = mouth_geometry(observation.mesh.points)
    strengths = (
        [1.0] * neutral_frames
        + [1.0 - (i + 1) / (transition_frames + 1) for i in range(transition_frames)]
        + [0.0] * smiling_frames
    )
    rng = np.random.default_rng(seed)
    return [camera_frame(relax_mouth(smiling, mouth, s), rng, mouth.centre) for s in strengths]


def repeated_photo(model_dir: Path, count: int = 16) -> list[np.ndarray]:
    """One smiling photo repeated `count` times: an attack that must never pay."""
    photo = astronaut(model_dir)
    return [photo.copy() for _ in range(count)]


def demo_frames_command(args: Any, face: FaceConfig) -> int:
    """`smilepay face demo-frames OUT_DIR`: write the demo sequence as numbered PNG files."""
    model_dir = face.model_dir.expanduser()
    engine = FaceEngine.load(face)
    frames = repeated_photo(model_dir) if args.repeated_photo else demo_sequence(model_dir, engine)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for number, frame in enumerate(frames):
        cv2.imwrite(str(args.out_dir / f"frame_{number:03d}.png"), frame)
    print(f"{len(frames)} frames written to {args.out_dir}")
    return 0
