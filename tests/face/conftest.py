"""Face pipeline fixtures: provisioned models (idempotent), one engine per worker, demo frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.config import FaceConfig, default_model_dir
from models.engine import FaceEngine
from models.gallery import Consent, Gallery


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The model folder, provisioned (a no-op when the files are already verified)."""
    from models.provision import provision

    folder = default_model_dir()
    provision(folder)
    return folder


@pytest.fixture(scope="session")
def face_config(model_dir: Path) -> FaceConfig:
    return FaceConfig(model_dir=model_dir)


@pytest.fixture(scope="session")
def engine(face_config: FaceConfig) -> FaceEngine:
    return FaceEngine.load(face_config)


@pytest.fixture(scope="session")
def demo_frames(model_dir: Path, engine: FaceEngine) -> list[np.ndarray]:
    from models.demo_faces import demo_sequence

    return demo_sequence(model_dir, engine)


@pytest.fixture()
def gallery(tmp_path: Path) -> Iterator[Gallery]:
    opened = Gallery.open(tmp_path / "gallery.db", tmp_path / "keys" / "template.key")
    yield opened
    opened.close()


def consent(subject: str = "Test Person") -> Consent:
    return Consent(subject, "2026-01-01T00:00:00+00:00", "kiosk-test", "face-consent-v1")


def embed_photo(engine: FaceEngine, path: Path) -> np.ndarray:
    from models.engine import read_image

    image = read_image(path)
    observation = engine.analyse(image)
    assert observation.mesh is not None, f"no face found in {path}"
    return engine.embed(image, observation)
