"""The trained smile detector: posed Yale smiles, spontaneous GENKI crops, small images."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2

from models.engine import FaceEngine, read_image
from models.smile import SmileModel


def smiling(engine: FaceEngine, path: Path) -> bool | None:
    return engine.analyse(read_image(path)).smiling


def test_the_shipped_model_loads_with_its_provenance() -> None:
    model = SmileModel.load()
    assert 0 < model.threshold < 1
    assert "GENKI" in model.model.about["data"]


def test_yale_happy_faces_smile_and_normal_faces_do_not(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN the ten Yale subjects' happy and normal photos (a source the model was not trained on)
    yale = shared_data / "faces/yale"
    happy = [smiling(engine, p) for p in sorted(yale.glob("*.happy.jpeg"))]
    normal = [smiling(engine, p) for p in sorted(yale.glob("*.normal.jpeg"))]
    # THEN nearly every happy face smiles and nearly no normal face does
    assert len(happy) == len(normal) == 10
    assert happy.count(True) >= 9, happy
    assert normal.count(False) >= 9, normal


def test_spontaneous_smiles_on_small_crops_are_mostly_right(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN 60 GENKI 64x64 crops (every 47th of the manifest) WHEN each is judged alone
    manifest = shared_data / "faces/genki-dev/manifest.csv"
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[::47]
    calls = [smiling(engine, manifest.parent / row["path"]) for row in rows]
    right = sum(call == (row["smiling"] == "1") for call, row in zip(calls, rows, strict=True))
    # THEN most faces are found in these small crops and most calls are right (no face = wrong)
    assert sum(call is not None for call in calls) >= 0.85 * len(rows)
    assert right >= 0.8 * len(rows), f"{right}/{len(rows)}"


def test_faces_filling_a_small_crop_are_found_by_retrying_inside_a_border(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN GENKI 64x64 crops where BlazeFace + FaceMesh on the bare image confirm no face
    crops = [shared_data / "faces/genki-dev/img" / f"0_file{n}.jpg" for n in (2166, 2196, 2198)]
    images = [read_image(path) for path in crops]
    bare = [
        any(engine.landmarks.landmarks(rgb, d) is not None for d in engine.detector.detect(rgb))
        for rgb in (cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in images)
    ]
    assert not any(bare)
    # WHEN the engine analyses them THEN its retry inside a border finds every face
    assert all(engine.analyse(image).mesh is not None for image in images)
