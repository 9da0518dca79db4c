"""Embedding backends: dlib's distance semantics, backend choice, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.alignment import FaceAligner
from models.bench_face import largest_face_box
from models.config import FaceConfig
from models.embedding import (
    SAME_PERSON_DISTANCE,
    DlibEmbedder,
    Embedder,
    LiteRTEmbedder,
    descriptor_distance,
    open_embedder,
)
from models.errors import BadImage
from models.runtime import ModelLoadError, load_interpreter

from .conftest import load_rgb


def descriptor_of(path: Path, embedder: Embedder) -> np.ndarray:
    image = load_rgb(path)
    box = largest_face_box(image)
    assert box is not None, f"no face found in {path.name}"
    return embedder.embed_face(image, box)


def test_same_person_is_closer_than_06_and_different_people_farther(
    shared_data: Path, litert_embedder: LiteRTEmbedder
) -> None:
    # GIVEN two photos of Obama and one of Biden
    press = shared_data / "faces" / "press"
    obama = descriptor_of(press / "examples_obama.jpg", litert_embedder)
    obama2 = descriptor_of(press / "examples_obama2.jpg", litert_embedder)
    biden = descriptor_of(press / "examples_biden.jpg", litert_embedder)
    # THEN the descriptors are 128 float32, and distances follow dlib's 0.6 rule
    assert obama.shape == (128,) and obama.dtype == np.float32
    assert descriptor_distance(obama, obama2) < SAME_PERSON_DISTANCE
    assert descriptor_distance(obama, biden) > SAME_PERSON_DISTANCE


def test_grey_photo_is_embedded_like_its_rgb_version(
    shared_data: Path, litert_embedder: LiteRTEmbedder
) -> None:
    # GIVEN a greyscale Yale photo as H x W and as H x W x 3
    rgb = load_rgb(shared_data / "faces" / "yale" / "subject01.normal.jpeg")
    box = largest_face_box(rgb)
    assert box is not None
    # THEN both give the same descriptor
    grey = np.ascontiguousarray(rgb[:, :, 0])
    np.testing.assert_allclose(
        litert_embedder.embed_face(grey, box), litert_embedder.embed_face(rgb, box), atol=1e-6
    )


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), "image is empty"),
        (np.zeros((1, 1, 3), np.uint8), "image 1x1 is too small"),
        (np.zeros((200, 200, 3), np.float64), "must be uint8.*float64"),
        (np.zeros((200, 200, 4), np.uint8), "H x W x 3 RGB.*\\(200, 200, 4\\)"),
        (np.zeros((16, 9000, 3), np.uint8), "image 9000x16 is too large"),
        ([[0, 1], [2, 3]], "must be a numpy array, got list"),
    ],
    ids=["empty", "1x1", "float64", "rgba", "huge", "list"],
)
@pytest.mark.parametrize("backend", ["litert", "dlib"])
def test_bad_image_gets_a_clear_error(
    backend: str,
    image: object,
    message: str,
    litert_embedder: LiteRTEmbedder,
    dlib_embedder: DlibEmbedder,
) -> None:
    embedder: Embedder = litert_embedder if backend == "litert" else dlib_embedder
    with pytest.raises(BadImage, match=message):
        embedder.embed_face(image, (0, 0, 100, 100))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((500, 500, 50, 50), "outside the 200x200 image"),
        ((10, 10, 0, 50), "has no area"),
        ((10, 10, float("nan"), 50), "has no area"),
        ((10, 10, 50), "four numbers"),
    ],
    ids=["outside", "zero-width", "nan", "three-numbers"],
)
def test_bad_face_box_gets_a_clear_error(box: tuple, message: str, aligner: FaceAligner) -> None:
    with pytest.raises(BadImage, match=message):
        aligner.chip(np.zeros((200, 200, 3), np.uint8), box)


@pytest.mark.parametrize(
    ("chip", "message"),
    [
        (np.zeros((150, 150, 3), np.float32), "must be uint8"),
        (np.zeros((151, 150, 3), np.uint8), "150x150x3 RGB, got shape \\(151, 150, 3\\)"),
        (np.zeros((150, 150), np.uint8), "got shape \\(150, 150\\)"),
    ],
    ids=["float", "151-rows", "grey"],
)
def test_bad_chip_gets_a_clear_error(
    chip: np.ndarray, message: str, litert_embedder: LiteRTEmbedder, dlib_embedder: DlibEmbedder
) -> None:
    for embedder in (litert_embedder, dlib_embedder):
        with pytest.raises(BadImage, match=message):
            embedder.embed_chip(chip)


@pytest.mark.parametrize(
    ("backend", "expected"), [("litert", LiteRTEmbedder), ("dlib", DlibEmbedder)]
)
def test_open_embedder_uses_the_configured_backend(
    backend: str, expected: type, model_dir: Path
) -> None:
    config = FaceConfig.model_validate(
        {"model_dir": model_dir, "embedding_backend": backend, "threads": 1}
    )
    embedder = open_embedder(config)
    assert isinstance(embedder, expected)
    assert embedder.backend == backend


@pytest.mark.parametrize("weights", ["float32", "float16", "int8"])
def test_open_embedder_loads_each_litert_weight_variant(weights: str, model_dir: Path) -> None:
    embedder = open_embedder(FaceConfig(model_dir=model_dir, threads=1), weights)
    descriptor = embedder.embed_chip(np.full((150, 150, 3), 128, np.uint8))
    assert descriptor.shape == (128,)


def test_open_embedder_rejects_unknown_weights(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="weights must be one of"):
        open_embedder(FaceConfig(model_dir=model_dir), "int4")


def test_open_embedder_without_provisioned_models_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="run `smilepay models provision`"):
        open_embedder(FaceConfig(model_dir=tmp_path))


def test_corrupt_tflite_file_gets_a_load_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"TFL3" + bytes(100))
    with pytest.raises(ModelLoadError, match=r"broken\.tflite"):
        load_interpreter(path, threads=1)


def test_mirrored_view_of_a_photo_is_accepted(
    shared_data: Path, litert_embedder: LiteRTEmbedder
) -> None:
    # GIVEN a non-contiguous view (a BGR frame flipped to RGB the cheap way)
    bgr = load_rgb(shared_data / "faces" / "press" / "examples_obama.jpg")[:, :, ::-1]
    rgb_view = bgr[:, :, ::-1]
    box = largest_face_box(np.ascontiguousarray(rgb_view))
    assert box is not None
    # THEN it embeds exactly like the contiguous copy
    np.testing.assert_array_equal(
        litert_embedder.embed_face(rgb_view, box),
        litert_embedder.embed_face(np.ascontiguousarray(rgb_view), box),
    )
