"""Same-person pairs match and different people do not, through the whole pipeline."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from models.bench_face import shared_photo_identities
from models.engine import FaceEngine
from tests.face.conftest import embed_photo


def test_press_photos_separate_at_the_match_threshold(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN every labelled press photo embedded by the kiosk pipeline (BlazeFace + FaceMesh box)
    labelled = [
        (path, identity)
        for path, identity in shared_photo_identities(shared_data / "faces")
        if "press" in path.parts
    ]
    vectors = [(identity, embed_photo(engine, path)) for path, identity in labelled]
    genuine: list[float] = []
    impostor: list[float] = []
    for (a, va), (b, vb) in itertools.combinations(vectors, 2):
        (genuine if a == b else impostor).append(float(np.linalg.norm(va - vb)))
    # THEN every same-person pair is under 0.6 and every different-person pair above it
    assert len(genuine) > 30 and len(impostor) > 300
    assert max(genuine) < 0.6
    assert min(impostor) > 0.6
