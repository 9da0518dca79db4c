"""Smile-to-pay sessions on real models: intent, liveness, match rules, time-outs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.config import FaceConfig
from models.demo_faces import (
    astronaut,
    camera_frame,
    mouth_geometry,
    neutral_and_smiling,
    relax_mouth,
    repeated_photo,
)
from models.engine import FaceEngine
from models.gallery import Gallery
from models.liveness import mouth_deformation
from models.session import FaceDecision, SmileToPaySession
from models.smile import is_smiling
from tests.face.conftest import consent, embed_photo


def run(
    engine: FaceEngine,
    gallery: Gallery,
    frames: list[np.ndarray],
    config: FaceConfig,
    amount_minor: int = 1000,
) -> tuple[FaceDecision, list[str]]:
    """Feed frames at 10 fps; end the session when they run out."""
    session = SmileToPaySession(engine, gallery, amount_minor, config, started_at=100.0)
    guidance = []
    for number, frame in enumerate(frames):
        progress = session.observe(frame, 100.0 + number / 10)
        guidance.append(progress.guidance)
        if progress.decision:
            return progress.decision, guidance
    return session.expire(), guidance


@pytest.fixture()
def astronaut_gallery(
    gallery: Gallery, engine: FaceEngine, model_dir: Path, shared_data: Path
) -> Gallery:
    neutral, smiling = neutral_and_smiling(engine, model_dir)
    vectors = [engine.embed(image, engine.analyse(image)) for image in (neutral, smiling)]
    gallery.enroll("Astronaut", vectors, consent("Astronaut"))
    obama = embed_photo(engine, shared_data / "faces/press/examples_obama.jpg")
    gallery.enroll("Obama", [obama], consent("Obama"))
    return gallery


def test_the_warped_astronaut_is_neutral_and_the_original_smiles(
    engine: FaceEngine, model_dir: Path
) -> None:
    # GIVEN the generated neutral and the original photo WHEN measured by the smile detector
    neutral, smiling = neutral_and_smiling(engine, model_dir)
    neutral_ratio = engine.analyse(neutral).smile_ratio
    smiling_ratio = engine.analyse(smiling).smile_ratio
    # THEN the neutral one is not a smile and the original is
    assert neutral_ratio is not None and smiling_ratio is not None
    assert not is_smiling(neutral_ratio) and is_smiling(smiling_ratio)


def test_the_demo_sequence_is_live_and_pays_the_enrolled_astronaut(
    engine: FaceEngine, astronaut_gallery: Gallery, demo_frames: list, face_config: FaceConfig
) -> None:
    # GIVEN the astronaut enrolled WHEN the neutral→smile demo frames come in
    decision, guidance = run(engine, astronaut_gallery, demo_frames, face_config)
    # THEN the customer was asked to smile, liveness passed and the sale pays
    assert "now_smile" in guidance
    assert decision.kind == "pay", decision
    assert decision.live and decision.smile_transition and decision.name == "Astronaut"
    assert decision.score is not None and decision.score < face_config.match_threshold
    assert decision.margin is not None and decision.margin >= face_config.match_margin


def test_a_repeated_photo_never_pays(
    engine: FaceEngine, astronaut_gallery: Gallery, model_dir: Path, face_config: FaceConfig
) -> None:
    # GIVEN one smiling photo of the enrolled customer repeated WHEN the session runs out
    decision, _ = run(engine, astronaut_gallery, repeated_photo(model_dir, 30), face_config)
    # THEN it is not live: no transition, static frames, no landmark motion
    assert decision.kind == "not_live"
    assert {"no_smile_transition", "static_frames", "no_landmark_motion"} <= set(
        decision.live_reasons
    )


def test_a_neutral_photo_then_a_smiling_photo_is_not_live(
    engine: FaceEngine, astronaut_gallery: Gallery, model_dir: Path, face_config: FaceConfig
) -> None:
    # GIVEN two still photos shown one after the other (neutral ×8, smiling ×8)
    neutral, smiling = neutral_and_smiling(engine, model_dir)
    frames = [neutral.copy() for _ in range(8)] + [smiling.copy() for _ in range(8)]
    decision, _ = run(engine, astronaut_gallery, frames, face_config)
    # THEN the static frames give it away
    assert decision.kind == "not_live"
    assert "static_frames" in decision.live_reasons


def test_a_face_already_smiling_must_relax_before_its_smile_counts(
    engine: FaceEngine, astronaut_gallery: Gallery, model_dir: Path, face_config: FaceConfig
) -> None:
    photo = astronaut(model_dir)
    observation = engine.analyse(photo)
    assert observation.mesh is not None
    mouth = mouth_geometry(observation.mesh.points)
    rng = np.random.default_rng(3)

    def frames(strengths: list[float]) -> list[np.ndarray]:
        return [camera_frame(relax_mouth(photo, mouth, s), rng, mouth.centre) for s in strengths]

    # GIVEN a customer smiling from the start and never relaxing THEN no payment
    decision, guidance = run(engine, astronaut_gallery, frames([0.0] * 12), face_config)
    assert decision.kind == "not_live" and "now_smile" not in guidance
    # GIVEN the same customer smiling, then relaxing, then smiling again THEN it pays
    decision, _ = run(
        engine, astronaut_gallery, frames([0.0] * 4 + [1.0] * 4 + [0.0] * 4), face_config
    )
    assert decision.kind == "pay" and decision.name == "Astronaut"


def test_a_large_amount_asks_for_a_step_up(
    engine: FaceEngine, astronaut_gallery: Gallery, demo_frames: list, face_config: FaceConfig
) -> None:
    # GIVEN an amount at the step-up limit WHEN the enrolled customer smiles THEN step-up
    amount = face_config.step_up_amount_minor
    decision, _ = run(engine, astronaut_gallery, demo_frames, face_config, amount)
    assert decision.kind == "step_up" and decision.name == "Astronaut"


def test_an_ambiguous_match_asks_for_a_step_up(
    engine: FaceEngine, astronaut_gallery: Gallery, demo_frames: list, face_config: FaceConfig
) -> None:
    # GIVEN a second record almost identical to the astronaut's (a near twin)
    twin = astronaut_gallery.template(astronaut_gallery.customers()[0].customer_id) + 0.002
    astronaut_gallery.upsert("twin", "Twin", twin)
    # WHEN the astronaut smiles THEN the margin is too small to pay without a step-up
    decision, _ = run(engine, astronaut_gallery, demo_frames, face_config)
    assert decision.kind == "step_up"
    assert decision.margin is not None and decision.margin < face_config.match_margin


def test_someone_not_enrolled_gets_no_match(
    engine: FaceEngine,
    gallery: Gallery,
    demo_frames: list,
    face_config: FaceConfig,
    shared_data: Path,
) -> None:
    # GIVEN a gallery with only Obama WHEN the (live) astronaut smiles THEN no match
    gallery.enroll(
        "Obama", [embed_photo(engine, shared_data / "faces/press/examples_obama.jpg")], consent()
    )
    decision, _ = run(engine, gallery, demo_frames, face_config)
    assert decision.kind == "no_match" and decision.live and decision.customer_id is None


def test_a_session_without_any_face_times_out_as_no_face(
    engine: FaceEngine, gallery: Gallery, face_config: FaceConfig
) -> None:
    # GIVEN an empty scene WHEN the capture time runs out THEN no_face
    session = SmileToPaySession(engine, gallery, 1000, face_config, started_at=0.0)
    blank = np.full((240, 320, 3), 100, np.uint8)
    assert session.observe(blank, 1.0).decision is None
    progress = session.observe(blank, face_config.capture_timeout_s + 0.1)
    assert progress.guidance == "no_face"
    assert progress.decision is not None and progress.decision.kind == "no_face"


def test_moving_a_photo_rigidly_is_not_mouth_motion(engine: FaceEngine, model_dir: Path) -> None:
    # GIVEN the astronaut's landmarks turned, shifted and scaled as a held photo would be
    observation = engine.analyse(astronaut(model_dir))
    assert observation.mesh is not None
    points = observation.mesh.points[:, :2].astype(np.float32)
    angle = np.radians(8)
    rotation = 1.1 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (points @ rotation.T + [15, -7]).astype(np.float32)
    # THEN no mouth deformation is seen; a real neutral→smile change is
    neutral, _ = neutral_and_smiling(engine, model_dir)
    relaxed = engine.analyse(neutral).mesh
    assert relaxed is not None
    assert mouth_deformation(points, moved) < 0.005
    assert mouth_deformation(relaxed.points[:, :2], points) > 0.035
