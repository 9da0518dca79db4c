"""Continuous QR scanning of a camera's low-resolution stream while the kiosk waits for a QR
payment. Runs in its own thread; stop() ends it promptly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from base.threads import LoopThread
from device.codes.qr import DEFAULT_BUDGET_S, DecodedCode, decode_frame
from drivers.camera.base import Camera, CameraUnavailable

log = logging.getLogger(__name__)


class QRScanLoop:
    """Reads frames from `camera` (already started, or a CameraSupervisor), decodes each one's
    grey image with the chain, and calls `on_code` once per new payload. The same payload seen
    again within `repeat_after_s` is not reported twice (a phone held in front of the camera)."""

    def __init__(
        self,
        camera: Camera,
        on_code: Callable[[DecodedCode], None],
        budget_s: float = DEFAULT_BUDGET_S,
        repeat_after_s: float = 3.0,
        on_camera_error: Callable[[str], None] | None = None,
    ) -> None:
        self.camera = camera
        self.on_code = on_code
        self.budget_s = budget_s
        self.repeat_after_s = repeat_after_s
        self.on_camera_error = on_camera_error
        self.frames_scanned = 0
        self._loop = LoopThread("qr-scan", self.run)
        self._last_seen: dict[bytes, float] = {}

    def start(self) -> None:
        """Start scanning in a daemon thread."""
        self._loop.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the loop to end and wait for it (at most one camera read plus one decode)."""
        self._loop.stop(timeout_s)

    def run(self) -> None:
        """The loop body; runs in the caller's thread if called directly."""
        while not self._loop.stopping.is_set():
            self.scan_once(timeout_s=0.25)

    def scan_once(self, timeout_s: float = 0.25) -> list[DecodedCode]:
        """Read and decode one frame; returns the codes reported from it (new payloads only)."""
        try:
            frame = self.camera.read(timeout_s)
        except CameraUnavailable as exc:
            if self.on_camera_error is not None:
                self.on_camera_error(str(exc))
            return []
        self.frames_scanned += 1
        fresh = [c for c in decode_frame(frame.grey(), self.budget_s) if self._is_new(c.data)]
        for code in fresh:
            log.info("qr code read", extra={"decoder": code.decoder, "bytes": len(code.data)})
            self.on_code(code)
        return fresh

    def _is_new(self, data: bytes) -> bool:
        now = time.monotonic()
        last = self._last_seen.get(data)
        keep = self.repeat_after_s
        self._last_seen = {k: t for k, t in self._last_seen.items() if now - t < keep}
        self._last_seen[data] = now
        return last is None or now - last >= self.repeat_after_s
