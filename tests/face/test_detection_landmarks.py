"""BlazeFace decoding and FaceMesh landmarks on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.detection import make_anchors
from models.engine import FaceEngine, read_image


def test_anchor_layout_matches_the_models_896_outputs() -> None:
    # GIVEN MediaPipe's short-range layout WHEN the anchors are made THEN there is one per output
    anchors = make_anchors()
    assert anchors.shape == (896, 2)
    assert anchors.min() > 0 and anchors.max() < 1


def test_one_face_is_found_inside_a_single_portrait(engine: FaceEngine, shared_data: Path) -> None:
    # GIVEN a press portrait WHEN detected THEN exactly one confident face lies inside the image
    image = read_image(shared_data / "faces/press/examples_obama.jpg")
    faces = engine.detector.detect(image[:, :, ::-1].copy())
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert faces[0].score > 0.8
    assert x >= 0 and y >= 0 and x + w <= image.shape[1] and y + h <= image.shape[0]
    assert 0.1 < w / image.shape[1] < 0.6


def test_both_faces_are_found_in_a_two_person_photo(engine: FaceEngine, shared_data: Path) -> None:
    # GIVEN a photo of two people WHEN detected THEN two separate faces come back
    image = read_image(shared_data / "faces/press/examples_two_people.jpg")
    faces = engine.detector.detect(image[:, :, ::-1].copy())
    assert len(faces) == 2
    centres = [f.box[0] + f.box[2] / 2 for f in faces]
    assert abs(centres[0] - centres[1]) > image.shape[1] / 4


def test_landmarks_put_the_eyes_above_the_mouth_inside_the_face_box(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN a Yale face WHEN analysed THEN 468 points lie in the box, eyes above the mouth
    observation = engine.analyse(read_image(shared_data / "faces/yale/subject02.normal.jpeg"))
    assert observation.mesh is not None and observation.detection is not None
    points = observation.mesh.points
    assert points.shape == (468, 3)
    x, y, w, h = observation.detection.box
    inside_x = (points[:, 0] > x - 0.2 * w) & (points[:, 0] < x + 1.2 * w)
    inside_y = (points[:, 1] > y - 0.3 * h) & (points[:, 1] < y + 1.3 * h)
    assert inside_x.all() and inside_y.all()
    assert points[[33, 263], 1].mean() < points[[61, 291], 1].mean()
    assert np.isfinite(observation.timings_ms["detect_ms"])
