"""The converted TFLite model gives dlib's own descriptor on every shared face photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.alignment import FaceAligner
from models.bench_face import largest_face_box
from models.dlib_convert import convert_network
from models.dlib_format import load_dlib_network
from models.embedding import DLIB_MODEL, LITERT_INT8_MODEL, DlibEmbedder, LiteRTEmbedder
from models.provision import MIN_COSINE, descriptor_cosine, model_path

from .conftest import load_rgb


def face_chip(path: Path, aligner: FaceAligner) -> np.ndarray:
    """The largest face dlib finds, or (when it finds none) the whole photo as the box."""
    image = load_rgb(path)
    box = largest_face_box(image)
    if box is None:
        box = (0, 0, image.shape[1], image.shape[0])
    return aligner.chip(image, box)


def disagreements(
    photos: list[Path], aligner: FaceAligner, dlib_net: DlibEmbedder, converted: LiteRTEmbedder
) -> list[str]:
    """Photos where the converted model's descriptor has cosine < 0.9999 to dlib's."""
    failures = []
    for path in photos:
        chip = face_chip(path, aligner)
        cosine = descriptor_cosine(converted.embed_chip(chip), dlib_net.embed_chip(chip))
        if not cosine >= MIN_COSINE:
            failures.append(f"{path.name}: cosine {cosine:.6f}")
    return failures


@pytest.mark.parametrize("collection", ["press", "yale"])
def test_converted_model_matches_dlib_on_every_shared_photo(
    collection: str,
    shared_data: Path,
    aligner: FaceAligner,
    dlib_embedder: DlibEmbedder,
    litert_embedder: LiteRTEmbedder,
) -> None:
    # GIVEN every photo of the collection
    photos = sorted((shared_data / "faces" / collection).iterdir())
    assert len(photos) > 40, f"expected the shared {collection} photos in {shared_data}"
    # WHEN each face chip is embedded by dlib and by the converted model on LiteRT
    failures = disagreements(photos, aligner, dlib_embedder, litert_embedder)
    # THEN every descriptor agrees with dlib's to cosine >= 0.9999
    assert failures == []


def test_fp16_weight_model_matches_dlib_on_press_photos(
    shared_data: Path,
    model_dir: Path,
    predictor_path: Path,
    aligner: FaceAligner,
    dlib_embedder: DlibEmbedder,
) -> None:
    # GIVEN the half-size model with float16 weights
    fp16 = LiteRTEmbedder(
        model_path("dlib_face_recognition_resnet_v1_fp16", model_dir), predictor_path
    )
    photos = sorted((shared_data / "faces" / "press").iterdir())[::4]
    # THEN it also agrees with dlib to cosine >= 0.9999
    assert disagreements(photos, aligner, dlib_embedder, fp16) == []


def test_conversion_is_deterministic(model_dir: Path) -> None:
    # GIVEN dlib's weights  WHEN converted twice  THEN the bytes are identical
    network = load_dlib_network(model_path(DLIB_MODEL, model_dir))
    assert convert_network(network) == convert_network(network)


def test_int8_weight_model_stays_close_to_float32_on_press_photos(
    shared_data: Path,
    model_dir: Path,
    predictor_path: Path,
    aligner: FaceAligner,
    litert_embedder: LiteRTEmbedder,
) -> None:
    # GIVEN the int8-weight option (a quarter of the size)
    int8 = LiteRTEmbedder(model_path(LITERT_INT8_MODEL, model_dir), predictor_path)
    photos = sorted((shared_data / "faces" / "press").iterdir())[::4]
    # THEN its descriptors stay within cosine 0.999 of the float32 model's
    for path in photos:
        chip = face_chip(path, aligner)
        cosine = descriptor_cosine(int8.embed_chip(chip), litert_embedder.embed_chip(chip))
        assert cosine >= 0.999, path.name
