"""The one start/stop skeleton for the kiosk's background loops (camera, scanner, checkout,
watchdog, QR scan): a named daemon thread and the event that tells it to stop."""

from __future__ import annotations

import threading
from collections.abc import Callable


class LoopThread:
    """Runs `body` on a named daemon thread until `stop()`.

    `body` loops while `stopping` is not set and waits on `stopping` rather than sleeping, so
    `stop()` ends it within one round. It may be started again after it stopped."""

    def __init__(self, name: str, body: Callable[[], None], join_timeout_s: float = 5.0) -> None:
        self.name = name
        self.stopping = threading.Event()
        self.join_timeout_s = join_timeout_s
        self._body = body
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; a no-op while it is already running."""
        if self.alive:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._body, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask the loop to stop and wait for it (at most the join timeout)."""
        self.stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.join_timeout_s if timeout_s is None else timeout_s)
