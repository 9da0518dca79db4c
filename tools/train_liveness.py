"""Train the printed-photo detector shipped as models/weights/liveness.json; report it honestly.

Data: NUAA Photograph Imposter Database, subjects 0001-0009 (../shared/data/faces/nuaa-dev,
X. Tan et al., ECCV 2010; research use): webcam frames of live people and of printed photos
of them. Every frame goes through the kiosk's pipeline (BlazeFace, FaceMesh), then
`models.presentation.pad_features`; a logistic regression (numpy) gives P(attack).

The figures are leave-one-subject-out: each subject's frames are scored by a model trained on
the other eight, so every score is for a person the model never saw. The operating threshold
is the out-of-fold score at which BPCER (live frames rejected) is TARGET_BPCER; APCER and
BPCER are reported there (the threshold is chosen on those same out-of-fold scores, so treat
them as a little optimistic). The shipped model is refitted on all nine subjects.

    PYTHONPATH=. python tools/train_liveness.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from base.progress import Progress
from models.config import FaceConfig
from models.engine import FaceEngine, read_image
from models.linear import WEIGHTS_DIR, LinearModel, fit_logistic
from models.presentation import PAD_MODEL_FILE, pad_features

TARGET_BPCER = 0.03
L2_CHOICES = (0.1, 1.0, 10.0, 100.0)


def landmark_engine() -> FaceEngine:
    """The kiosk's detector and landmarks (no embedder: only landmarks are needed)."""
    from models.detection import FaceDetector
    from models.engine import DETECTOR_FILE, LANDMARK_FILE
    from models.landmarks import LandmarkModel
    from models.provision import model_path

    config = FaceConfig()
    detector = FaceDetector.load(model_path(DETECTOR_FILE, config.model_dir), config.threads)
    landmarks = LandmarkModel.load(model_path(LANDMARK_FILE, config.model_dir), config.threads)
    return FaceEngine(detector, landmarks, None)


def nuaa(manifest: Path, engine: FaceEngine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, NaN rows where no face was found; attack labels; subjects) of every frame."""
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    features: list[np.ndarray | None] = []
    progress = Progress("liveness features", len(rows))
    for row in rows:
        progress.advance()
        image = read_image(manifest.parent / row["path"])
        observation = engine.analyse(image)
        mesh = observation.mesh
        features.append(None if mesh is None else pad_features(image, mesh.points))
    progress.finish()
    size = next(len(f) for f in features if f is not None)
    x = np.stack([np.full(size, np.nan, np.float32) if f is None else f for f in features])
    y = np.array([row["attack"] == "1" for row in rows])
    return x, y, np.array([row["subject"] for row in rows])


def out_of_fold(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, l2: float) -> np.ndarray:
    """Each subject's P(attack) from a model trained without that subject."""
    scores = np.empty(len(y))
    for subject in np.unique(subjects):
        test = subjects == subject
        mean, scale, weights, bias = fit_logistic(x[~test], y[~test], l2)
        model = LinearModel(mean, scale, weights, bias, 0.5, {})
        scores[test] = model.probability(x[test])
    return scores


def rates(scores: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    """(APCER, BPCER) when P(attack) >= threshold rejects."""
    return float(np.mean(scores[y] < threshold)), float(np.mean(scores[~y] >= threshold))


def operating_threshold(scores: np.ndarray, y: np.ndarray) -> float:
    """The lowest threshold whose BPCER is at most TARGET_BPCER."""
    live = np.sort(scores[~y])
    return float(live[min(int(np.ceil(len(live) * (1 - TARGET_BPCER))), len(live) - 1)]) + 1e-6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / PAD_MODEL_FILE)
    parser.add_argument("--cache", type=Path, help="reuse/save extracted features (.npz)")
    args = parser.parse_args(argv)
    if args.cache and args.cache.exists():
        cached = np.load(args.cache)
        x, y, subjects = cached["x"], cached["y"], cached["subjects"]
    else:
        manifest = args.data / "faces" / "nuaa-dev" / "manifest.csv"
        x, y, subjects = nuaa(manifest, landmark_engine())
        if args.cache:
            np.savez(args.cache, x=x, y=y, subjects=subjects)
    found = ~np.isnan(x[:, 0])
    x, y, subjects = x[found], y[found], subjects[found]
    by_l2 = {}
    for l2 in L2_CHOICES:
        scores = out_of_fold(x, y, subjects, l2)
        threshold = operating_threshold(scores, y)
        by_l2[l2] = (rates(scores, y, threshold), threshold)
    l2 = min(by_l2, key=lambda k: sum(by_l2[k][0]))
    (apcer, bpcer), threshold = by_l2[l2]
    report = {
        "frames": len(found),
        "no_face": int((~found).sum()),
        "attacks": int(y.sum()),
        "bona_fide": int((~y).sum()),
        "l2": l2,
        "loso_by_l2": {str(k): [round(v[0][0], 4), round(v[0][1], 4)] for k, v in by_l2.items()},
        "threshold": round(threshold, 6),
        "loso_apcer": round(apcer, 4),
        "loso_bpcer": round(bpcer, 4),
    }
    about = {
        "trained_by": "tools/train_liveness.py",
        "data": "NUAA Photograph Imposter Database subjects 1-9 (Tan et al., ECCV 2010)",
        "features": "models.presentation.pad_features",
        "report": report,
    }
    mean, scale, weights, bias = fit_logistic(x, y, l2)
    LinearModel(mean, scale, weights, bias, threshold, about).save(args.out)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
