"""`smilepay bench liveness`: the per-frame printed-photo check on a labelled manifest.

Each row of a `path,subject,attack` CSV (attack 1 for a presentation attack, 0 for a live
person) goes through the kiosk pipeline; the face's P(attack) is compared with the kiosk's
operating threshold (the shipped model's). ISO/IEC 30107-3 terms: APCER is the share of
attack frames accepted as live, BPCER the share of live frames rejected. Frames where no face
is found are counted apart (`no_face`) and left out of both rates: the kiosk cannot pay
without a face, and cannot serve one either.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from base.errors import SmilepayError
from base.progress import Progress
from models.bench import rss_mb
from models.config import FaceConfig
from models.engine import BadImage, FaceEngine, read_image

Row = tuple[Path, str, bool]  # frame, subject, attack


def liveness_dataset(manifest: Path) -> list[Row]:
    """Rows of a `path,subject,attack` CSV (paths relative to it; attack 1 or 0)."""
    try:
        with manifest.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SmilepayError(f"{manifest}: cannot read: {exc.strerror or exc}") from None
    if not rows or {"path", "subject", "attack"} - set(rows[0]):
        raise SmilepayError(f"{manifest}: needs a header path,subject,attack and rows")
    dataset = []
    for number, row in enumerate(rows, start=2):
        if row["attack"] not in ("0", "1"):
            raise SmilepayError(f"{manifest}:{number}: attack must be 1 or 0")
        dataset.append((manifest.parent / row["path"], row["subject"], row["attack"] == "1"))
    return dataset


def score_frame(engine: FaceEngine, path: Path) -> tuple[float, float] | None:
    """(P(attack), milliseconds of the check) for the frame's face, or None without a face."""
    try:
        image = read_image(path)
    except BadImage:
        return None
    observation = engine.analyse(image)
    if observation.mesh is None:
        return None
    started = time.perf_counter()
    probability = engine.presentation.attack_probability(image, observation.mesh.points)
    return probability, (time.perf_counter() - started) * 1000


def bench_liveness(engine: FaceEngine, dataset: list[Row]) -> dict[str, Any]:
    """The `bench liveness` result object."""
    threshold = engine.presentation.threshold
    attack_scores: list[float] = []
    live_scores: list[float] = []
    timings: list[float] = []
    no_face = 0
    progress = Progress("bench liveness", len(dataset))
    for path, _, attack in dataset:
        progress.advance()
        scored = score_frame(engine, path)
        if scored is None:
            no_face += 1
            continue
        (attack_scores if attack else live_scores).append(scored[0])
        timings.append(scored[1])
    progress.finish()
    attacks, live = np.asarray(attack_scores), np.asarray(live_scores)
    return {
        "bench": "liveness",
        "frames": len(dataset),
        "attacks": int(attacks.size),
        "bona_fide": int(live.size),
        "no_face": no_face,
        "threshold": round(threshold, 6),
        "apcer": round(float(np.mean(attacks < threshold)), 5) if attacks.size else None,
        "bpcer": round(float(np.mean(live >= threshold)), 5) if live.size else None,
        "ms_p50": round(float(np.percentile(timings, 50)), 3) if timings else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rss_mb": rss_mb(),
    }


def bench_liveness_command(args: Any, face: FaceConfig) -> int:
    """`smilepay bench liveness --dataset CSV --json`."""
    dataset = liveness_dataset(args.dataset)
    result = bench_liveness(FaceEngine.load(face), dataset)
    print(json.dumps(result) if args.json else result)
    return 0
