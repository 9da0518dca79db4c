"""`smilepay demo --json` as a user runs it: its ready line names the POS URL and key file, and
a second terminal plays the cash register with `smilepay pos` while the simulated customer
smiles."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.timing import slow


@pytest.mark.timeout(slow(240))
def test_the_demo_serves_a_pos_from_its_ready_line(tmp_path: Path) -> None:
    # GIVEN the interactive demo, started with --json
    demo = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "demo", "--json", "--port", "0",
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        ready = json.loads(demo.stdout.readline())
        # THEN its ready line names the terminal API and the demo POS's key file
        assert ready["ready"] is True and ready["pos_url"].startswith("http://")
        assert Path(ready["pos_key_file"]).is_file()
        # WHEN a second terminal pays as the cash register, the customer smiling
        paid = subprocess.run(
            [sys.executable, "-m", "device.cli", "pos", "pay", "--pos-url", ready["pos_url"],
             "--key-file", ready["pos_key_file"], "--amount-minor", "450", "--currency", "EUR",
             "--reference", "demo-1", "--method", "face", "--json"],
            capture_output=True, text=True, timeout=slow(120),
        )  # fmt: skip
        # THEN the payment is approved, with its sale id and receipt
        assert paid.returncode == 0, paid.stderr
        outcome = json.loads(paid.stdout.strip().splitlines()[-1])
        assert outcome["status"] == "approved" and outcome["method"] == "face"
        assert outcome["receipt"]["total_minor"] == 450 and outcome["sale_id"]
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=slow(60))
