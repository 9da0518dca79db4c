"""Embedding accuracy and speed: the part of `smilepay bench face` that concerns descriptors.

`verification_metrics` turns descriptors grouped by identity into genuine/impostor pair
distances and the error rates at dlib's distance semantics; `time_embedder` measures the
per-chip embedding time; `backend_agreement` compares two backends on the same chips.
`python -m models.bench_face` runs the standalone check on the shared photos (press + Yale),
finding faces with dlib's HOG detector, and prints one JSON object.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.embedding import SAME_PERSON_DISTANCE, Embedder
from models.provision import descriptor_cosine

# Press photos: identity from the file name. Multi-face photos, partial faces and the
# unlabelled `johnsnow` still are left out of the labelled set.
PRESS_IDENTITIES = (
    "alex_lacamoire",
    "alex-lacamoire",
    "biden",
    "elon_musk",
    "guido_van_rossum",
    "kit_harington",
    "lin-manuel-miranda",
    "obama",
    "paul_allen",
    "rose_leslie",
    "steve_wozniak",
)
PRESS_EXCLUDED = (
    "two_people",
    "obama_and_biden",
    "kit_with_rose",
    "partial_face",
    "32bit",
    "johnsnow",
)


def pair_distances(embeddings: dict[str, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances of every same-identity pair and every different-identity pair."""
    labels = [name for name, vectors in embeddings.items() for _ in vectors]
    if not labels:
        return np.empty(0), np.empty(0)
    matrix = np.stack([v for vectors in embeddings.values() for v in vectors]).astype(np.float64)
    squared = np.sum(matrix**2, axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * matrix @ matrix.T, 0))
    rows, cols = np.triu_indices(len(labels), k=1)
    label_array = np.asarray(labels)
    same = label_array[rows] == label_array[cols]
    return distances[rows, cols][same], distances[rows, cols][~same]


def error_rates(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """(false match rate, false non-match rate) when distance <= threshold means "same"."""
    fmr = float(np.mean(impostor <= threshold)) if impostor.size else 0.0
    fnmr = float(np.mean(genuine > threshold)) if genuine.size else 0.0
    return fmr, fnmr


def _rates_at_all_thresholds(
    genuine: np.ndarray, impostor: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    thresholds = np.unique(np.concatenate([genuine, impostor, [0.0]]))
    fmr = np.searchsorted(np.sort(impostor), thresholds, side="right") / max(impostor.size, 1)
    accepted = np.searchsorted(np.sort(genuine), thresholds, side="right")
    fnmr = 1.0 - accepted / max(genuine.size, 1)
    return thresholds, fmr, fnmr


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where false matches and false non-matches are closest to equal."""
    thresholds, fmr, fnmr = _rates_at_all_thresholds(genuine, impostor)
    best = int(np.argmin(np.maximum(fmr, fnmr)))
    return float(max(fmr[best], fnmr[best])), float(thresholds[best])


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, target_fmr: float) -> float:
    """False non-match rate at the loosest threshold whose false match rate is <= target.

    With fewer than 1/target impostor pairs this means "no false match at all".
    """
    _, fmr, fnmr = _rates_at_all_thresholds(genuine, impostor)
    allowed = fmr <= target_fmr
    return float(np.min(fnmr[allowed])) if allowed.any() else 1.0


HISTOGRAM_STEP = 1e-4  # distance resolution of the streamed error rates
HISTOGRAM_TOP = 4.0  # dlib descriptors are about unit length: larger distances are all "far"
BLOCK_ROWS = 512  # rows of the distance matrix held at once (512 x 12,000 float32: 25 MB)


class DistanceHistograms:
    """Genuine and impostor distance counts on a fine grid: memory independent of pair count."""

    def __init__(self) -> None:
        bins = round(HISTOGRAM_TOP / HISTOGRAM_STEP) + 1
        self.genuine = np.zeros(bins, np.int64)
        self.impostor = np.zeros(bins, np.int64)

    def add(self, distances: np.ndarray, same: np.ndarray) -> None:
        """Count `distances` (any shape) into genuine where `same` is true, else impostor."""
        bins = np.minimum((distances / HISTOGRAM_STEP).astype(np.int64), self.genuine.size - 1)
        self.genuine += np.bincount(bins[same], minlength=self.genuine.size)
        self.impostor += np.bincount(bins[~same], minlength=self.impostor.size)

    def rates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(thresholds, FMR, FNMR) with "same" meaning distance below each threshold."""
        thresholds = np.arange(self.genuine.size + 1) * HISTOGRAM_STEP
        fmr = np.concatenate([[0], np.cumsum(self.impostor)]) / max(int(self.impostor.sum()), 1)
        accepted = np.concatenate([[0], np.cumsum(self.genuine)])
        fnmr = 1.0 - accepted / max(int(self.genuine.sum()), 1)
        return thresholds, fmr, fnmr


def stream_pair_histograms(embeddings: dict[str, list[np.ndarray]]) -> DistanceHistograms:
    """Every pair's distance, counted block by block (memory linear in the photo count)."""
    histograms = DistanceHistograms()
    vectors = [v for group in embeddings.values() for v in group]
    if len(vectors) < 2:
        return histograms
    matrix = np.stack(vectors).astype(np.float32)
    codes = np.repeat(np.arange(len(embeddings)), [len(g) for g in embeddings.values()])
    squared = np.sum(matrix**2, axis=1)
    for first in range(0, len(matrix) - 1, BLOCK_ROWS):
        rows = slice(first, min(first + BLOCK_ROWS, len(matrix)))
        block = squared[rows, None] + squared[None, first:] - 2 * matrix[rows] @ matrix[first:].T
        distances = np.sqrt(np.maximum(block, 0))
        upper = np.arange(rows.start, rows.stop)[:, None] < np.arange(first, len(matrix))[None]
        same = codes[rows, None] == codes[None, first:]
        histograms.add(distances[upper], same[upper])
    return histograms


def _histogram_eer(histograms: DistanceHistograms) -> tuple[float, float]:
    thresholds, fmr, fnmr = histograms.rates()
    best = int(np.argmin(np.maximum(fmr, fnmr)))
    return float(max(fmr[best], fnmr[best])), float(thresholds[best])


def _histogram_fnmr_at(histograms: DistanceHistograms, target_fmr: float) -> float:
    _, fmr, fnmr = histograms.rates()
    return float(np.min(fnmr[fmr <= target_fmr]))


def verification_metrics(embeddings: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """Pair counts, EER, FNMR at FMR 1e-3, and both error rates at dlib's 0.6 threshold.

    Pairs are streamed into histograms (resolution 1e-4 in distance), so memory stays linear
    in the number of photos. Without genuine or impostor pairs the error rates are None and
    `eer_note` says why.
    """
    histograms = stream_pair_histograms(embeddings)
    genuine, impostor = int(histograms.genuine.sum()), int(histograms.impostor.sum())
    result: dict[str, Any] = {
        "identities": len(embeddings),
        "pairs_genuine": genuine,
        "pairs_impostor": impostor,
    }
    if not genuine or not impostor:
        missing = "genuine" if not genuine else "impostor"
        return result | {
            "eer": None,
            "eer_threshold": None,
            "fnmr_at_fmr_1e-3": None,
            "fmr_at_0.6": None,
            "fnmr_at_0.6": None,
            "eer_note": f"no {missing} pairs: error rates need both",
        }
    eer, eer_threshold = _histogram_eer(histograms)
    thresholds, fmr, fnmr = histograms.rates()
    at_06 = int(np.searchsorted(thresholds, SAME_PERSON_DISTANCE))
    return result | {
        "eer": round(eer, 5),
        "eer_threshold": round(eer_threshold, 4),
        "fnmr_at_fmr_1e-3": round(_histogram_fnmr_at(histograms, 1e-3), 5),
        "fmr_at_0.6": round(float(fmr[at_06]), 5),
        "fnmr_at_0.6": round(float(fnmr[at_06]), 5),
    }


def time_embedder(embedder: Embedder, chips: Sequence[np.ndarray], warmup: int = 3) -> dict:
    """Per-chip embedding time in milliseconds (p50, p90) after a few warm-up runs."""
    if not chips:
        raise ValueError("time_embedder needs at least one chip")
    for chip in itertools.islice(itertools.cycle(chips), warmup):
        embedder.embed_chip(chip)
    timings = []
    for chip in chips:
        started = time.perf_counter()
        embedder.embed_chip(chip)
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "embed_ms_p50": round(float(np.percentile(timings, 50)), 3),
        "embed_ms_p90": round(float(np.percentile(timings, 90)), 3),
        "embed_count": len(timings),
    }


def backend_agreement(
    reference: Embedder, candidate: Embedder, chips: Iterable[np.ndarray]
) -> dict:
    """Worst cosine and largest absolute difference of `candidate` against `reference`."""
    cosines, differences = [], []
    for chip in chips:
        a, b = reference.embed_chip(chip), candidate.embed_chip(chip)
        cosines.append(descriptor_cosine(a, b))
        differences.append(float(np.max(np.abs(a - b))))
    return {"cosine_min": min(cosines), "max_abs_diff": max(differences), "chips": len(cosines)}


def shared_photo_identities(faces_dir: Path) -> list[tuple[Path, str]]:
    """(photo, identity) for the labelled single-face photos under faces/press and faces/yale."""
    labelled = []
    for path in sorted((faces_dir / "yale").glob("subject*")):
        labelled.append((path, "yale_" + path.name.split(".")[0]))
    for path in sorted((faces_dir / "press").iterdir()):
        if any(excluded in path.name for excluded in PRESS_EXCLUDED):
            continue
        names = [name for name in PRESS_IDENTITIES if name in path.name]
        if names:
            labelled.append((path, max(names, key=len).replace("-", "_")))
    return labelled


@functools.cache
def _hog_detector() -> Any:
    import dlib  # building the detector costs ~0.3 s: once per process

    return dlib.get_frontal_face_detector()


def largest_face_box(
    image_rgb: np.ndarray, max_side: int = 640
) -> tuple[int, int, int, int] | None:
    """The largest face dlib's HOG detector finds (x, y, w, h), or None.

    Large photos are searched at most `max_side` pixels wide (HOG cost grows with area);
    small ones are upsampled once so that faces of about 40 px are still found.
    """
    scale = max(1, int(np.ceil(max(image_rgb.shape[:2]) / max_side)))
    small = np.ascontiguousarray(image_rgb[::scale, ::scale])
    upsample = 1 if max(small.shape[:2]) < max_side // 2 else 0
    faces = _hog_detector()(small, upsample)
    if len(faces) == 0:
        return None
    face = max(faces, key=lambda rect: rect.area())
    return face.left() * scale, face.top() * scale, face.width() * scale, face.height() * scale


def shared_photo_chips(
    faces_dir: Path, predictor: Path
) -> tuple[list[tuple[str, np.ndarray]], int]:
    """(identity, chip) for every labelled shared photo where dlib finds a face, and misses."""
    from PIL import Image

    from models.alignment import FaceAligner

    aligner = FaceAligner(predictor)
    chips, missed = [], 0
    for path, identity in shared_photo_identities(faces_dir):
        image = np.asarray(Image.open(path).convert("RGB"))
        box = largest_face_box(image)
        if box is None:
            missed += 1
            continue
        chips.append((identity, aligner.chip(image, box)))
    return chips, missed


def embeddings_by_identity(
    embedder: Embedder, chips: Sequence[tuple[str, np.ndarray]]
) -> dict[str, list[np.ndarray]]:
    """Descriptors of labelled chips, grouped by identity."""
    embeddings: dict[str, list[np.ndarray]] = {}
    for identity, chip in chips:
        embeddings.setdefault(identity, []).append(embedder.embed_chip(chip))
    return embeddings


def int8_accuracy_cost(
    chips: Sequence[tuple[str, np.ndarray]], model_dir: Path, threads: int = 2
) -> dict[str, Any]:
    """What the int8-weight model costs against float32 on the same labelled chips."""
    from models.embedding import LITERT_INT8_MODEL, LITERT_MODEL, PREDICTOR_MODEL, LiteRTEmbedder
    from models.provision import model_path

    predictor = model_path(PREDICTOR_MODEL, model_dir)
    float32 = LiteRTEmbedder(model_path(LITERT_MODEL, model_dir), predictor, threads)
    int8 = LiteRTEmbedder(model_path(LITERT_INT8_MODEL, model_dir), predictor, threads)
    plain = [chip for _, chip in chips]
    metrics = verification_metrics(embeddings_by_identity(int8, chips))
    return {
        "int8_eer": metrics["eer"],
        "int8_fnmr_at_fmr_1e-3": metrics["fnmr_at_fmr_1e-3"],
        "int8_cosine_min_vs_float32": backend_agreement(float32, int8, plain)["cosine_min"],
        "int8_embed_ms_p50": time_embedder(int8, plain)["embed_ms_p50"],
    }


def standalone_check(faces_dir: Path, model_dir: Path, threads: int = 2) -> dict[str, Any]:
    """EER and speed of the LiteRT backend on the shared photos, its agreement with dlib,
    and the int8 option's accuracy cost."""
    from models.embedding import (
        DLIB_MODEL,
        LITERT_MODEL,
        PREDICTOR_MODEL,
        DlibEmbedder,
        LiteRTEmbedder,
    )
    from models.provision import model_path

    predictor = model_path(PREDICTOR_MODEL, model_dir)
    chips, missed = shared_photo_chips(faces_dir, predictor)
    plain = [chip for _, chip in chips]
    litert = LiteRTEmbedder(model_path(LITERT_MODEL, model_dir), predictor, threads)
    result: dict[str, Any] = {"photos": len(chips), "photos_without_face": missed}
    result |= verification_metrics(embeddings_by_identity(litert, chips))
    result |= time_embedder(litert, plain)
    dlib_net = DlibEmbedder(model_path(DLIB_MODEL, model_dir), predictor)
    agreement = backend_agreement(dlib_net, litert, plain)
    result |= {"litert_vs_dlib_" + key: value for key, value in agreement.items()}
    result["dlib_embed_ms_p50"] = time_embedder(dlib_net, plain[:30])["embed_ms_p50"]
    result |= int8_accuracy_cost(chips, model_dir, threads)
    return result | {"backend": "litert", "threads": threads}


def shared_data_dir() -> Path:
    """The shared test data folder: $SMILEPAY_TEST_DATA, default ../shared/data."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("SMILEPAY_TEST_DATA", default))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m models.bench_face [FACES_DIR]`: the standalone check, one JSON line."""
    from models.config import default_model_dir

    args = list(argv if argv is not None else sys.argv[1:])
    faces_dir = Path(args[0]) if args else shared_data_dir() / "faces"
    print(json.dumps(standalone_check(faces_dir, default_model_dir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
