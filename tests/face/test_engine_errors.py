"""Bad images get clear errors naming what was wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from base.errors import SmilepayError
from models.engine import FaceEngine, check_image, read_image
from models.errors import BadImage


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (None, "no image"),
        ("not an image", "numpy array"),
        (np.zeros((0, 0, 3), np.uint8), "too small"),
        (np.zeros((1, 1, 3), np.uint8), "too small"),
        (np.zeros((480, 640, 3), np.float32), "uint8"),
        (np.zeros((480, 640, 2), np.uint8), "shape"),
        (np.zeros((4, 480, 640, 3), np.uint8), "shape"),
        (np.zeros((9000, 40, 3), np.uint8), "too large"),
    ],
)
def test_bad_arrays_are_refused_with_a_reason(image: object, message: str) -> None:
    # GIVEN a bad frame WHEN checked THEN BadImage (a SmilepayError) says what is wrong
    with pytest.raises(BadImage, match=message) as error:
        check_image(image)
    assert isinstance(error.value, SmilepayError)


def test_grey_and_bgra_frames_are_accepted_as_bgr() -> None:
    # GIVEN grey and 4-channel frames WHEN checked THEN they become (h, w, 3)
    assert check_image(np.zeros((48, 64), np.uint8)).shape == (48, 64, 3)
    assert check_image(np.zeros((48, 64, 4), np.uint8)).shape == (48, 64, 3)


def test_corrupt_empty_and_missing_files_name_the_file(tmp_path: Path) -> None:
    # GIVEN a corrupt file, an empty file and a missing one WHEN read THEN each names the file
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path in (corrupt, empty):
        with pytest.raises(BadImage, match=f"{path.name}.*corrupt"):
            read_image(path)
    with pytest.raises(BadImage, match=r"missing\.png: cannot read"):
        read_image(tmp_path / "missing.png")


def test_the_engine_refuses_bad_frames_and_has_nothing_to_embed(engine: FaceEngine) -> None:
    # GIVEN the loaded engine WHEN fed a 1×1 frame THEN BadImage; a faceless frame cannot embed
    with pytest.raises(BadImage):
        engine.analyse(np.zeros((1, 1, 3), np.uint8))
    blank = np.full((240, 320, 3), 90, np.uint8)
    with pytest.raises(BadImage, match="no face"):
        engine.embed(blank, engine.analyse(blank))
