"""Enrollment: quality gates per capture, another person's capture dropped, consent recorded."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.engine import FaceEngine
from models.enroll import EnrollmentRejected, consent_now, enroll_images
from models.gallery import Gallery


def test_a_capture_of_someone_else_is_dropped_and_the_rest_averaged(
    engine: FaceEngine, gallery: Gallery, shared_data: Path
) -> None:
    # GIVEN three captures of Obama and one of Biden offered for one enrollment
    press = shared_data / "faces/press"
    obama = [
        press / n
        for n in ("examples_obama.jpg", "examples_obama2.jpg", "tests_test_images_obama3.jpg")
    ]
    biden = press / "examples_biden.jpg"
    # WHEN enrolled
    result = enroll_images(engine, gallery, "Obama", [*obama, biden], consent_now("Obama", "k1"))
    # THEN Biden's capture is rejected as a different person and Obama is enrolled with consent
    assert result.rejected == [(str(biden), "different_person")]
    assert sorted(result.accepted) == sorted(str(p) for p in obama)
    assert gallery.consents(result.customer_id)[0].kiosk_id == "k1"
    match = gallery.search(gallery.template(result.customer_id))
    assert match is not None and match.best_name == "Obama"


def test_no_usable_capture_rejects_the_enrollment_and_keeps_nothing(
    engine: FaceEngine, gallery: Gallery, tmp_path: Path
) -> None:
    # GIVEN only a faceless frame WHEN enrolled THEN it is refused with the reason, nothing kept
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 120, np.uint8))
    with pytest.raises(EnrollmentRejected, match="no_face"):
        enroll_images(engine, gallery, "X", [blank], consent_now("X"))
    assert gallery.customers() == []
