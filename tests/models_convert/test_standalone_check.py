"""The standalone embedding check on all shared photos (slow: dlib runs on every photo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.bench_face import standalone_check


@pytest.mark.slow
def test_standalone_check_on_shared_photos_separates_identities(
    shared_data: Path, model_dir: Path
) -> None:
    # GIVEN the labelled press and Yale photos  WHEN the standalone check runs
    result = standalone_check(shared_data / "faces", model_dir)
    # THEN the converted model equals dlib, identities separate (Yale EER about 1-2 %),
    # and the int8 option stays close to float32
    assert result["litert_vs_dlib_cosine_min"] >= 0.9999
    assert result["pairs_genuine"] > 500 and result["pairs_impostor"] > 10_000
    assert result["eer"] <= 0.03
    assert result["fnmr_at_0.6"] <= 0.02
    assert result["int8_cosine_min_vs_float32"] >= 0.999
    assert result["int8_eer"] <= result["eer"] + 0.01
