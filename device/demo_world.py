"""The demo's world in front of the camera: an empty counter, or a customer who reacts to the
screen (shows a neutral face then smiles when asked, or holds up a payment QR).

It feeds a simulated camera at a steady frame rate, as a real camera streams whatever is in
front of it. It is a simulator of the world, used by the demo only: the kiosk under it is the
production code, unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import cv2
import numpy as np

from base.threads import LoopThread
from device.checkout import Phase

log = logging.getLogger("smilepay.demo.world")
FPS = 15.0
FRAME_SIZE = (640, 480)


def empty_counter(size: tuple[int, int] = FRAME_SIZE, seed: int = 1) -> list[np.ndarray]:
    """A few frames of an empty shop counter (sensor noise, no face, no code)."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = np.full((height, width, 3), (92, 100, 108), np.uint8)
    cv2.rectangle(base, (0, height * 2 // 3), (width, height), (60, 70, 80), -1)
    return [
        np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8) for _ in range(4)
    ]


def phone_showing_qr(payload: str, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A phone screen held up to the camera, showing a QR code of `payload`."""
    from device.codes.render import render_qr_png

    png = np.frombuffer(render_qr_png(payload, box_size=4, border=4), np.uint8)
    code = cv2.imdecode(png, cv2.IMREAD_COLOR)
    if code is None:
        raise ValueError("the rendered QR image could not be decoded")
    width, height = size
    frame = empty_counter(size)[0]
    side = min(int(height * 0.7), max(code.shape[:2]) * 2)
    code = cv2.resize(code, (side, side), interpolation=cv2.INTER_NEAREST)
    top, left = (height - side) // 2, (width - side) // 2
    cv2.rectangle(
        frame, (left - 16, top - 40), (left + side + 16, top + side + 40), (20, 20, 20), -1
    )
    frame[top : top + side, left : left + side] = code
    return frame


class DemoWorld:
    """Feeds `camera` with what a customer in front of the kiosk would show it."""

    def __init__(
        self,
        camera: object,
        phase: Callable[[], Phase],
        face_frames: list[np.ndarray],
        qr_frame: np.ndarray | None = None,
        type_step_up: Callable[[], None] | None = None,
        refresh_qr: Callable[[], None] | None = None,
    ) -> None:
        self.camera = camera
        self.phase = phase
        # The customer types their step-up digits when the keypad asks (once per keypad).
        self.type_step_up = type_step_up
        # The phone refreshes its payment code when the kiosk asks for one (a token pays once).
        self.refresh_qr = refresh_qr
        self.face_frames = face_frames
        self.qr_frame = qr_frame
        self.customer_present = True
        # Whether the screen asks for a face outside a sale (enrolment, deletion): the customer
        # faces the camera then.
        self.wants_face: Callable[[], bool] = lambda: False
        self._idle = empty_counter()
        self._loop = LoopThread("demo-world", self._run)

    def start(self) -> None:
        """Start feeding frames."""
        self._loop.start()

    def stop(self) -> None:
        """Stop feeding frames."""
        self._loop.stop()

    def _run(self) -> None:
        tick = 0
        face_index = 0
        typed = shown = False
        while not self._loop.stopping.is_set():
            phase = self.phase()
            if phase == Phase.STEP_UP and not typed and self.type_step_up is not None:
                self.type_step_up()
            typed = phase == Phase.STEP_UP
            if phase == Phase.QR_WAIT and not shown:
                self._refresh_qr()
            shown = phase == Phase.QR_WAIT
            facing = phase in (Phase.FACE_CAPTURE, Phase.SMILE_PROMPT) or self.wants_face()
            if self.customer_present and facing:
                frame = self.face_frames[face_index % len(self.face_frames)]
                face_index += 1
            else:
                face_index = 0  # the next face session starts neutral again
                frame = self._scene(phase, tick)
            self._feed(frame)
            tick += 1
            self._loop.stopping.wait(1.0 / FPS)

    def _refresh_qr(self) -> None:
        if self.refresh_qr is None:
            return
        try:
            self.refresh_qr()
        except Exception as exc:  # offline: the phone keeps the code it last fetched
            log.info("demo customer keeps its payment code", extra={"reason": str(exc)[:200]})

    def _scene(self, phase: Phase, tick: int) -> np.ndarray:
        if self.customer_present and phase == Phase.QR_WAIT and self.qr_frame is not None:
            return self.qr_frame
        return self._idle[tick % len(self._idle)]

    def _feed(self, frame: np.ndarray) -> None:
        feed = getattr(self.camera, "feed", None)
        if feed is not None:
            feed(frame)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `predicate` until true; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
