"""The sync agent as systemd runs it: a real `smilepay sync run` process with a real
$NOTIFY_SOCKET reports READY=1, pings the watchdog while its loop beats, and STOPPING=1 on exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from base import keys
from sync.agent.device_identity import DeviceRecord, write_record
from tests.service.test_sdnotify import FakeManager
from tests.timing import slow

UNREACHABLE_LEDGER = "http://127.0.0.1:9"


def offline_device(data_dir: Path) -> None:
    """A device identity made without a ledger (what `device init` leaves behind)."""
    data_dir.mkdir(parents=True)
    keys.create_key_file(data_dir / "keys" / "device_ed25519.key")
    write_record(data_dir, DeviceRecord("dev-notify", UNREACHABLE_LEDGER, "m-1", "s-1"))


def test_sync_agent_tells_systemd_it_is_ready_pings_and_stops(tmp_path: Path) -> None:
    # GIVEN a registered device whose ledger is unreachable, and systemd's notify socket
    data_dir = tmp_path / "data"
    offline_device(data_dir)
    manager = FakeManager(str(tmp_path / "notify.sock"))
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    # WHEN the agent runs as a service
    agent = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "sync", "run", "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # THEN it says READY=1, then keeps pinging the watchdog while it retries with backoff
        # Start-up (imports, opening the queue) took 5 s once under load 13: allow it time.
        seen = manager.receive_until("READY=1", timeout_s=30)
        seen += manager.receive_until("WATCHDOG=1")
        seen += manager.receive_until("WATCHDOG=1")
        # AND on SIGTERM it says STOPPING=1 and exits cleanly
        agent.send_signal(signal.SIGTERM)
        seen += manager.receive_until("STOPPING=1")
        assert agent.wait(timeout=slow(20)) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
        manager.sock.close()
    assert seen[0].startswith("READY=1")


def test_sync_agent_outside_systemd_runs_without_a_notify_socket(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    offline_device(data_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    done = subprocess.run(
        [sys.executable, "-m", "device.cli", "sync", "run", "--data-dir", str(data_dir), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=slow(60),
    )
    # --once with an unreachable ledger fails (exit 1) after one attempt, saying why
    assert done.returncode == 1, done.stderr[-2000:]
    assert "127.0.0.1:9" in done.stdout + done.stderr
