"""`smilepay demo --json` (interactive): once ready it prints one JSON line saying where the
screen (with its secret), the operator page and PIN, the ledger and its files are."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.timing import slow

KEYS = {"screen_url", "operator_url", "operator_pin", "ledger_url", "ledger_db", "admin_token_file"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(slow(240))
def test_the_interactive_demo_prints_one_ready_line_that_opens_the_screen(tmp_path: Path) -> None:
    # GIVEN the interactive demo started with --json
    port = _free_port()
    command = [sys.executable, "-m", "device.cli", "demo", "--json", "--port", str(port)]
    demo = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # WHEN it is ready THEN stdout carries exactly one JSON line with where everything is
        assert demo.stdout is not None
        ready = json.loads(demo.stdout.readline())
        assert set(ready) >= KEYS
        assert ready["screen_url"].startswith(f"http://127.0.0.1:{port}/?key=")
        token_file = Path(ready["admin_token_file"])
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert ready["ledger_db"].endswith("ledger.db")
        with httpx.Client(timeout=slow(10)) as http:
            # AND the screen URL is what the kiosk's browser needs: it unlocks the actions
            assert (
                http.post(
                    f"http://127.0.0.1:{port}/api/items", json={"item_id": "croissant"}
                ).status_code
                == 403
            )
            http.get(ready["screen_url"])
            added = http.post(f"http://127.0.0.1:{port}/api/items", json={"item_id": "croissant"})
            assert added.status_code == 200
            assert http.get(f"{ready['ledger_url']}/v1/time").status_code == 200
            login = http.post(f"{ready['operator_url']}/login", json={"pin": ready["operator_pin"]})
            assert login.status_code == 200
    finally:
        os.kill(demo.pid, signal.SIGTERM)
        demo.wait(slow(30))
