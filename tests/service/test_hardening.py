"""Hardening settings tried for real where this machine allows: the kiosk unit sets
MemoryDenyWriteExecute=yes, so the kiosk (models, codecs, queue, screen) must run with
writable-and-executable memory refused."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from device.screen.bench import launch_once, prepare_kiosk_home
from tests.timing import slow

MDWE_EXEC = [sys.executable, str(Path(__file__).with_name("mdwe_exec.py"))]
W_X_PROBE = (
    "import mmap\n"
    "try:\n"
    "    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
    "    print('allowed')\n"
    "except PermissionError:\n"
    "    print('refused')\n"
)


@pytest.fixture(scope="module")
def mdwe() -> list[str]:
    probe = subprocess.run(
        [*MDWE_EXEC, sys.executable, "-c", W_X_PROBE], capture_output=True, text=True
    )
    if probe.returncode == 3:
        pytest.skip(f"this kernel has no PR_SET_MDWE (Linux 6.3+): {probe.stderr.strip()}")
    assert probe.stdout.strip() == "refused", "the wrapper did not enforce W^X"
    return MDWE_EXEC


def test_the_kiosk_starts_serves_and_stops_with_write_xor_execute_memory(
    mdwe: list[str], tmp_path: Path
) -> None:
    with ExitStack() as stack:
        config = prepare_kiosk_home(stack, tmp_path)
        run = launch_once(config, tmp_path, wrapper=mdwe, patience=slow(1))
    assert run.notify_ready_s is not None
    assert run.exit_code == 0 and run.stopping_sent


@pytest.mark.slow
def test_the_whole_demo_journey_runs_with_write_xor_execute_memory(mdwe: list[str]) -> None:
    # Face inference, QR decoding, the queue, the ledger and sync: every native library used.
    result = subprocess.run(
        [*mdwe, sys.executable, "-m", "device.cli", "demo", "--scripted", "--json"],
        capture_output=True,
        text=True,
        timeout=slow(300),
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"], summary
    assert summary["approved"] == 4
