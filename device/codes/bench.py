"""QR benchmark: decode rate, misreads, false positives and time per frame, for the chain and
for each decoder run alone, on ZXing black-box folders or on generated degraded frames."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from base.errors import SmilepayError
from base.progress import Progress
from device.codes.degrade import DEGRADATIONS, generate_frames
from device.codes.qr import CHAIN, DECODERS, DEFAULT_BUDGET_S, decode_frame, to_grey

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")


@dataclass(frozen=True)
class Sample:
    """One benchmark image and its expected content (None: no code may be reported)."""

    name: str
    image: np.ndarray
    expected: bytes | None


@dataclass
class Tally:
    """Counts and times of one decoder (or the chain) over a set of samples."""

    total: int = 0
    positives: int = 0
    decoded: int = 0
    misread: int = 0
    false_positives: int = 0
    times_ms: list[float] = field(default_factory=list)

    def add(self, expected: bytes | None, found: list[bytes], ms: float) -> None:
        """Score one sample."""
        self.total += 1
        self.times_ms.append(ms)
        if expected is None:
            self.false_positives += bool(found)
            return
        self.positives += 1
        if any(matches(data, expected) for data in found):
            self.decoded += 1
        elif found:
            self.misread += 1

    def summary(self) -> dict[str, float | int]:
        """Counts, rate and p50/p90 time in ms."""
        times = np.array(self.times_ms or [0.0])
        return {
            "total": self.total,
            "positives": self.positives,
            "decoded": self.decoded,
            "rate": round(self.decoded / self.positives, 4) if self.positives else 0.0,
            "misread": self.misread,
            "false_positives": self.false_positives,
            "ms_p50": round(float(np.percentile(times, 50)), 3),
            "ms_p90": round(float(np.percentile(times, 90)), 3),
        }


# QR codes without an ECI carry no charset; ZXing's .txt files hold the text as UTF-8.
TEXT_ENCODINGS = ("utf-8", "shift_jis", "gb18030", "euc_kr", "iso-8859-1")


def matches(data: bytes, expected: bytes) -> bool:
    """Raw bytes equal, or equal as text in one of the charsets QR payloads use."""
    if data == expected:
        return True
    wanted = expected.decode("utf-8", "replace")
    return any(_decodes_to(data, encoding, wanted) for encoding in TEXT_ENCODINGS)


def _decodes_to(data: bytes, encoding: str, wanted: str) -> bool:
    try:
        return data.decode(encoding) == wanted
    except UnicodeDecodeError:
        return False


def read_image(path: Path) -> np.ndarray:
    """A grey image from a file (OpenCV, or Pillow for GIF); SmilepayError if unreadable."""
    if not path.is_file():
        raise SmilepayError(f"{path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is not None:
        return np.asarray(image)
    try:
        with Image.open(path) as pil:
            return np.asarray(pil.convert("L"))
    except (OSError, ValueError) as exc:
        raise SmilepayError(f"{path}: not a readable image ({exc})") from exc


def load_dataset(folder: Path) -> Iterator[Sample]:
    """ZXing black-box layout: N.png with N.txt holding the expected text; no .txt = negative."""
    if not folder.is_dir():
        raise SmilepayError(f"dataset {folder} is not a directory")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise SmilepayError(f"dataset {folder} holds no images")
    for path in images:
        text = path.with_suffix(".txt")
        expected = text.read_bytes() if text.exists() else None
        yield Sample(f"{folder.name}/{path.name}", read_image(path), expected)


def timed(run: Callable[[np.ndarray], list[bytes]], grey: np.ndarray) -> tuple[list[bytes], float]:
    """Run a decoder and return what it found and the milliseconds it took."""
    started = time.perf_counter()
    found = run(grey)
    return found, (time.perf_counter() - started) * 1000


def chain_decoder(budget_s: float) -> Callable[[np.ndarray], list[bytes]]:
    """The chain as a plain decoder returning bytes."""
    return lambda grey: [code.data for code in decode_frame(grey, budget_s)]


def score(samples: Iterable[Sample], budget_s: float, progress: Progress) -> dict[str, Tally]:
    """Tallies for the chain and every decoder alone over `samples`."""
    runners = {"chain": chain_decoder(budget_s), **{name: DECODERS[name] for name in CHAIN}}
    tallies = {name: Tally() for name in runners}
    for sample in samples:
        grey = to_grey(sample.image)
        for name, run in runners.items():
            found, ms = timed(run, grey)
            tallies[name].add(sample.expected, found, ms)
        progress.advance()
    return tallies


def report(tallies: dict[str, Tally]) -> dict[str, object]:
    """The chain's counts at top level, and each decoder alone under "decoders"."""
    chain = tallies["chain"].summary()
    alone = {name: tally.summary() for name, tally in tallies.items() if name != "chain"}
    return {**chain, "decoders": alone}


def machine() -> dict[str, object]:
    """Where the figures were measured."""
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def bench_datasets(folders: list[Path], budget_s: float = DEFAULT_BUDGET_S) -> dict[str, object]:
    """Benchmark over ZXing-layout folders: overall and per folder."""
    datasets = [(folder, list(load_dataset(folder))) for folder in folders]
    progress = Progress("bench qr", total=sum(len(samples) for _, samples in datasets))
    per_folder = {}
    overall: dict[str, Tally] = {}
    for folder, samples in datasets:
        tallies = score(samples, budget_s, progress)
        per_folder[str(folder)] = report(tallies)
        overall = merge(overall, tallies)
    progress.finish()
    result = {"bench": "qr", **report(overall), "budget_ms": budget_s * 1000}
    return {**result, "datasets": per_folder, **machine()}


def merge(left: dict[str, Tally], right: dict[str, Tally]) -> dict[str, Tally]:
    """Sum two sets of tallies decoder by decoder."""
    merged = {}
    for name in dict.fromkeys([*left, *right]):  # keeps the chain order in the report
        parts = [t for t in (left.get(name), right.get(name)) if t is not None]
        merged[name] = Tally(
            total=sum(t.total for t in parts),
            positives=sum(t.positives for t in parts),
            decoded=sum(t.decoded for t in parts),
            misread=sum(t.misread for t in parts),
            false_positives=sum(t.false_positives for t in parts),
            times_ms=[ms for t in parts for ms in t.times_ms],
        )
    return merged


def bench_generated(
    per_category: int, seed: int = 0, budget_s: float = DEFAULT_BUDGET_S
) -> dict[str, object]:
    """Benchmark over generated frames, `per_category` per degradation, reported per category."""
    progress = Progress("bench qr (generated)", total=per_category * len(DEGRADATIONS))
    per_category_report = {}
    overall: dict[str, Tally] = {}
    for category in DEGRADATIONS:
        frames = generate_frames(category, per_category, seed=seed)
        samples = (Sample(category, f.image, f.expected) for f in frames)
        tallies = score(samples, budget_s, progress)
        per_category_report[category] = report(tallies)
        overall = merge(overall, tallies)
    progress.finish()
    result = {"bench": "qr", "dataset": "generated", "seed": seed, **report(overall)}
    return {**result, "budget_ms": budget_s * 1000, "categories": per_category_report, **machine()}
