"""Keeps watch over a camera: reports when it disappears (state + reason) and reconnects with
exponential backoff when it comes back, so the kiosk can offer other payment paths meanwhile."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from base.backoff import Backoff
from drivers.camera.base import Camera, CameraUnavailable, Frame, FrameTimeout

log = logging.getLogger(__name__)

CameraState = Literal["stopped", "running", "unavailable"]


@dataclass(frozen=True)
class CameraStatus:
    """What the supervisor knows: state, the last failure's reason, the next retry time."""

    state: CameraState
    reason: str = ""
    retry_at: float | None = None  # time.monotonic() of the next reconnect attempt
    backoff_s: float = 0.0  # the wait before that attempt


class CameraSupervisor:
    """Wraps any Camera. `read` never lets a dead camera go unnoticed: a failure (or
    `stall_reads` read timeouts in a row) stops the driver and moves to "unavailable"; later
    reads retry `start` with backoff (initial, doubling up to `backoff_max_s`) and return to
    "running" once the camera starts again."""

    def __init__(
        self,
        camera: Camera,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 5.0,
        on_change: Callable[[CameraStatus], None] | None = None,
        stall_reads: int = 5,
    ) -> None:
        self.camera = camera
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_change = on_change
        self.stall_reads = stall_reads
        self._timeouts = 0  # read timeouts in a row while running
        self._status = CameraStatus("stopped")
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, jitter=False)
        self._lock = threading.Lock()

    @property
    def status(self) -> CameraStatus:
        """The current state and reason."""
        return self._status

    @property
    def available(self) -> bool:
        """True while the camera is delivering frames."""
        return self._status.state == "running"

    def start(self) -> None:
        """Start the camera; a failure is recorded (not raised) and retried by `read`."""
        with self._lock:
            self._try_start()

    def read(self, timeout_s: float = 1.0) -> Frame:
        """The next frame; raises CameraUnavailable (with the reason) while the camera is gone,
        after waiting up to `timeout_s` for a reconnect attempt that is due within it."""
        with self._lock:
            if self._status.state != "running":
                self._wait_and_retry(timeout_s)
            try:
                frame = self.camera.read(timeout_s)
            except FrameTimeout as exc:
                self._timeouts += 1
                if self._timeouts >= self.stall_reads:
                    self._lost(f"{exc} ({self._timeouts} times in a row)")
                raise
            except CameraUnavailable as exc:
                self._lost(str(exc))
                raise
            self._timeouts = 0
            return frame

    def stop(self) -> None:
        """Stop the camera and the supervision; safe to call twice."""
        with self._lock:
            self.camera.stop()
            self._set(CameraStatus("stopped"))

    def _wait_and_retry(self, timeout_s: float) -> None:
        retry_at = self._status.retry_at or time.monotonic()
        wait = retry_at - time.monotonic()
        if wait > timeout_s:
            time.sleep(timeout_s)
            raise CameraUnavailable(f"camera unavailable: {self._status.reason}")
        time.sleep(max(wait, 0.0))
        if not self._try_start():
            raise CameraUnavailable(f"camera unavailable: {self._status.reason}")

    def _try_start(self) -> bool:
        try:
            self.camera.start()
        except CameraUnavailable as exc:
            self._lost(str(exc))
            return False
        self._backoff.reset()
        self._set(CameraStatus("running"))
        return True

    def _lost(self, reason: str) -> None:
        """Stop the driver (release the device) and schedule the next attempt."""
        with contextlib.suppress(CameraUnavailable):  # already gone: nothing left to release
            self.camera.stop()
        self._timeouts = 0
        backoff_s = self._backoff.next_delay_s()
        self._set(CameraStatus("unavailable", reason, time.monotonic() + backoff_s, backoff_s))

    def _set(self, status: CameraStatus) -> None:
        changed = status.state != self._status.state or status.reason != self._status.reason
        self._status = status
        if changed:
            log.info("camera %s", status.state, extra={"reason": status.reason})
            if self.on_change is not None:
                self.on_change(status)
