"""Measure the impostor-distance tail the kiosk's pay threshold is set from.

Runs the photos of a `path,identity,smiling` manifest (default: celeba-dev, 100 in-the-wild
people; CelebA, Liu et al. ICCV 2015, non-commercial research) through the kiosk pipeline,
streams every different-identity pair's distance into a histogram (models.bench_face), and
writes models/weights/impostor_tail.json: FMR at each distance on a 0.005 grid, plus a
log-linear extrapolation below the measured range (fitted where FMR is between the anchor,
the smallest FMR backed by MIN_PAIRS impostor pairs, and FIT_TOP).

    PYTHONPATH=. python tools/fit_impostor_tail.py [--dataset CSV] [--cache EMBEDDINGS.npz]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from base.progress import Progress
from models.bench import csv_dataset
from models.bench_face import stream_pair_histograms
from models.bench_identify import descriptor
from models.config import FaceConfig
from models.decision import IMPOSTOR_TAIL_FILE
from models.engine import FaceEngine
from models.linear import WEIGHTS_DIR

GRID = np.round(np.arange(0.20, 0.801, 0.005), 3)
MIN_PAIRS = 20
FIT_TOP = 3e-3


def embeddings(manifest: Path) -> dict[str, list[np.ndarray]]:
    """Descriptors of every photo with a face, grouped by identity."""
    engine = FaceEngine.load(FaceConfig())
    dataset = csv_dataset(manifest)
    grouped: dict[str, list[np.ndarray]] = {}
    progress = Progress("impostor tail", len(dataset))
    for path, identity, _ in dataset:
        progress.advance()
        vector = descriptor(engine, path)
        if vector is not None:
            grouped.setdefault(identity, []).append(vector)
    progress.finish()
    return grouped


def tail(grouped: dict[str, list[np.ndarray]], source: str) -> dict:
    """The JSON object: measured FMR on the grid, anchor and extrapolation slope."""
    histograms = stream_pair_histograms(grouped)
    thresholds, fmr, _ = histograms.rates()
    pairs = int(histograms.impostor.sum())
    on_grid = fmr[np.searchsorted(thresholds, GRID)]
    floor = MIN_PAIRS / pairs
    usable = (on_grid >= floor) & (on_grid <= FIT_TOP)
    slope, intercept = np.polyfit(GRID[usable], np.log(on_grid[usable]), 1)
    anchor_index = int(np.flatnonzero(on_grid >= floor)[0])
    return {
        "about": {
            "written_by": "tools/fit_impostor_tail.py",
            "data": source,
            "impostor_pairs": pairs,
            "identities": len(grouped),
            "fit": f"log FMR = {slope:.3f} d + {intercept:.3f} for FMR in [{floor:.2e}, {FIT_TOP}]",
        },
        "distances": GRID.tolist(),
        "fmr": [float(f"{v:.4g}") for v in on_grid],
        "slope": round(float(slope), 4),
        "anchor": [float(GRID[anchor_index]), float(f"{on_grid[anchor_index]:.4g}")],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path("../shared/data/faces/celeba-dev/manifest.csv")
    parser.add_argument("--dataset", type=Path, default=default)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / IMPOSTOR_TAIL_FILE)
    parser.add_argument("--cache", type=Path, help="reuse/save descriptors (.npz)")
    args = parser.parse_args(argv)
    if args.cache and args.cache.exists():
        cached = np.load(args.cache)
        grouped: dict[str, list[np.ndarray]] = {}
        for identity, vector in zip(cached["ids"], cached["vectors"], strict=True):
            grouped.setdefault(str(identity), []).append(vector)
    else:
        grouped = embeddings(args.dataset)
        if args.cache:
            ids = [k for k, vs in grouped.items() for _ in vs]
            np.savez(
                args.cache, ids=ids, vectors=np.stack([v for vs in grouped.values() for v in vs])
            )
    result = tail(grouped, f"{args.dataset.parent.name} (in-the-wild identities)")
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result["about"] | {"anchor": result["anchor"], "slope": result["slope"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
