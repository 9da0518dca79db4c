"""The camera thread: keeps the latest frame for the live view, runs the face session or the QR
scanner on each frame depending on what the checkout is waiting for, and reports a lost camera."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from base.threads import LoopThread
from device.checkout import CameraLost, CameraRestored, Event, FaceDecided, FaceGuidance, Match
from device.codes_input import code_event
from drivers.camera.base import CameraUnavailable, Frame
from drivers.camera.supervisor import CameraStatus, CameraSupervisor

log = logging.getLogger("smilepay.kiosk.camera")
SessionFactory = Callable[[int, float], Any]  # (amount_minor, started_at) -> SmileToPaySession
T = TypeVar("T")


class _FrameJob:
    """A check to run on the camera thread with the next frame (see CameraLoop.examine)."""

    def __init__(self, check: Callable[[np.ndarray], Any]) -> None:
        self.check = check
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self, image: np.ndarray) -> None:
        try:
            self.result = self.check(image)
        except Exception as exc:  # handed to the caller, who knows what it means
            self.error = exc
        self.done.set()


class CameraLoop:
    """Reads frames on its own thread and posts checkout events; never blocks the checkout."""

    def __init__(
        self,
        camera: CameraSupervisor,
        post: Callable[[Event], None],
        new_session: SessionFactory,
        issuer_key: Any = None,
    ) -> None:
        self.camera = camera
        self.post = post
        self.new_session = new_session
        self.issuer_key = issuer_key
        self.latest: Frame | None = None
        self.face_box: tuple[float, float, float, float] | None = None
        self.heartbeat = time.monotonic()
        self._session: Any = None
        self._scanning = False
        self._last_guidance: str | None = None
        self._last_code: bytes | None = None
        self._jobs: list[_FrameJob] = []
        self._jobs_lock = threading.Lock()
        self._loop = LoopThread("camera", self._run)
        camera.on_change = self._camera_changed

    def start(self) -> None:
        """Start the camera and the thread."""
        self.camera.start()
        self._loop.start()

    def stop(self) -> None:
        """Stop the thread and the camera."""
        self._loop.stop()
        self.camera.stop()

    def start_face_session(self, amount_minor: int) -> None:
        """Begin a smile-to-pay session for this amount (the amount is on screen now)."""
        self._session = self.new_session(amount_minor, time.monotonic())
        self._last_guidance = None

    def stop_face_session(self) -> None:
        """End the face session, if any."""
        self._session = None
        self.face_box = None

    def scan_codes(self, on: bool) -> None:
        """Start or stop looking for customer-presented QR codes in the frames."""
        self._scanning = on
        self._last_code = None

    def examine(self, check: Callable[[np.ndarray], T], timeout_s: float) -> T | None:
        """Run `check` on the camera thread with the next frame's image and return its result
        (its exception is raised here); None if no frame came within `timeout_s`. The face
        models belong to the camera thread: enrolment captures run there, never beside a face
        session on another thread."""
        job = _FrameJob(check)
        with self._jobs_lock:
            self._jobs.append(job)
        if not job.done.wait(timeout_s):
            with self._jobs_lock:
                if job in self._jobs:
                    self._jobs.remove(job)
                    return None
            job.done.wait()  # taken by the camera thread just now: its answer is due
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _camera_changed(self, status: CameraStatus) -> None:
        at = time.monotonic()
        if status.state == "unavailable":
            self.post(CameraLost(at, status.reason or "camera unavailable"))
        elif status.state == "running":
            self.post(CameraRestored(at))

    def _run(self) -> None:
        while not self._loop.stopping.is_set():
            self.heartbeat = time.monotonic()
            try:
                frame = self.camera.read(timeout_s=1.0)
            except CameraUnavailable:
                continue  # the supervisor reported it and retries with backoff
            self.latest = frame
            self._run_jobs(frame)
            try:
                self._process(frame)
            except Exception:  # a bad frame must not kill the camera thread
                log.exception("frame processing failed", extra={"frame": frame.index})

    def _run_jobs(self, frame: Frame) -> None:
        with self._jobs_lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.run(frame.image)

    def _process(self, frame: Frame) -> None:
        session = self._session
        if session is not None:
            self._observe_face(session, frame)
        elif self._scanning:
            self._scan(frame)

    def _observe_face(self, session: Any, frame: Frame) -> None:
        progress = session.observe(frame.image, frame.timestamp)
        self.face_box = progress.face_box
        if progress.guidance != self._last_guidance:
            self._last_guidance = progress.guidance
            present = progress.face_box is not None
            self.post(FaceGuidance(frame.timestamp, progress.guidance, present))
        elif progress.face_box is not None:
            # Keeps the walk-away timer fed while the face stays in view.
            self.post(FaceGuidance(frame.timestamp, progress.guidance, True))
        decision = progress.decision
        if decision is not None and session is self._session:
            self._session = None
            self.post(_decided(frame.timestamp, decision))

    def _scan(self, frame: Frame) -> None:
        from device.codes.qr import decode_frame

        grey = frame.lores if frame.lores is not None else frame.image
        for code in decode_frame(np.ascontiguousarray(grey)):
            if code.data == self._last_code:
                continue  # the same code held up for several frames counts once
            self._last_code = code.data
            self.post(code_event(code.data, self.issuer_key, frame.timestamp))


def _decided(at: float, decision: Any) -> FaceDecided:
    match = None
    if decision.customer_id is not None:
        match = Match(
            customer_id=decision.customer_id,
            name=decision.name or "",
            score=float(decision.score if decision.score is not None else 0.0),
            margin=float(decision.margin if decision.margin is not None else 0.0),
        )
    reason = ", ".join(decision.live_reasons) if decision.kind == "not_live" else None
    return FaceDecided(at, decision.kind, match, reason or None)
