"""Face-payment consent records: durable, versioned, private to the kiosk."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from base.errors import SmilepayError
from device.consent import CONSENT_VERSION, ConsentLog


def test_agreeing_appends_a_versioned_record_in_a_private_file(tmp_path: Path) -> None:
    # GIVEN a consent log WHEN two customers agree
    log = ConsentLog(tmp_path / "data" / "consent.jsonl")
    log.record(CONSENT_VERSION, "kiosk-1", "sale-1")
    log.record(CONSENT_VERSION, "kiosk-1", "sale-2")
    # THEN both are on disk, in order, with the text version, kiosk, sale and time
    records = ConsentLog(log.path).records()
    assert [r["sale_id"] for r in records] == ["sale-1", "sale-2"]
    assert {r["version"] for r in records} == {CONSENT_VERSION}
    assert all(r["purpose"] == "face_payment" and r["agreed_at"] for r in records)
    # AND the file is readable by the kiosk's user only
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_a_consent_to_an_old_text_is_refused(tmp_path: Path) -> None:
    log = ConsentLog(tmp_path / "consent.jsonl")
    with pytest.raises(SmilepayError, match="not the current one"):
        log.record("face-pay-v0", "kiosk-1", None)
    assert log.records() == []
