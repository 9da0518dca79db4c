"""`smilepay bench identify`: open-set 1:N with the kiosk's own match policy.

The identities of a `path,identity,smiling` manifest are sorted; the first half are enrolled
(their first 3 photos, in manifest order, averaged as the kiosk's enrolment does) into a real
encrypted gallery; the rest of their photos probe as returning customers (genuine) and every
photo of the second half probes as a stranger. Each probe is decided by
`models.decision.decide_match` for a typical sale, intent and liveness taken as given.
`--extra-gallery CSV` enrols more people (one template per identity) to grow the gallery;
`--extra-strangers CSV` probes with every photo of a manifest with a `path` column (people who
are not in `--dataset`), to bound the share of strangers paid more tightly.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
import time
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from base.errors import SmilepayError
from base.progress import Progress
from models.bench import Labelled, csv_dataset, rss_mb
from models.config import FaceConfig
from models.decision import decide_match, policy_for
from models.engine import BadImage, FaceEngine, read_image
from models.gallery import Consent, Gallery

ENROL_PHOTOS = 3
TYPICAL_AMOUNT_MINOR = 1000
BENCH_CONSENT = Consent("bench", "2026-01-01T00:00:00+00:00", "bench-identify", "bench")


def split_identities(
    dataset: list[Labelled],
) -> tuple[dict[str, list[Path]], list[tuple[str, Path]], list[Path]]:
    """(enrolment photos by identity, genuine probes, stranger probes) as the module says."""
    photos: dict[str, list[Path]] = defaultdict(list)
    for path, identity, _ in dataset:
        photos[identity].append(path)
    names = sorted(photos)
    if len(names) < 2:
        raise SmilepayError("bench identify needs at least two identities in the manifest")
    enrolled = names[: len(names) // 2]
    enrolment = {name: photos[name][:ENROL_PHOTOS] for name in enrolled}
    genuine = [(name, path) for name in enrolled for path in photos[name][ENROL_PHOTOS:]]
    strangers = [path for name in names[len(names) // 2 :] for path in photos[name]]
    return enrolment, genuine, strangers


def stranger_paths(manifest: Path) -> list[Path]:
    """Every photo of a CSV manifest with a `path` column (any other columns ignored)."""
    try:
        with manifest.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SmilepayError(f"{manifest}: cannot read the manifest: {exc}") from None
    if not rows or "path" not in rows[0]:
        raise SmilepayError(f"{manifest}: needs a header with a path column, and rows")
    return [manifest.parent / row["path"] for row in rows]


def upper_bound_95(count: int, total: int) -> float | None:
    """One-sided 95 % upper confidence bound of a rate seen `count` times in `total` trials
    (Clopper-Pearson: the rate at which seeing `count` or fewer has probability 5 %)."""
    if not total:
        return None
    if count >= total:
        return 1.0

    def at_most(rate: float) -> float:
        return sum(
            math.exp(
                math.lgamma(total + 1)
                - math.lgamma(k + 1)
                - math.lgamma(total - k + 1)
                + k * math.log(rate)
                + (total - k) * math.log1p(-rate)
            )
            for k in range(count + 1)
        )

    low, high = count / total, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if at_most(middle) > 0.05 else (low, middle)
    return round(high, 6)


def descriptor(engine: FaceEngine, path: Path) -> np.ndarray | None:
    """The photo's face descriptor through the kiosk pipeline, or None without a face."""
    try:
        image = read_image(path)
    except BadImage:
        return None
    observation = engine.analyse(image)
    return None if observation.mesh is None else engine.embed(image, observation)


def enrol(
    engine: FaceEngine, gallery: Gallery, people: dict[str, list[Path]], progress: Progress
) -> dict[str, str]:
    """Enrol each person from the photos where a face is found; customer id -> identity."""
    customers = {}
    for name, paths in people.items():
        vectors = []
        for path in paths:
            progress.advance()
            found = descriptor(engine, path)
            if found is not None:
                vectors.append(found)
        if vectors:
            customers[gallery.enroll(name, vectors, BENCH_CONSENT)] = name
    return customers


def probe(
    engine: FaceEngine, gallery: Gallery, path: Path, config: FaceConfig
) -> tuple[str, str | None, float, bool]:
    """(decision kind or "no_face", matched customer id, milliseconds, whether the face passed
    the kiosk's quality gates) for one probe photo."""
    try:
        image = read_image(path)
    except BadImage:
        return "no_face", None, 0.0, False
    observation = engine.analyse(image)
    if observation.mesh is None:
        return "no_face", None, 0.0, False
    vector = engine.embed(image, observation)
    started = time.perf_counter()
    match = gallery.search(vector)
    kind = decide_match(match, TYPICAL_AMOUNT_MINOR, config, len(gallery))
    elapsed = (time.perf_counter() - started) * 1000
    customer = None if match is None or kind == "no_match" else match.best_id
    return kind, customer, elapsed, observation.usable


def _share(count: int, total: int) -> float | None:
    return round(count / total, 5) if total else None


def bench_identify(
    engine: FaceEngine,
    dataset: list[Labelled],
    config: FaceConfig,
    extra: list[Labelled],
    extra_strangers: list[Path] | None = None,
) -> dict[str, Any]:
    """The `bench identify` result object."""
    enrolment, genuine, strangers = split_identities(dataset)
    strangers = strangers + list(extra_strangers or [])
    extra_people: dict[str, list[Path]] = defaultdict(list)
    for path, identity, _ in extra:
        if len(extra_people[identity]) < ENROL_PHOTOS:
            extra_people[identity].append(path)
    work = sum(map(len, enrolment.values())) + sum(map(len, extra_people.values()))
    progress = Progress("bench identify", work + len(genuine) + len(strangers))
    counts: dict[str, int] = defaultdict(int)
    decide_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="smilepay-bench-identify-") as scratch:
        paths = (Path(scratch) / "gallery.db", Path(scratch) / "template.key")
        with closing(Gallery.open(*paths)) as gallery:
            customers = enrol(engine, gallery, enrolment, progress)
            enrol(engine, gallery, {"extra:" + k: v for k, v in extra_people.items()}, progress)
            for name, path in genuine:
                progress.advance()
                kind, customer, ms, usable = probe(engine, gallery, path, config)
                right = customers.get(customer or "") == name
                counts[f"genuine_{kind}_{'right' if right else 'wrong'}"] += 1
                if usable:
                    counts["genuine_usable"] += 1
                    counts[f"genuine_usable_{kind}_{'right' if right else 'wrong'}"] += 1
                decide_ms += [ms] if kind != "no_face" else []
            for path in strangers:
                progress.advance()
                kind, _, ms, usable = probe(engine, gallery, path, config)
                counts[f"stranger_{kind}"] += 1
                if usable:
                    counts["stranger_usable"] += 1
                    counts[f"stranger_usable_{kind}"] += 1
                decide_ms += [ms] if kind != "no_face" else []
            size = len(gallery)
    progress.finish()
    result = summary(counts, len(customers), size, len(genuine), len(strangers), config, decide_ms)
    result["probes_stranger_extra"] = len(extra_strangers or [])
    # the same over the probes whose face passes the kiosk's quality gates: the kiosk embeds
    # only such frames (bench face's `_usable` keys likewise)
    usable_strangers, usable_genuine = counts["stranger_usable"], counts["genuine_usable"]
    served = counts["genuine_usable_pay_right"] + counts["genuine_usable_step_up_right"]
    result["probes_stranger_usable"] = usable_strangers
    result["stranger_pay_usable"] = _share(counts["stranger_usable_pay"], usable_strangers)
    result["stranger_pay_usable_upper_95"] = upper_bound_95(
        counts["stranger_usable_pay"], usable_strangers
    )
    result["probes_genuine_usable"] = usable_genuine
    result["wrong_pay_usable"] = _share(counts["genuine_usable_pay_wrong"], usable_genuine)
    result["fnir_usable"] = _share(usable_genuine - served, usable_genuine)
    return result


def summary(
    counts: dict[str, int],
    enrolled: int,
    gallery_size: int,
    genuine: int,
    strangers: int,
    config: FaceConfig,
    decide_ms: list[float],
) -> dict[str, Any]:
    """Rates over all probes (a probe without a face is neither paid nor stepped up)."""
    policy = policy_for(config, gallery_size)
    served = counts["genuine_pay_right"] + counts["genuine_step_up_right"]
    return {
        "bench": "identify",
        "enrolled": enrolled,
        "gallery_size": gallery_size,
        "probes_genuine": genuine,
        "probes_stranger": strangers,
        "stranger_pay": _share(counts["stranger_pay"], strangers),
        # 95 % upper bound of stranger_pay over the strangers with a face (0 of n: about 3/n)
        "stranger_pay_upper_95": upper_bound_95(
            counts["stranger_pay"], strangers - counts["stranger_no_face"]
        ),
        "stranger_step_up": _share(counts["stranger_step_up"], strangers),
        "stranger_no_face": counts["stranger_no_face"],
        "wrong_pay": _share(counts["genuine_pay_wrong"], genuine),
        "wrong_step_up": _share(counts["genuine_step_up_wrong"], genuine),
        "genuine_pay": _share(counts["genuine_pay_right"], genuine),
        "fnir": _share(genuine - served, genuine),
        "genuine_no_face": counts["genuine_no_face_wrong"],
        "pay_threshold": round(policy.pay_threshold, 4),
        "step_up_threshold": round(policy.step_up_threshold, 4),
        "pay_fpir_target": config.pay_fpir,
        "amount_minor": TYPICAL_AMOUNT_MINOR,
        "decide_ms_p50": round(float(np.percentile(decide_ms, 50)), 3) if decide_ms else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "rss_mb": rss_mb(),
    }


def bench_identify_command(args: Any, face: FaceConfig) -> int:
    """`smilepay bench identify --dataset CSV [--extra-gallery CSV ...]
    [--extra-strangers CSV ...] --json`."""
    dataset = csv_dataset(args.dataset)
    extra = [row for manifest in args.extra_gallery or [] for row in csv_dataset(manifest)]
    more = [path for manifest in args.extra_strangers or [] for path in stranger_paths(manifest)]
    engine = FaceEngine.load(face)
    result = bench_identify(engine, dataset, face, extra, more)
    print(json.dumps(result) if args.json else result)
    return 0
