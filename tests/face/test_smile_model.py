"""The trained smile detector: posed Yale smiles, spontaneous GENKI crops, small images."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from base.errors import SmilepayError
from models.config import FaceConfig
from models.engine import WHOLE_FACE_MIN_PRESENCE, FaceEngine, read_image
from models.gallery import Gallery
from models.linear import MlpModel, fit_mlp, load_classifier
from models.session import SmileToPaySession
from models.smile import (
    SMILE_POINTS,
    SmileModel,
    eye_distance,
    fused_probability,
    mirrored_points,
    smile_features,
)


def smiling(engine: FaceEngine, path: Path) -> bool | None:
    return engine.analyse(read_image(path)).smiling


def grey_and_points(engine: FaceEngine, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The photo in grey and its FaceMesh points (the face must be found)."""
    image = read_image(path)
    mesh = engine.analyse(image).mesh
    assert mesh is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), mesh.points


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


def test_a_face_filling_a_small_crop_is_found_by_facemesh_on_the_whole_crop(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN GENKI crops where BlazeFace finds no face even inside a border, and two non-faces
    # (lettering, fabric) that FaceMesh alone would half-believe
    folder = shared_data / "faces/genki-dev/img"
    faces = [read_image(folder / name) for name in ("1_file0078.jpg", "0_file3078.jpg")]
    not_faces = [read_image(folder / name) for name in ("0_file2646.jpg", "1_file0716.jpg")]
    for image in faces + not_faces:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        for border in (0, 16, 32):
            padded = cv2.copyMakeBorder(rgb, border, border, border, border, cv2.BORDER_REPLICATE)
            detections = engine.detector.detect(padded)
            assert not any(engine.landmarks.landmarks(padded, d) for d in detections)
    # WHEN analysed THEN the faces are found as the whole crop, the others are not faces
    found = [engine.analyse(image) for image in faces]
    assert all(o.mesh is not None and o.mesh.presence >= WHOLE_FACE_MIN_PRESENCE for o in found)
    assert all(engine.analyse(image).mesh is None for image in not_faces)


def test_mirror_features_come_from_the_same_landmarks_without_another_network_run(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN a Yale smile, its landmarks, and the same photo mirrored
    grey, points = grey_and_points(engine, shared_data / "faces/yale/subject01.happy.jpeg")
    flipped = np.ascontiguousarray(grey[:, ::-1])
    mirror = smile_features(grey, points, mirror=True)
    # THEN the mirror features equal those of the mirrored photo with the re-indexed landmarks
    # (geometry exactly; the mouth HOG up to the warp's rounding)
    same = smile_features(flipped, mirrored_points(points, grey.shape[1]))
    geometry = 2 * len(SMILE_POINTS)
    assert np.allclose(mirror[:geometry], same[:geometry], atol=1e-6)
    assert np.allclose(mirror[geometry:], same[geometry:], atol=0.02)
    assert np.corrcoef(mirror[geometry:], same[geometry:])[0, 1] > 0.999
    # AND the re-indexed landmarks are where FaceMesh itself puts them on the mirrored photo
    # (the left/right pairs are right: without the swap they land on the other side)
    found = engine.analyse(cv2.cvtColor(flipped, cv2.COLOR_GRAY2BGR)).mesh
    assert found is not None
    used = list(SMILE_POINTS)
    eyes = eye_distance(points)
    error = np.linalg.norm(
        mirrored_points(points, grey.shape[1])[used, :2] - found.points[used, :2], axis=1
    )
    unswapped = points[used, :2] * [-1, 1] + [grey.shape[1] - 1, 0]
    wrong = np.linalg.norm(unswapped - found.points[used, :2], axis=1)
    assert error.mean() < 0.05 * eyes and wrong.mean() > 0.2 * eyes, (error.mean(), wrong.mean())


def test_a_mirror_averaging_model_scores_the_mean_of_the_face_and_its_mirror(
    engine: FaceEngine, shared_data: Path
) -> None:
    grey, points = grey_and_points(engine, shared_data / "faces/yale/subject02.happy.jpeg")
    model, expression = engine.smile.model, engine.smile.expression
    averaging = SmileModel(replace(model, about=model.about | {"mirror_average": True}), expression)
    single = SmileModel(replace(model, about=model.about | {"mirror_average": False}), expression)
    both = [float(model.probability(smile_features(grey, points, mirror=m))) for m in (False, True)]
    assert single.network_score(grey, points) == pytest.approx(both[0], abs=1e-6)
    assert averaging.network_score(grey, points) == pytest.approx(np.mean(both), abs=1e-6)


def test_the_shipped_model_fuses_the_expression_networks_opinion(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN a Yale happy face and the shipped model, which declares its fusion weights
    grey, points = grey_and_points(engine, shared_data / "faces/yale/subject02.happy.jpeg")
    assert engine.smile.fusion is not None
    assert engine.smile.fusion["expression"] > 0  # a happier face must push towards a smile
    # THEN its score is the fusion of the network's P(smiling) and the expression network's
    network = engine.smile.network_score(grey, points)
    happy = engine.smile.expression.happy_logit(grey, points)
    expected = fused_probability(engine.smile.fusion, network, happy)
    assert engine.smile.score(grey, points) == pytest.approx(expected, abs=1e-9)
    # AND a fusing model without the expression network is refused, saying what is missing
    with pytest.raises(SmilepayError, match="expression network"):
        SmileModel(engine.smile.model)


def test_the_expression_network_finds_yale_happy_faces_happier(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN each Yale subject's happy and normal photo (FER2013 never saw these people)
    expression = engine.smile.expression
    happier = []
    for happy_path in sorted((shared_data / "faces/yale").glob("*.happy.jpeg")):
        normal_path = happy_path.with_name(happy_path.name.replace("happy", "normal"))
        logits = [
            expression.happy_logit(*grey_and_points(engine, path))
            for path in (happy_path, normal_path)
        ]
        happier.append(logits[0] > logits[1])
    # THEN the happy photo looks happier than the same person's normal one, nearly always
    assert len(happier) == 10 and sum(happier) >= 9, happier


def test_the_mlp_file_round_trips_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    # GIVEN a tiny network trained on a separable problem
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = x[:, 0] + 0.5 * x[:, 1] > 0
    mean, scale, member = fit_mlp(x, y, hidden=8, dropout=0.0, epochs=200, learning_rate=1e-2)
    model = MlpModel(mean, scale, (member,), 0.5, {"data": "test"})
    # WHEN saved and loaded THEN it scores the same and learnt the problem
    model.save(tmp_path / "m.json")
    loaded = load_classifier(tmp_path / "m.json")
    assert isinstance(loaded, MlpModel)
    assert np.allclose(loaded.probability(x), model.probability(x), atol=1e-3)
    assert np.mean((np.asarray(loaded.probability(x)) >= 0.5) == y) > 0.9
    # AND a file whose layers do not fit is refused naming the file
    broken = tmp_path / "broken.json"
    broken.write_text((tmp_path / "m.json").read_text().replace('"mean":[', '"mean":[0,'))
    with pytest.raises(SmilepayError, match=r"broken\.json"):
        load_classifier(broken)


def test_the_session_takes_the_smile_from_the_model(
    engine: FaceEngine, demo_frames: list, face_config: FaceConfig, tmp_path: Path
) -> None:
    # GIVEN the shipped smile model, but one that never calls a smile (threshold above 1)
    never = SmileModel(replace(engine.smile.model, threshold=1.01), engine.smile.expression)
    blind = FaceEngine(engine.detector, engine.landmarks, engine.embedder, smile=never)
    gallery = Gallery.open(tmp_path / "g.db", tmp_path / "k.key")
    # WHEN the demo's neutral→smile frames come in
    decisions = []
    for model_engine in (engine, blind):
        session = SmileToPaySession(model_engine, gallery, 1000, face_config, started_at=0.0)
        for number, frame in enumerate(demo_frames):
            session.observe(frame, number / 10)
        decisions.append(session.expire())
    gallery.close()
    # THEN the real model sees the smile (live, nobody enrolled: no match), the blind one never
    assert decisions[0].kind == "no_match" and decisions[0].smile_transition
    assert decisions[1].kind == "not_live" and "no_smile_transition" in decisions[1].live_reasons
