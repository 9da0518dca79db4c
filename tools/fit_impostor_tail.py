"""Measure the impostor-distance tail the kiosk's pay threshold is set from.

Runs the photos of a `path,identity,smiling` manifest (default: celeba-dev, 100 in-the-wild
people; CelebA, Liu et al. ICCV 2015, non-commercial research) through the kiosk pipeline.
The comparisons are the kiosk's: an enrolled template is the mean of 3 captures (each person's
photos in disjoint groups of 3), a probe one photo of someone else. Averaging pulls templates
towards the middle of the descriptor space, so a template is closer to strangers than a single
photo is: the photo-to-photo tail would set too loose a threshold. Every template-probe
distance is streamed into a histogram, and the tool writes models/weights/impostor_tail.json:
FMR at each distance on a 0.005 grid (and the genuine template-to-photo FNMR, which floors
the step-up threshold), plus a log-linear extrapolation below the measured
range (fitted where FMR is between the anchor, the smallest FMR backed by MIN_PAIRS impostor
pairs, and FIT_TOP).

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
from models.bench_face import DistanceHistograms
from models.bench_identify import ENROL_PHOTOS, descriptor
from models.config import FaceConfig
from models.decision import IMPOSTOR_TAIL_FILE
from models.engine import FaceEngine
from models.linear import WEIGHTS_DIR

GRID = np.round(np.arange(0.20, 0.801, 0.005), 3)
MIN_PAIRS = 4  # the fit reaches into the sparse low tail, which is heavier than its middle
FIT_TOP = 3e-4


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


def template_probe_histograms(grouped: dict[str, list[np.ndarray]]) -> DistanceHistograms:
    """Distances of every 3-capture template to every photo of every other identity
    (impostor) and to the same person's other photos (genuine)."""
    histograms = DistanceHistograms()
    names = list(grouped)
    photos = np.stack([v for name in names for v in grouped[name]]).astype(np.float32)
    owners = np.repeat(np.arange(len(names)), [len(grouped[name]) for name in names])
    for index, name in enumerate(names):
        vectors = grouped[name]
        for first in range(0, len(vectors) - ENROL_PHOTOS + 1, ENROL_PHOTOS):
            template = np.mean(vectors[first : first + ENROL_PHOTOS], axis=0)
            rest = [v for i, v in enumerate(vectors) if not first <= i < first + ENROL_PHOTOS]
            probes = np.vstack([photos[owners != index], *[v[None] for v in rest]])
            same = np.arange(len(probes)) >= int((owners != index).sum())
            histograms.add(np.linalg.norm(probes - template, axis=1), same)
    return histograms


def tail(grouped: dict[str, list[np.ndarray]], source: str) -> dict:
    """The JSON object: measured FMR on the grid, anchor and extrapolation slope."""
    histograms = template_probe_histograms(grouped)
    thresholds, fmr, fnmr = histograms.rates()
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
            "comparisons": "template (mean of 3 photos) vs one photo of another identity",
            "impostor_pairs": pairs,
            "identities": len(grouped),
            "fit": f"log FMR = {slope:.3f} d + {intercept:.3f} for FMR in [{floor:.2e}, {FIT_TOP}]",
        },
        "distances": GRID.tolist(),
        "fmr": [float(f"{v:.4g}") for v in on_grid],
        "slope": round(float(slope), 4),
        "genuine_pairs": int(histograms.genuine.sum()),
        "genuine_fnmr": [float(f"{v:.4g}") for v in fnmr[np.searchsorted(thresholds, GRID)]],
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
    args.out.write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(json.dumps(result["about"] | {"anchor": result["anchor"], "slope": result["slope"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
