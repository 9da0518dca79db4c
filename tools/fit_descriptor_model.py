"""Fit the statistical model of dlib face descriptors that `smilepay bench match` draws its
synthetic galleries from (instead of random unit vectors, which spread evenly over all 128
directions, unlike real descriptors: 93 % of their spread lies in 48 directions).

Runs the photos of a `path,identity,smiling` manifest (default: celeba-dev, 100 in-the-wild
people; CelebA, Liu et al. ICCV 2015, non-commercial research) through the kiosk pipeline and
writes models/weights/descriptor_model.json: the mean descriptor, and the principal axes with
their spreads (standard deviations) of the between-person covariance (total minus pooled
within-person) and of the within-person covariance. A synthetic person is the mean plus the
between-person axes times standard normals; a capture of them adds the within-person axes times
standard normals. Only aggregate statistics are written, no descriptor of anyone.

    PYTHONPATH=. python tools/fit_descriptor_model.py [--dataset CSV]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from models.bench_descriptors import DESCRIPTOR_MODEL_FILE
from tools.fit_impostor_tail import embeddings

KEEP = 0.99999  # share of each covariance's spread kept (the rest is numerically zero)


def factor(covariance: np.ndarray) -> dict[str, list]:
    """Principal axes (rows) and standard deviations of a covariance, up to KEEP of it."""
    spread, axes = np.linalg.eigh(covariance)
    order = np.argsort(spread)[::-1]
    spread, axes = np.clip(spread[order], 0, None), axes[:, order].T
    kept = int(np.searchsorted(np.cumsum(spread) / spread.sum(), KEEP)) + 1
    return {
        "std": [float(f"{s:.5g}") for s in np.sqrt(spread[:kept])],
        "axes": [[float(f"{x:.5g}") for x in row] for row in axes[:kept]],
    }


def model(grouped: dict[str, list[np.ndarray]], source: str) -> dict:
    photos = np.stack([v for vectors in grouped.values() for v in vectors]).astype(np.float64)
    total = np.cov(photos.T, bias=True)
    within = sum(
        np.cov(np.stack(vectors).T, bias=True) * len(vectors)
        for vectors in grouped.values()
        if len(vectors) > 1
    ) / len(photos)
    return {
        "source": source,
        "photos": len(photos),
        "people": len(grouped),
        "mean": [float(f"{x:.6g}") for x in photos.mean(axis=0)],
        "between": factor(total - within),
        "within": factor(within),
    }


def main() -> int:
    data = Path(os.environ.get("SMILEPAY_TEST_DATA", "../shared/data"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=data / "faces/celeba-dev/manifest.csv")
    args = parser.parse_args()
    fitted = model(embeddings(args.dataset), args.dataset.parent.name)
    DESCRIPTOR_MODEL_FILE.write_text(json.dumps(fitted, separators=(",", ":")) + "\n")
    print(f"wrote {DESCRIPTOR_MODEL_FILE}: {fitted['photos']} photos of {fitted['people']} people")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
