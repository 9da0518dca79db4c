"""`smilepay queue stress | ls | status | verify` and `smilepay bench queue`, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from device.cli import main
from tests.timing import slow

ROOT = Path(__file__).resolve().parents[2]


def smilepay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device.cli", *args],
        capture_output=True,
        text=True,
        timeout=slow(120),
        cwd=ROOT,
    )


def test_stress_then_ls_status_and_verify(tmp_path: Path) -> None:
    # GIVEN a fresh data directory
    data = tmp_path / "kiosk"
    # WHEN stress queues 7 sales, printing acks
    stress = smilepay("queue", "stress", "--data-dir", str(data), "--count", "7", "--print-acks")
    assert stress.returncode == 0, stress.stderr
    acked = stress.stdout.split()
    # THEN ls lists them with id and sync state, status counts them, verify finds nothing wrong
    listed = [
        json.loads(line)
        for line in smilepay("queue", "ls", "--data-dir", str(data), "--json").stdout.splitlines()
    ]
    assert [entry["sale_id"] for entry in listed] == acked
    assert {entry["state"] for entry in listed} == {"pending"}
    status = json.loads(smilepay("queue", "status", "--data-dir", str(data), "--json").stdout)
    assert status["backlog_count"] == 7 and status["last_seq"] == 7
    assert smilepay("queue", "verify", "--data-dir", str(data)).returncode == 0
    assert (data / "keys" / "device_ed25519.key").stat().st_mode & 0o777 == 0o600


def test_stress_uses_the_device_id_from_device_json(tmp_path: Path) -> None:
    data = tmp_path / "kiosk"
    data.mkdir()
    (data / "device.json").write_text(json.dumps({"device_id": "kiosk-42", "ledger_url": "x"}))
    assert main(["queue", "stress", "--data-dir", str(data), "--count", "1"]) == 0
    listed = smilepay("queue", "ls", "--data-dir", str(data), "--json").stdout
    assert json.loads(listed)["sale_id"]
    from sync.queue.sale_queue import recorded_device_id

    assert recorded_device_id(data) == "kiosk-42"


def test_ls_without_a_device_key_is_a_one_line_error(tmp_path: Path) -> None:
    result = smilepay("queue", "ls", "--data-dir", str(tmp_path / "none"), "--json")
    assert result.returncode == 2
    assert result.stderr.startswith("smilepay: error:") and "no device key" in result.stderr


def test_bench_prints_its_json_summary_last(tmp_path: Path) -> None:
    result = smilepay(
        "bench", "queue", "--json", "--count", "40", "--rounds", "2", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["sales"] == 40
    assert {"sales_per_s", "p50_ms", "p99_ms", "raw_rows_per_s", "ratio"} <= set(summary)
    assert summary["sales_per_s"] > 0 and summary["raw_rows_per_s"] > 0
