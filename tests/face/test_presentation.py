"""The per-frame printed-photo check, and the session refusing a printed photo."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from models.config import FaceConfig
from models.demo_faces import camera_frame, mouth_geometry, relax_mouth
from models.engine import FaceEngine, read_image
from models.gallery import Gallery
from models.presentation import PresentationAttackModel, lbp_histograms
from models.session import SmileToPaySession
from tests.face.conftest import consent, embed_photo


def nuaa_frames(shared_data: Path, attack: bool, step: int = 25) -> list[Path]:
    manifest = shared_data / "faces/nuaa-dev/manifest.csv"
    with manifest.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if (r["attack"] == "1") == attack]
    return [manifest.parent / r["path"] for r in rows[::step]]


def attack_probability(engine: FaceEngine, path: Path) -> float:
    image = read_image(path)
    observation = engine.analyse(image)
    assert observation.mesh is not None, f"no face in {path}"
    return engine.presentation.attack_probability(image, observation.mesh.points)


def test_lbp_histograms_are_normalised_per_cell() -> None:
    grey = np.random.default_rng(1).integers(0, 256, (128, 128), dtype=np.uint8)
    histograms = lbp_histograms(grey).reshape(5, 59)
    assert np.allclose(histograms.sum(axis=1), 1.0)


def test_printed_photo_frames_are_rejected_and_live_ones_accepted(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN NUAA frames of printed photos and of the live people (a spread over subjects)
    model: PresentationAttackModel = engine.presentation
    attacks = [attack_probability(engine, p) for p in nuaa_frames(shared_data, True)]
    live = [attack_probability(engine, p) for p in nuaa_frames(shared_data, False)]
    # THEN at the kiosk's operating threshold nearly every print is rejected, nearly no live face
    rejected = sum(p >= model.threshold for p in attacks)
    accepted = sum(p < model.threshold for p in live)
    assert rejected >= 0.9 * len(attacks), (rejected, len(attacks))
    assert accepted >= 0.9 * len(live), (accepted, len(live))


def test_a_printed_photo_held_to_the_camera_never_pays(
    engine: FaceEngine, gallery: Gallery, shared_data: Path
) -> None:
    # GIVEN the person of the NUAA frames enrolled from a live frame
    live = nuaa_frames(shared_data, False, step=1)
    subject = live[0].parent.name
    gallery.enroll("Live Person", [embed_photo(engine, live[0])], consent("Live Person"))
    prints = [p for p in nuaa_frames(shared_data, True, step=1) if p.parent.name == subject]
    # WHEN a session sees the printed photo frames at 10 fps
    session = SmileToPaySession(engine, gallery, 1000, FaceConfig(), started_at=0.0)
    for number, path in enumerate(prints[:40]):
        session.observe(read_image(path), number / 10)
    decision = session.expire()
    # THEN it does not pay
    assert decision.kind != "pay"
    assert decision.kind in ("not_live", "no_face")


def animated_print(engine: FaceEngine, path: Path) -> list[np.ndarray]:
    """A printed-photo frame animated with the demo's mouth warp (mouth narrowed and closed,
    then back to the print's own face), each frame with small motion and sensor noise."""
    image = read_image(path)
    observation = engine.analyse(image)
    assert observation.mesh is not None
    mouth = mouth_geometry(observation.mesh.points)
    strengths = [1.0] * 6 + [0.8, 0.6, 0.4, 0.2] + [0.0] * 6
    rng = np.random.default_rng(5)
    return [camera_frame(relax_mouth(image, mouth, s), rng, mouth.centre) for s in strengths]


def test_a_print_animated_to_smile_is_stopped_by_the_texture_check(
    engine: FaceEngine, gallery: Gallery, shared_data: Path
) -> None:
    # GIVEN a printed photo of an enrolled person, animated from neutral to a wider mouth
    prints = nuaa_frames(shared_data, True, step=1)
    frames = animated_print(engine, prints[0])
    gallery.enroll(
        "Printed Person",
        [engine.embed(frames[-1], engine.analyse(frames[-1]))],
        consent("Printed Person"),
    )
    # WHEN a session sees it
    session = SmileToPaySession(engine, gallery, 1000, FaceConfig(), started_at=0.0)
    decision = None
    for number, frame in enumerate(frames):
        decision = session.observe(frame, number / 10).decision or decision
    decision = decision or session.expire()
    # THEN it is refused as not live: the smile model sees no smile (the print's face is
    # neutral), and the texture check, run when the session ends, says it is a print
    assert decision.kind == "not_live", decision
    assert "presentation_attack" in decision.live_reasons
