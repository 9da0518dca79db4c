"""`smilepay bench face` and `smilepay bench match`: accuracy and speed, measured for real.

face: every labelled photo goes through the kiosk pipeline (detect, landmarks, quality + smile,
alignment chip + embedding); the descriptors give genuine/impostor error rates, the smile model
is scored on photos labelled smiling or not. Times are reported per camera frame (what the
session spends on every frame: no descriptor) and per decision (descriptors of two frames,
liveness, the printed-photo check), beside the older analyse + one descriptor figures.
match: galleries (10k, 100k, 1M) of synthetic descriptors shaped like dlib's (drawn from
models/weights/descriptor_model.json, fitted on real photos; or random unit vectors with
`--templates unit`) in real encrypted SQLite galleries, searched with the gallery's own search;
every answer is checked against exact float32.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from base.errors import SmilepayError
from base.progress import Progress
from models.bench_descriptors import DescriptorModel
from models.config import FaceConfig
from models.engine import FaceEngine, FaceObservation, read_image
from models.errors import BadImage
from models.gallery import Gallery
from models.liveness import assess_liveness, trace
from models.presentation import face_crop
from models.session import PAD_FRAMES

Labelled = tuple[Path, str, bool | None]  # photo, identity, smiling (None: unknown)


def shared_dataset(data_dir: Path) -> list[Labelled]:
    """The shared photos: press and Yale identities; Yale `happy` smiles, `normal` does not."""
    from models.bench_face import shared_photo_identities

    faces = data_dir / "faces"
    if not faces.is_dir():
        raise SmilepayError(f"{faces}: shared face photos not found (set SMILEPAY_TEST_DATA)")
    labelled: list[Labelled] = []
    for path, identity in shared_photo_identities(faces):
        condition = path.name.split(".")[1] if path.name.startswith("subject") else ""
        smiling = {"happy": True, "normal": False}.get(condition)
        labelled.append((path, identity, smiling))
    return labelled


def csv_dataset(manifest: Path) -> list[Labelled]:
    """Rows of a `path,identity,smiling` CSV (paths relative to it; smiling 1, 0 or empty)."""
    try:
        with manifest.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SmilepayError(f"{manifest}: cannot read: {exc.strerror or exc}") from None
    if not rows or {"path", "identity", "smiling"} - set(rows[0]):
        raise SmilepayError(f"{manifest}: needs a header path,identity,smiling and rows")
    labelled: list[Labelled] = []
    for number, row in enumerate(rows, start=2):
        flag = (row["smiling"] or "").strip()
        if flag not in ("", "0", "1"):
            raise SmilepayError(f"{manifest}:{number}: smiling must be 1, 0 or empty")
        smiling = None if flag == "" else flag == "1"
        labelled.append((manifest.parent / row["path"], row["identity"], smiling))
    return labelled


def _p50(values: list[float]) -> float | None:
    return round(float(np.percentile(values, 50)), 3) if values else None


def measure_photo(engine: FaceEngine, path: Path) -> tuple[bool, np.ndarray, dict, bool] | None:
    """(smiling?, descriptor, timings in ms, passed the quality gates?) of one photo, or None
    when it has no face."""
    try:
        image = read_image(path)
    except BadImage:
        return None
    started = time.perf_counter()
    observation = engine.analyse(image)
    analyse_ms = _since(started)
    if observation.mesh is None or observation.smiling is None:
        return None
    started = time.perf_counter()
    vector = engine.embed(image, observation)
    timings = dict(observation.timings_ms, embed_ms=(time.perf_counter() - started) * 1000)
    timings["pipeline_ms"] = sum(timings.values())
    started = time.perf_counter()
    session_frame_work(image, observation)
    timings["frame_ms"] = analyse_ms + _since(started)
    timings |= time_camera_frame(engine, image)
    return observation.smiling, vector, timings, observation.usable


def measure_faces(engine: FaceEngine, dataset: list[Labelled]) -> dict[str, Any]:
    """Run the pipeline on each photo; collect descriptors, smile calls and timings.

    Every photo labelled smiling or not counts for the smile accuracy: no face found is wrong.
    """
    embeddings: dict[str, list[np.ndarray]] = defaultdict(list)
    usable: dict[str, list[np.ndarray]] = defaultdict(list)
    timings: dict[str, list[float]] = defaultdict(list)
    smile_right, smile_total, no_face = 0, 0, 0
    progress = Progress("bench face", len(dataset))
    for path, identity, smiling in dataset:
        progress.advance()
        measured = measure_photo(engine, path)
        smile_total += smiling is not None
        if measured is None:
            no_face += 1
            continue
        called_smiling, vector, photo_timings, passed_gates = measured
        embeddings[identity].append(vector)
        if passed_gates:
            usable[identity].append(vector)
        for key, value in photo_timings.items():
            timings[key].append(value)
        smile_right += smiling is not None and called_smiling == smiling
    progress.finish()
    return {
        "embeddings": dict(embeddings),
        "usable": dict(usable),
        "timings": timings,
        "smile_right": smile_right,
        "smile_total": smile_total,
        "no_face": no_face,
    }


def as_camera_frame(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """The photo scaled to fit a 640×480 frame, centred on black, as the kiosk camera gives."""
    scale = min(width / image.shape[1], height / image.shape[0])
    fitted = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fitted.shape[0]) // 2, (width - fitted.shape[1]) // 2
    frame[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return frame


def session_frame_work(image: np.ndarray, observation: FaceObservation) -> None:
    """What `SmileToPaySession` adds to `analyse` on every usable frame: the liveness trace
    and the 128x128 face crop kept for the printed-photo check."""
    assert observation.mesh is not None
    trace(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), observation.mesh.points)
    face_crop(image, observation.mesh.points)


def time_decision(engine: FaceEngine, frame: np.ndarray, observation: FaceObservation) -> None:
    """The work `SmileToPaySession` does once, when it decides: liveness over the traces, the
    printed-photo check on PAD_FRAMES face crops, and the descriptors of two frames (best
    neutral, best smiling; here the same frame twice). The gallery search is `bench match`."""
    assert observation.mesh is not None
    points = observation.mesh.points
    current = trace(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), points)
    assess_liveness([current, current], current, current)
    engine.presentation.crops_probability([face_crop(frame, points)] * PAD_FRAMES)
    for _ in range(2):
        engine.embed(frame, observation)


def time_camera_frame(engine: FaceEngine, image: np.ndarray) -> dict[str, float]:
    """Milliseconds (wall, and process CPU) on the photo as a 640×480 frame, none if no face:
    `frame_pipeline` analyse + one descriptor (the figure kept from before); `frame` what every
    camera frame costs the session (analyse + its per-frame work, no descriptor);
    `decision` what the session adds once per decision (`time_decision`). CPU time counts
    every thread's work and not the time spent waiting for a core."""
    frame = as_camera_frame(image)
    clock = _Clock()
    observation = engine.analyse(frame)
    if observation.mesh is None:
        return {}
    analyse = clock.lap()
    engine.embed(frame, observation)
    embed = clock.lap()
    session_frame_work(frame, observation)
    extra = clock.lap()
    time_decision(engine, frame, observation)
    decision = clock.lap()
    return {
        "frame_pipeline_ms": analyse[0] + embed[0],
        "frame_pipeline_cpu_ms": analyse[1] + embed[1],
        "frame_only_ms": analyse[0] + extra[0],
        "frame_only_cpu_ms": analyse[1] + extra[1],
        "decision_ms": decision[0],
        "decision_cpu_ms": decision[1],
    }


class _Clock:
    """Wall and process-CPU milliseconds since the last lap."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        spent = ((wall - self.wall) * 1000, (cpu - self.cpu) * 1000)
        self.wall, self.cpu = wall, cpu
        return spent


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def rss_mb() -> float:
    """Peak resident memory of this process in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_face(engine: FaceEngine, dataset: list[Labelled], backend: str) -> dict[str, Any]:
    """The `bench face` result object."""
    from models.bench_face import verification_metrics

    measured = measure_faces(engine, dataset)
    timings = measured["timings"]
    result: dict[str, Any] = {"bench": "face", "photos": len(dataset)}
    result["faces_found"] = len(dataset) - measured["no_face"]
    result["no_face"] = measured["no_face"]
    result |= verification_metrics(measured["embeddings"])
    # the same on the photos that pass the kiosk's quality gates (what a kiosk would embed)
    gated = verification_metrics(measured["usable"])
    result["usable_photos"] = sum(map(len, measured["usable"].values()))
    result["eer_usable"] = gated["eer"]
    result["fnmr_at_fmr_1e-3_usable"] = gated["fnmr_at_fmr_1e-3"]
    total = measured["smile_total"]
    result["smile_photos"] = total
    # over every labelled photo, a photo without a face counting as wrong
    result["smile_accuracy"] = round(measured["smile_right"] / total, 4) if total else None
    result["detect_ms_p50"] = _p50(timings["detect_ms"])
    result["landmarks_ms_p50"] = _p50(timings["landmarks_ms"])
    result["quality_smile_ms_p50"] = _p50(timings["quality_smile_ms"])
    result["embed_ms_p50"] = _p50(timings["embed_ms"])
    result["pipeline_ms_p50"] = _p50(timings["pipeline_ms"])
    result["frame_640x480_pipeline_ms_p50"] = _p50(timings["frame_pipeline_ms"])
    result["frame_640x480_pipeline_cpu_ms_p50"] = _p50(timings["frame_pipeline_cpu_ms"])
    # what the kiosk spends on every camera frame (no descriptor: the session embeds only the
    # two frames a decision uses) and, separately, once per decision
    result["frame_ms_p50"] = _p50(timings["frame_ms"])
    result["frame_640x480_ms_p50"] = _p50(timings["frame_only_ms"])
    result["frame_640x480_cpu_ms_p50"] = _p50(timings["frame_only_cpu_ms"])
    result["decision_640x480_ms_p50"] = _p50(timings["decision_ms"])
    result["decision_640x480_cpu_ms_p50"] = _p50(timings["decision_cpu_ms"])
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    result["rss_mb"] = rss_mb()
    result["backend"] = backend
    return result


def bench_face_command(args: Any, face: FaceConfig) -> int:
    """`smilepay bench face [--dataset FILE.csv] --json`."""
    from models.bench_face import shared_data_dir

    dataset = csv_dataset(args.dataset) if args.dataset else shared_dataset(shared_data_dir())
    engine = FaceEngine.load(face)
    result = bench_face(engine, dataset, face.embedding_backend)
    print(json.dumps(result) if args.json else result)
    return 0


# --- match ---------------------------------------------------------------------------------


def random_templates(count: int, rng: np.random.Generator) -> np.ndarray:
    """Random unit vectors (128-d, float32)."""
    vectors = rng.standard_normal((count, 128), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_templates(kind: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """`dlib`: synthetic dlib-like templates (each the mean of 3 captures); `unit`: random."""
    if kind == "unit":
        return random_templates(count, rng)
    return DescriptorModel.load().templates(count, rng)


def make_queries(
    templates: np.ndarray, count: int, rng: np.random.Generator, kind: str = "unit"
) -> np.ndarray:
    """Half a returning customer (near a stored template), half a stranger."""
    if kind == "dlib":
        model = DescriptorModel.load()
        picked = templates[rng.integers(0, len(templates), count // 2)]
        returning = model.returning(picked, rng)
        return np.vstack([returning, model.strangers(count - len(returning), rng)])
    near = templates[rng.integers(0, len(templates), count // 2)]
    near = near + rng.normal(0, 0.03, near.shape).astype(np.float32)
    strangers = random_templates(count - len(near), rng)
    return np.vstack([near, strangers]).astype(np.float32)


def exact_top2(templates: np.ndarray, query: np.ndarray) -> tuple[int, float, float]:
    """Exact float32 best index, best and second distances."""
    squared = np.sum((templates - query) ** 2, axis=1)
    best, second = np.argpartition(squared, 1)[:2]
    if squared[second] < squared[best]:
        best, second = second, best
    return int(best), float(np.sqrt(squared[best])), float(np.sqrt(squared[second]))


def fill_gallery(gallery: Gallery, templates: np.ndarray) -> float:
    """Upsert every template in batches of 50,000; return the seconds it took."""
    started = time.perf_counter()
    for first in range(0, len(templates), 50_000):
        chunk = templates[first : first + 50_000]
        gallery.upsert_many(
            (f"c{first + i}", f"n{first + i}", v, None, None) for i, v in enumerate(chunk)
        )
    return time.perf_counter() - started


def time_searches(gallery: Gallery, templates: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """Milliseconds per search, warm and cold, and how many answers equal exact float32.

    Warm: the searches run back to back (the codes stay in the CPU cache, as on a busy kiosk).
    Cold: each search follows a scan of the float32 copy, which evicts the codes from the cache
    (as after the camera and the rest of the kiosk have run). Exactness is checked afterwards.
    """
    decrypted: list[int] = []
    measure = gallery._exact_distances

    def counted(query: np.ndarray, slots: np.ndarray) -> list[tuple[float, str, str]]:
        decrypted.append(len(slots))
        return measure(query, slots)

    gallery._exact_distances = counted  # type: ignore[method-assign]
    warm, warm_cpu, matches, per_query = [], [], [], []
    for query in queries:
        before = len(decrypted)
        started, cpu_started = time.perf_counter(), time.process_time()
        matches.append(gallery.search(query))
        warm.append((time.perf_counter() - started) * 1000)
        warm_cpu.append((time.process_time() - cpu_started) * 1000)
        per_query.append(sum(decrypted[before:]))
    gallery._exact_distances = measure  # type: ignore[method-assign]
    cold, same = [], 0
    for query, match in zip(queries, matches, strict=True):
        best, _, second = exact_top2(templates, query)  # also evicts the codes from the cache
        started = time.perf_counter()
        gallery.search(query)
        cold.append((time.perf_counter() - started) * 1000)
        assert match is not None and match.second_distance is not None
        same += match.best_id == f"c{best}" and abs(match.second_distance - second) < 1e-4
    return {
        "search_ms_p50": _percentile(warm, 50),
        "search_ms_p99": _percentile(warm, 99),
        # CPU time of the searching thread: closer to an idle machine's latency
        "search_cpu_ms_p50": _percentile(warm_cpu, 50),
        "search_cpu_ms_p99": _percentile(warm_cpu, 99),
        "search_cold_ms_p50": _percentile(cold, 50),
        "search_cold_ms_p99": _percentile(cold, 99),
        "queries": len(queries),
        "same_as_exact_float32": same,
        # templates decrypted and measured exactly per query (the re-rank)
        "decrypted_p50": _percentile(per_query, 50),
        "decrypted_max": max(per_query),
    }


def _percentile(values: Sequence[float], q: int) -> float:
    return round(float(np.percentile(values, q)), 3)


def bench_match_size(
    size: int, queries: int, rng: np.random.Generator, threads: int = 1, kind: str = "dlib"
) -> dict[str, Any]:
    """Build a real gallery of `size` templates and time searches, checking each against exact."""
    templates = make_templates(kind, size, rng)
    with tempfile.TemporaryDirectory(prefix="smilepay-bench-match-") as scratch:
        paths = (Path(scratch) / "gallery.db", Path(scratch) / "template.key")
        with closing(Gallery.open(*paths, threads)) as gallery:
            build_s = fill_gallery(gallery, templates)
        started = time.perf_counter()  # a kiosk start: decrypt every template, build the codes
        with closing(Gallery.open(*paths, threads)) as gallery:
            open_s = time.perf_counter() - started
            timed = time_searches(gallery, templates, make_queries(templates, queries, rng, kind))
            # searches (warm and cold) that needed a second scan, or every prefix distance
            timed["widened"] = gallery._index.widened
            timed["exhaustive"] = gallery._index.exhaustive
            index_bytes = gallery.memory_bytes_per_template
            index = gallery._index
            shape = {
                "prefix_components": index.rotation.prefix,
                "loose_templates": len(index.loose),
                "max_code_error": round(index.max_error, 4),
                "index_allocated_mb": round(index.allocated_bytes / 1e6, 1),
            }
            applied = time_apply_changes(gallery, size, rng, kind)
    return {
        "templates": size,
        **timed,
        "bytes_per_template": index_bytes,
        "index_mb": round(index_bytes * size / 1e6, 1),
        "build_s": round(build_s, 1),
        "open_s": round(open_s, 1),
        **shape,
        **applied,
    }


def time_apply_changes(
    gallery: Gallery, size: int, rng: np.random.Generator, kind: str = "dlib", count: int = 10_000
) -> dict[str, Any]:
    """Seconds to apply `count` gallery changes as the sync agent does: open each template's
    box (sealed to this kiosk's key by the ledger), then one local transaction. Four in five
    add a customer, one in five deletes an existing one."""
    from base.sealed import open_box, seal_to

    kiosk_key = X25519PrivateKey.generate()
    adds = count - count // 5
    boxes = [
        (f"new{i}", seal_to(kiosk_key.public_key(), v.tobytes() + b"name", f"new{i}".encode()))
        for i, v in enumerate(make_templates(kind, adds, rng))
    ]
    doomed = [f"c{i}" for i in rng.choice(size, min(size, count // 5), replace=False)]
    started = time.perf_counter()
    changes: list[Any] = []
    for customer_id, box in boxes:
        plain = open_box(kiosk_key, box, customer_id.encode())
        vector = np.frombuffer(plain[:512], dtype="<f4")
        changes.append(("upsert", customer_id, plain[512:].decode(), vector))
    changes += [("delete", customer_id, "bench", None) for customer_id in doomed]
    gallery.apply_changes(changes)
    return {
        "apply_changes": len(changes),
        "apply_changes_s": round(time.perf_counter() - started, 2),
    }


def bench_match_command(args: Any) -> int:
    """`smilepay bench match --json`: search p50/p99 at each size, exactness, memory."""
    sizes = [int(size) for size in str(args.sizes).split(",") if size.strip()]
    rng = np.random.default_rng(2026)
    runs = []
    for size in sizes:
        print(f"bench match: building {size} templates", file=sys.stderr, flush=True)
        runs.append(bench_match_size(size, args.queries, rng, args.threads, args.templates))
        print(f"bench match: {runs[-1]}", file=sys.stderr, flush=True)
    result = {
        "bench": "match",
        "runs": runs,
        "every_query_same_as_exact": all(r["same_as_exact_float32"] == r["queries"] for r in runs),
        "rss_mb": rss_mb(),  # includes the float32 copy kept only to check exactness
        "search_threads": args.threads,
        "templates_kind": args.templates,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    for run in runs:
        count = run["templates"]
        label = f"{count // 1000}k" if count < 10**6 else f"{count // 10**6}M"
        result[f"search_ms_p50_{label}"] = run["search_ms_p50"]
        result[f"search_ms_p99_{label}"] = run["search_ms_p99"]
        result[f"search_cpu_ms_p50_{label}"] = run["search_cpu_ms_p50"]
        result[f"search_cold_ms_p50_{label}"] = run["search_cold_ms_p50"]
        result[f"search_cold_ms_p99_{label}"] = run["search_cold_ms_p99"]
        result[f"index_mb_{label}"] = run["index_mb"]
    result["bytes_per_template"] = runs[0]["bytes_per_template"] if runs else None
    result["apply_10k_changes_s_max"] = max((r["apply_changes_s"] for r in runs), default=None)
    print(json.dumps(result) if args.json else result)
    return 0
