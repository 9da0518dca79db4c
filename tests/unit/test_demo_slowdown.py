"""The demo's slowdown factor (SMILEPAY_SLOWDOWN): under emulation the demo stretches its waits
and its kiosk's work timeouts; a bad value is refused; a real kiosk's defaults do not move."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.checkout import Timeouts
from device.demo import DemoFailed, demo_config, demo_slowdown, stretched_timeouts
from models.config import FaceConfig


@pytest.mark.parametrize(("raw", "expected"), [(None, 1.0), ("", 1.0), ("1", 1.0), ("20", 20.0)])
def test_slowdown_comes_from_the_environment(monkeypatch, raw, expected) -> None:
    # GIVEN SMILEPAY_SLOWDOWN unset, empty or set
    if raw is None:
        monkeypatch.delenv("SMILEPAY_SLOWDOWN", raising=False)
    else:
        monkeypatch.setenv("SMILEPAY_SLOWDOWN", raw)
    # THEN the demo's factor is its value, 1 by default
    assert demo_slowdown() == expected


@pytest.mark.parametrize("raw", ["abc", "0.5", "0", "-3", "nan", "inf", "5000"])
def test_a_bad_slowdown_is_refused_by_name(monkeypatch, raw) -> None:
    monkeypatch.setenv("SMILEPAY_SLOWDOWN", raw)
    with pytest.raises(DemoFailed, match="SMILEPAY_SLOWDOWN must be a number from 1 to 1000"):
        demo_slowdown()


def test_only_the_timeouts_bounding_the_kiosks_work_stretch() -> None:
    base, stretched = Timeouts(), stretched_timeouts(20.0)
    # The face capture, QR wait, step-up, walk-away and authorisation allow 20x as long ...
    assert stretched.face == base.face * 20
    assert stretched.walk_away == base.walk_away * 20
    assert stretched.qr_wait == base.qr_wait * 20
    assert stretched.step_up == base.step_up * 20
    assert stretched.authorizing == base.authorizing * 20
    # ... while the customer's own choices and how long a screen shows stay as they are
    assert stretched.basket == base.basket
    assert stretched.choose_payment == base.choose_payment
    assert stretched.merchant_qr == base.merchant_qr
    assert stretched.result == base.result
    assert stretched.error == base.error
    assert stretched_timeouts(1.0) == base


def test_the_demo_config_stretches_face_capture_and_online_authorisation(tmp_path: Path) -> None:
    plain = demo_config(tmp_path, "http://127.0.0.1:9", 0)
    slow = demo_config(tmp_path, "http://127.0.0.1:9", 0, slowdown=20.0)
    assert plain.face.capture_timeout_s == FaceConfig().capture_timeout_s
    assert slow.face.capture_timeout_s == FaceConfig().capture_timeout_s * 20
    assert slow.sync.online_auth_timeout_s == plain.sync.online_auth_timeout_s * 20
    # AND nothing else about the face settings changes
    assert slow.face.model_dump(exclude={"capture_timeout_s"}) == plain.face.model_dump(
        exclude={"capture_timeout_s"}
    )
