"""Replay a recorded capture (image files in name order) through the smile-to-pay decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from base.errors import SmilepayError
from models.config import FaceConfig
from models.engine import FaceEngine, open_gallery_in, read_image
from models.gallery import Gallery
from models.session import SmileToPaySession

FRAME_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


def frame_files(frames_dir: Path) -> list[Path]:
    """Image files in the folder, in name order (as a camera delivered them)."""
    if not frames_dir.is_dir():
        raise SmilepayError(f"{frames_dir}: not a folder of frames")
    files = sorted(p for p in frames_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise SmilepayError(f"{frames_dir}: no image files ({', '.join(sorted(FRAME_SUFFIXES))})")
    return files


def replay(
    engine: FaceEngine,
    gallery: Gallery,
    frames: list[Path],
    config: FaceConfig,
    amount_minor: int,
    fps: float = 10.0,
) -> dict[str, Any]:
    """Feed the frames at `fps` to a fresh session; end it when they run out."""
    if not fps > 0:
        raise SmilepayError(f"frame rate must be positive, got {fps}")
    session = SmileToPaySession(engine, gallery, amount_minor, config, started_at=0.0)
    guidance: list[str] = []
    for number, path in enumerate(frames):
        progress = session.observe(read_image(path), number / fps)
        guidance.append(progress.guidance)
        if progress.decision is not None:
            break
    decision = session.expire()
    liveness = session.liveness
    return {
        "frames": len(frames),
        "frames_used": len(guidance),
        "face_found": session.saw_face,
        "smile_transition": decision.smile_transition,
        "live": decision.live,
        "live_reasons": list(decision.live_reasons),
        "match": decision.name,
        "customer_id": decision.customer_id,
        "score": _rounded(decision.score),
        "margin": _rounded(decision.margin),
        "decision": decision.kind,
        "amount_minor": amount_minor,
        "mouth_deformation": _rounded(liveness.mouth_deformation if liveness else None),
        "guidance": guidance,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def replay_command(args: Any, face: FaceConfig, key_file: Path) -> int:
    """`smilepay face replay`: the decision on recorded frames; last line JSON with --json."""
    frames = frame_files(args.frames_dir)
    engine = FaceEngine.load(face)
    gallery = open_gallery_in(args.data_dir, key_file)
    try:
        result = replay(engine, gallery, frames, face, args.amount_minor, args.fps)
    finally:
        gallery.close()
    if args.json:
        print(json.dumps(result))
    else:
        match = result["match"] or "-"
        print(
            f"{result['decision']} match={match} score={result['score']} "
            f"margin={result['margin']} live={result['live']} {result['live_reasons']}"
        )
    return 0
