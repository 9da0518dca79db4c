"""The scripted demo, end to end, as a user runs it: one command, real ledger, real queue,
real models, simulated camera/scanner/printer/light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.timing import slow


@pytest.mark.timeout(slow(300))
def test_scripted_demo_runs_every_step_for_real(tmp_path) -> None:
    # GIVEN a fresh data directory
    # WHEN the scripted demo runs
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "device.cli",
            "demo",
            "--scripted",
            "--json",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=slow(280),
    )
    # THEN it exits 0 and its last line says every step happened
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] is True
    assert result["approved"] == 4 and result["approved_online"] == 2
    assert result["queued_offline"] == 2
    assert result["synced"] >= 2
    # AND every sale the kiosk approved is in the ledger, exactly once
    assert result["ledger_sales"] == 4
    assert [s["seq"] for s in result["steps"]] == [1, 2, 3, 4]
    methods = [s["step"] for s in result["steps"]]
    assert methods == [
        "face sale",
        "customer_qr sale",
        "face sale (offline)",
        "customer_qr sale (offline)",
    ]
    # AND the device's records are on disk, in the real SQLite queue
    assert (tmp_path / "device" / "device.db").exists()
    assert (tmp_path / "ledger" / "ledger.db").exists()
