"""Smile ratio on Yale happy/normal, and the quality gates' guidance keys."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.engine import FaceEngine, read_image
from models.quality import QualityGates, QualityReport, guidance
from models.smile import SmileCalibration, is_smiling


def ratio_of(engine: FaceEngine, path: Path) -> float:
    observation = engine.analyse(read_image(path))
    assert observation.smile_ratio is not None, f"no face in {path}"
    return observation.smile_ratio


def test_smiles_are_detected_on_every_yale_happy_and_on_no_normal(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN the ten Yale subjects' happy and normal photos WHEN each is judged on its own
    yale = shared_data / "faces/yale"
    happy = {p.name: is_smiling(ratio_of(engine, p)) for p in sorted(yale.glob("*.happy.jpeg"))}
    normal = {p.name: is_smiling(ratio_of(engine, p)) for p in sorted(yale.glob("*.normal.jpeg"))}
    # THEN every happy face smiles and no normal face does
    assert len(happy) == len(normal) == 10
    assert all(happy.values()), happy
    assert not any(normal.values()), normal


def test_each_person_smiles_relative_to_their_own_neutral(
    engine: FaceEngine, shared_data: Path
) -> None:
    # GIVEN a subject's neutral ratio WHEN their happy photo is compared THEN it is a smile
    calibration = SmileCalibration()
    yale = shared_data / "faces/yale"
    for subject in ("subject01", "subject04", "subject08"):
        neutral = ratio_of(engine, yale / f"{subject}.normal.jpeg")
        assert calibration.smiling(ratio_of(engine, yale / f"{subject}.happy.jpeg"), neutral)
        assert not calibration.smiling(ratio_of(engine, yale / f"{subject}.sad.jpeg"), neutral)


@pytest.fixture(scope="module")
def portrait(shared_data: Path) -> np.ndarray:
    return read_image(shared_data / "faces/press/examples_obama-720p.jpg")


def test_a_good_portrait_is_ok(engine: FaceEngine, portrait: np.ndarray) -> None:
    # GIVEN a clear frontal portrait WHEN analysed THEN every gate passes
    assert engine.analyse(portrait).guidance == "ok"


def test_a_small_face_is_asked_to_come_closer(engine: FaceEngine, portrait: np.ndarray) -> None:
    # GIVEN the portrait shrunk into a 320×240 frame, eyes about 22 px apart
    small = cv2.resize(portrait, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    height, width = small.shape[:2]
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[(240 - height) // 2 : (240 - height) // 2 + height, 32 : 32 + width] = small
    # WHEN analysed THEN the customer is asked to come closer
    assert engine.analyse(frame).guidance == "come_closer"


def test_a_dark_frame_says_too_dark_and_a_washed_out_one_too_bright(
    engine: FaceEngine, portrait: np.ndarray
) -> None:
    # GIVEN the portrait darkened or brightened WHEN analysed THEN the light gate names it
    dark = (portrait.astype(np.float32) * 0.25).astype(np.uint8)
    bright = np.clip(portrait.astype(np.float32) * 0.4 + 175, 0, 255).astype(np.uint8)
    assert engine.analyse(dark).guidance == "too_dark"
    assert engine.analyse(bright).guidance == "too_bright"


def test_a_blurred_face_is_asked_to_hold_still(engine: FaceEngine, portrait: np.ndarray) -> None:
    # GIVEN the portrait blurred (moving or out of focus) WHEN analysed THEN "hold_still"
    blurred = cv2.GaussianBlur(portrait, (0, 0), 3)
    assert engine.analyse(blurred).guidance == "hold_still"


def test_a_frame_without_a_face_says_no_face(engine: FaceEngine) -> None:
    # GIVEN a plain grey frame WHEN analysed THEN "no_face" and no box
    observation = engine.analyse(np.full((480, 640, 3), 128, np.uint8))
    assert observation.guidance == "no_face" and observation.face_box is None


def test_a_turned_head_is_asked_to_look_at_the_screen() -> None:
    # GIVEN measures of a face turned sideways WHEN the gates judge them THEN "look_at_screen"
    turned = QualityReport("ok", 80.0, 0.5, 0.6, 0.0, 120.0, 300.0)
    assert guidance(turned, QualityGates()) == "look_at_screen"
