"""The "sync now" request: a file in the data directory that any process (kiosk, CLI) can create.

A file survives the agent being down and needs no port or pid; the agent looks for it while it
waits and removes it when it starts the requested sync.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

TRIGGER_FILE = "sync-now"


def request_sync_now(data_dir: Path) -> Path:
    """Ask the agent serving `data_dir` to sync at once; returns the trigger file's path."""
    path = data_dir / TRIGGER_FILE
    path.touch()
    return path


class SyncTrigger:
    """Waits for the interval to pass, a sync-now request, or a stop request, whichever is first."""

    def __init__(self, data_dir: Path, poll_s: float = 0.2) -> None:
        self.path = data_dir / TRIGGER_FILE
        self.poll_s = poll_s
        self.stopping = threading.Event()
        self._poked = threading.Event()

    def poke(self) -> None:
        """Request a sync from inside this process (e.g. a signal handler)."""
        self._poked.set()

    def stop(self) -> None:
        """Ask the agent to finish its current step and exit."""
        self.stopping.set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s`; True if a sync was requested meanwhile (the request is used)."""
        deadline = time.monotonic() + timeout_s
        while not self.stopping.is_set():
            if self._take_request():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.stopping.wait(min(self.poll_s, remaining))
        return False

    def _take_request(self) -> bool:
        poked = self._poked.is_set()
        self._poked.clear()
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return poked
