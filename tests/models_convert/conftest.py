"""Fixtures for the face-model tests: provisioned model files (idempotent) and backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.alignment import FaceAligner
from models.config import default_model_dir
from models.embedding import DLIB_MODEL, LITERT_MODEL, PREDICTOR_MODEL, DlibEmbedder, LiteRTEmbedder
from models.provision import model_path, provision


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default model directory, provisioned (a no-op when bootstrap already did it)."""
    directory = default_model_dir()
    provision(directory)  # locked, so parallel workers do not race
    return directory


@pytest.fixture(scope="session")
def predictor_path(model_dir: Path) -> Path:
    return model_path(PREDICTOR_MODEL, model_dir)


@pytest.fixture(scope="session")
def aligner(predictor_path: Path) -> FaceAligner:
    return FaceAligner(predictor_path)


@pytest.fixture(scope="session")
def dlib_embedder(model_dir: Path, predictor_path: Path) -> DlibEmbedder:
    return DlibEmbedder(model_path(DLIB_MODEL, model_dir), predictor_path)


@pytest.fixture(scope="session")
def litert_embedder(model_dir: Path, predictor_path: Path) -> LiteRTEmbedder:
    return LiteRTEmbedder(model_path(LITERT_MODEL, model_dir), predictor_path, threads=2)


def load_rgb(path: Path) -> np.ndarray:
    """A photo as an H x W x 3 uint8 RGB array."""
    return np.asarray(Image.open(path).convert("RGB"))
