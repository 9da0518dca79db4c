"""Enrolment on the kiosk's screen: the `/enrol` page and its `/api/enrol/...` routes, driving
the pure state machine in device/enrolment.py with real frames and the real face models.

The service checks frames with the face engine's quality gates: on a running kiosk
(`kiosk_enrolment`) each check runs on the kiosk's camera thread with its next frame (the
thread that owns the face models); elsewhere (tests) on a frame from any camera callable. At
confirmation it writes the consent, the template and the enrolment outbox row (sync.queue) in
one gallery transaction, so the sync agent uploads it to the ledger exactly once, and asks the
agent to sync now.

Who may use it is the screen's decision (device/screen/server.py): the operator (logged in on
the operator page), or the customer on the kiosk's own screen when `screen.self_enrolment` is on.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from device import enrolment as flow

log = logging.getLogger("smilepay.kiosk.enrol")

STATIC = Path(__file__).parent / "static"
Frame = Any  # a BGR numpy image
# Runs a check on the next camera frame (None: no frame came in time).
Examine = Callable[[Callable[[Frame], Any]], Any]
# Why an enrolment cannot start now (None: it can), e.g. a customer is paying.
Blocker = Callable[[], str | None]
# Whether a request may use the enrolment (None: yes), else why not and the HTTP status.
Gate = Callable[[Request], Awaitable[tuple[int, str] | None]]
CAMERA_WAIT_S = 1.0


class EnrolmentService:
    """One enrolment at a time on this kiosk."""

    def __init__(
        self,
        engine: Any,
        gallery: Any,
        camera: Callable[[], Frame | None] | None,
        kiosk_id: str,
        same_person_below: float = 0.6,
        *,
        examine: Examine | None = None,
        blocked: Blocker | None = None,
        on_enrolled: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.gallery = gallery
        self.camera = camera
        self.kiosk_id = kiosk_id
        self.same_person_below = same_person_below
        self.examine = examine or self._examine_camera
        self.blocked = blocked or (lambda: None)
        self.on_enrolled = on_enrolled or (lambda: None)
        self.state = flow.EnrolmentState(step="cancelled")
        self._lock = threading.Lock()

    def start(self) -> dict[str, Any]:
        """Begin a new enrolment at the consent step (dropping any unfinished one); refused
        while the kiosk is busy (a customer paying)."""
        with self._lock:
            reason = self.blocked()
            if reason is not None:
                raise flow.EnrolmentRefused(reason)
            self.state = flow.EnrolmentState()
            return flow.view(self.state)

    def consent(self, version: str) -> dict[str, Any]:
        """Record the accepted consent in the gallery now, before any capture."""
        from models.gallery import now_iso

        with self._lock:
            at = now_iso()
            state = flow.accept_consent(self.state, uuid.uuid4().hex, version, at)
            assert state.customer_id is not None
            self.gallery.record_consent(state.customer_id, self._consent(state))
            self.state = state
            return flow.view(self.state)

    def capture(self) -> dict[str, Any]:
        """Check the camera's current frame against the quality gates; keep it if it passes."""
        from models.enroll import capture_embedding
        from models.errors import BadImage

        with self._lock:
            if self.state.step != "capture":  # no camera work outside the capture step
                raise flow.EnrolmentRefused(f"enrolment is at {self.state.step!r}, not 'capture'")
            descriptor, guidance = None, "no_face"
            try:
                vector = self.examine(lambda frame: capture_embedding(self.engine, frame))
                if vector is not None:
                    descriptor, guidance = tuple(float(v) for v in vector), "ok"
            except BadImage as exc:
                guidance = str(exc)
            self.state = flow.add_capture(self.state, descriptor, guidance, self.same_person_below)
            return flow.view(self.state)

    def step_up(self, digits: str | None) -> dict[str, Any]:
        """The optional step-up secret from the keypad."""
        with self._lock:
            self.state = flow.set_step_up(self.state, digits)
            return flow.view(self.state)

    def confirm(self, name: str) -> dict[str, Any]:
        """Store the template with its outbox row (one transaction); the enrolment is done."""
        import numpy as np

        from models.gallery import step_up_secret
        from sync.queue.enrolment_outbox import record_enrolment

        with self._lock:
            before = self.state
            done = flow.confirm(before, name)
            assert done.customer_id is not None and done.name is not None
            consent = self._consent(before)
            fields = {
                "text_version": consent.text_version,
                "accepted_at": consent.accepted_at,
                "kiosk_id": consent.kiosk_id,
            }
            secret = step_up_secret(before.step_up) if before.step_up else None
            self.gallery.enroll(
                done.name,
                [np.asarray(c, dtype=np.float32) for c in before.captures],
                consent,
                customer_id=done.customer_id,
                within=lambda conn, cid: record_enrolment(
                    conn, cid, done.name or "", fields, secret
                ),
                consent_recorded=True,
            )
            self.state = done
        log.info("enrolled on the screen", extra={"customer_id": done.customer_id})
        try:
            self.on_enrolled()
        except Exception:  # the enrolment is stored; the agent uploads it at its next cycle
            log.exception("could not ask the sync agent to run now")
        return flow.view(done)

    def cancel(self) -> dict[str, Any]:
        with self._lock:
            self.state = flow.cancel(self.state)
            return flow.view(self.state)

    def view(self) -> dict[str, Any]:
        with self._lock:
            return flow.view(self.state)

    def _examine_camera(self, check: Callable[[Frame], Any]) -> Any:
        frame = self.camera() if self.camera is not None else None
        return None if frame is None else check(frame)

    def _consent(self, state: flow.EnrolmentState) -> Any:
        from models.gallery import Consent

        assert state.consent_version is not None and state.consent_at is not None
        return Consent(
            "customer at the screen", state.consent_at, self.kiosk_id, state.consent_version
        )


def checkout_blocker(kiosk: Any) -> Blocker:
    """Why a screen flow may not start now on a running kiosk: a customer at the checkout."""
    from device.checkout import Phase

    def blocked() -> str | None:
        phase = kiosk.state.phase
        return None if phase == Phase.IDLE else f"a customer is at the checkout ({phase.value})"

    return blocked


def json_action(
    call: Callable[[dict[str, Any]], dict[str, Any]], gate: Gate | None
) -> Callable[[Request], Awaitable[Response]]:
    """A POST route for a screen flow: the gate's 401/403 first, then the JSON object body to
    `call` (off the event loop); a refusal (a ValueError, as the flows' refusals are) is 400."""

    async def run(request: Request) -> Response:
        refusal = await gate(request) if gate is not None else None
        if refusal is not None:
            status, reason = refusal
            return JSONResponse({"error": reason}, status_code=status)
        try:
            body = await request.json() if await request.body() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            answer = await run_in_threadpool(call, body)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    return run


def kiosk_enrolment(kiosk: Any) -> EnrolmentService | None:
    """The enrolment service of a running kiosk (device.app.Kiosk): captures come from its
    camera loop and its face engine, the template goes to its gallery, and the sync agent is
    asked to upload at once. None when the kiosk has no camera or no face engine."""
    engine, camera_loop = kiosk.services.engine, kiosk.camera_loop
    if engine is None or camera_loop is None:
        return None

    return EnrolmentService(
        engine,
        kiosk.services.gallery,
        None,
        kiosk.services.device_id,
        kiosk.config.face.match_threshold,
        examine=lambda check: camera_loop.examine(check, CAMERA_WAIT_S),
        blocked=checkout_blocker(kiosk),
        on_enrolled=kiosk.services.request_sync,
    )


def enrol_routes(service: EnrolmentService, gate: Gate | None = None) -> list[Route]:
    """The page and its actions; each answers the enrolment's view (400 with a reason when the
    action does not fit the step). `gate` says who may act (403/401 with its reason if not)."""

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "enrol.html", headers={"Cache-Control": "no-store"})

    def action(call: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
        return json_action(call, gate)

    def text(body: dict[str, Any], key: str) -> str:
        value = body.get(key)
        if not isinstance(value, str):
            raise flow.EnrolmentRefused(f"{key} must be text")
        return value

    def digits(body: dict[str, Any]) -> str | None:
        value = body.get("digits")
        return value if isinstance(value, str) and value else None

    return [
        Route("/enrol", page),
        Route("/api/enrol/state", action(lambda body: service.view()), methods=["GET"]),
        Route("/api/enrol/start", action(lambda body: service.start()), methods=["POST"]),
        Route(
            "/api/enrol/consent",
            action(lambda body: service.consent(text(body, "version"))),
            methods=["POST"],
        ),
        Route("/api/enrol/capture", action(lambda body: service.capture()), methods=["POST"]),
        Route(
            "/api/enrol/step-up",
            action(lambda body: service.step_up(digits(body))),
            methods=["POST"],
        ),
        Route(
            "/api/enrol/confirm",
            action(lambda body: service.confirm(text(body, "name"))),
            methods=["POST"],
        ),
        Route("/api/enrol/cancel", action(lambda body: service.cancel()), methods=["POST"]),
    ]
