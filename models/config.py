"""Face pipeline settings."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from base.settings import Section


def default_model_dir() -> Path:
    """Where provisioned model files live unless config says otherwise."""
    return Path("~/.local/share/smilepay/models").expanduser()


class FaceConfig(Section):
    """Face detection, smile intent and matching thresholds."""

    model_dir: Path = Field(default_factory=default_model_dir)
    embedding_backend: Literal["litert", "dlib"] = "litert"
    # LiteRT weights: float32 matches dlib exactly; float16 halves the file; int8 is ~4x faster
    # with a small measured accuracy cost (see the README's face benchmarks).
    embedding_weights: Literal["float32", "float16", "int8"] = "float32"
    threads: int = 2
    # Average each descriptor with its mirror image's: better in-the-wild accuracy for a second
    # network run per embedded frame. Templates enrolled with one setting match the other
    # closely, but keep it the same across a fleet.
    mirror_average: bool = True
    match_threshold: float = 0.6  # dlib descriptor distance; nothing matches at or above this
    # Target share of strangers paid as someone: the pay threshold tightens with the gallery
    # size so that gallery size x per-comparison FMR stays under it (models/decision.py).
    pay_fpir: float = 0.0005
    # Likewise the step-up threshold, so that at most this share of strangers is asked for
    # step-up digits (each such prompt is a guess at someone's digits).
    step_up_fpir: float = 0.2
    # ... but never so tight that more than this share of returning customers is refused.
    step_up_fnmr: float = 0.05
    match_margin: float = 0.08  # best must beat second-best by this much, else step-up
    step_up_amount_minor: int = 5000  # sales at or above this always ask for a step-up
    capture_timeout_s: float = 20.0
    keep_debug_images: bool = False  # raw face images are never stored unless this is on
