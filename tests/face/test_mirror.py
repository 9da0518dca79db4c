"""Mirror-averaged descriptors: a face and its mirror image get (nearly) the same descriptor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.engine import FaceEngine, read_image


def descriptor(engine: FaceEngine, image: np.ndarray) -> np.ndarray:
    return engine.embed(image, engine.analyse(image))


def test_mirror_averaging_makes_the_descriptor_blind_to_left_and_right(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN a press photo and its mirror image
    photo = read_image(shared_data / "faces/press/examples_obama.jpg")
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    # WHEN embedded with mirror averaging (the default) and without
    assert engine.mirror
    averaged = np.linalg.norm(descriptor(engine, photo) - descriptor(engine, mirrored))
    engine.mirror = False
    try:
        single = np.linalg.norm(descriptor(engine, photo) - descriptor(engine, mirrored))
    finally:
        engine.mirror = True
    # THEN the averaged descriptors of the two are closer than the single-chip ones (not equal:
    # the landmarks of a mirrored photo are not exactly the mirrored landmarks)
    assert averaged < 0.8 * single
