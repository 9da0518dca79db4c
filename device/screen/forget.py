"""A customer deletes their face data on the kiosk's screen: the `/forget` page and its
`/api/forget/...` routes, driving the pure state machine in device/forget.py.

Each look at the camera runs on the kiosk's camera thread (as enrolment captures do): a payment
code (customer token) in the frame is identity and proof at once; else a face that passes the
quality gates is searched in this kiosk's gallery, and the step-up digits must prove it. The
deletion itself is device.face_deletion.delete_face_data, as for `smilepay face forget`: the
ledger checks the proof and has every holder delete the template; offline a token is checked
here and the request queued; this kiosk's copy goes at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from device import forget as flow
from device.screen.enrol import (
    CAMERA_WAIT_S,
    Blocker,
    Examine,
    Frame,
    Gate,
    checkout_blocker,
    json_action,
)

log = logging.getLogger("smilepay.kiosk.forget")
STATIC = Path(__file__).parent / "static"
# (customer id, step-up digits or None, token or None) -> the deletion's answer; raises
# device.face_deletion.DeletionRefused when nothing was deleted.
Delete = Callable[[str, str | None, str | None], dict[str, Any]]


class ForgetService:
    """One deletion at a time on this kiosk."""

    def __init__(
        self,
        engine: Any,
        gallery: Any,
        examine: Examine,
        delete: Delete,
        match_below: float,
        blocked: Blocker | None = None,
    ) -> None:
        self.engine = engine
        self.gallery = gallery
        self.examine = examine
        self.delete = delete
        self.match_below = match_below
        self.blocked = blocked or (lambda: None)
        self.state = flow.ForgetState()
        self._lock = threading.Lock()

    def start(self) -> dict[str, Any]:
        """Begin: the customer faces the camera or shows their payment code."""
        with self._lock:
            reason = self.blocked()
            if reason is not None:
                raise flow.ForgetRefused(reason)
            self.state = flow.start()
            return flow.view(self.state)

    def look(self) -> dict[str, Any]:
        """Look at the camera's next frame for a payment code or an enrolled face."""
        from base.token import TokenRejected, parse_token

        with self._lock:
            if self.state.step != "identify":
                raise flow.ForgetRefused(f"deletion is at {self.state.step!r}, not 'identify'")
            kind, seen = self.examine(self._identify) or ("none", "no_face")
            if kind == "token":
                try:
                    customer_id = parse_token(seen)[0].customer_id
                except TokenRejected:
                    self.state = flow.not_identified(self.state, "bad_code")
                    return flow.view(self.state)
                self._delete(customer_id, None, seen)
            elif kind == "face":
                self.state = flow.face_matched(self.state, seen)
            else:
                self.state = flow.not_identified(self.state, seen)
            return flow.view(self.state)

    def digits(self, digits: str) -> dict[str, Any]:
        """The step-up digits after a face match: the ledger checks them."""
        with self._lock:
            if self.state.step != "prove" or self.state.customer_id is None:
                raise flow.ForgetRefused(f"deletion is at {self.state.step!r}, not 'prove'")
            if not (digits.isascii() and digits.isdigit() and 4 <= len(digits) <= 8):
                raise flow.ForgetRefused("the step-up secret is 4 to 8 digits")
            self._delete(self.state.customer_id, digits, None)
            return flow.view(self.state)

    def cancel(self) -> dict[str, Any]:
        with self._lock:
            self.state = flow.cancel(self.state)
            return flow.view(self.state)

    def view(self) -> dict[str, Any]:
        with self._lock:
            return flow.view(self.state)

    def _identify(self, frame: Frame) -> tuple[str, str]:
        """On the camera thread: ("token", text), ("face", customer id) or ("none", why)."""
        from device.codes.qr import decode_frame
        from models.enroll import capture_embedding
        from models.errors import BadImage

        for code in decode_frame(frame):
            text = code.data.decode("ascii", errors="replace")
            if text.startswith("SPT1."):
                return "token", text
        try:
            vector = capture_embedding(self.engine, frame)
        except BadImage as exc:
            return "none", str(exc)
        match = self.gallery.search(vector)
        if match is None or match.best_distance >= self.match_below:
            return "none", "not_enrolled"
        return "face", str(match.best_id)

    def _delete(self, customer_id: str, digits: str | None, token: str | None) -> None:
        from device.face_deletion import DeletionRefused

        try:
            answer = self.delete(customer_id, digits, token)
        except DeletionRefused as exc:
            log.info("face deletion refused on the screen", extra={"why": str(exc)})
            self.state = flow.refused(self.state, str(exc))
            return
        queued = bool(answer.get("queued"))
        log.info("face data deleted on the screen", extra={"queued": queued})
        self.state = flow.finished(self.state, customer_id, queued)


def kiosk_forget(kiosk: Any) -> ForgetService | None:
    """The deletion service of a running kiosk (device.app.Kiosk), or None without a camera or
    face engine. The ledger is asked with the kiosk's client; offline, tokens are checked with
    the kiosk's token-issuer key."""
    from device.face_deletion import delete_face_data

    services, camera_loop = kiosk.services, kiosk.camera_loop
    if services.engine is None or camera_loop is None:
        return None

    def delete(customer_id: str, digits: str | None, token: str | None) -> dict[str, Any]:
        return delete_face_data(
            customer_id,
            digits,
            token,
            services.new_ledger_client,
            lambda customer: bool(services.gallery.delete(customer, "customer at this screen")),
            kiosk.config.device.data_dir,
            lambda: services.issuer_key,
        )

    return ForgetService(
        services.engine,
        services.gallery,
        lambda check: camera_loop.examine(check, CAMERA_WAIT_S),
        delete,
        kiosk.config.face.match_threshold,
        checkout_blocker(kiosk),
    )


def forget_routes(service: ForgetService, gate: Gate | None = None) -> list[Route]:
    """The page and its actions; each answers the deletion's view (400 with a reason when the
    action does not fit the step). `gate` says who may act."""

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "forget.html", headers={"Cache-Control": "no-store"})

    def action(call: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
        return json_action(call, gate)

    def digits(body: dict[str, Any]) -> str:
        value = body.get("digits")
        if not isinstance(value, str):
            raise flow.ForgetRefused("digits must be text")
        return value

    return [
        Route("/forget", page),
        Route("/api/forget/state", action(lambda body: service.view()), methods=["GET"]),
        Route("/api/forget/start", action(lambda body: service.start()), methods=["POST"]),
        Route("/api/forget/look", action(lambda body: service.look()), methods=["POST"]),
        Route(
            "/api/forget/digits",
            action(lambda body: service.digits(digits(body))),
            methods=["POST"],
        ),
        Route("/api/forget/cancel", action(lambda body: service.cancel()), methods=["POST"]),
    ]
