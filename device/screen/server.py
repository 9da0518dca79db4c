"""The customer's screen as a Starlette app: one page, a live view stream, and the actions.

Routes: `/` (and `/consent`) the page, `/events` server-sent events carrying the ScreenView,
`/api/<action>` POST actions, `/camera.jpg` the latest frame, `/operator` the PIN-protected
operator page with `/operator/login`, `/api/operator/health` and `/api/operator/sync`,
`/healthz`, `/screen.json` (the languages on offer, the first is the default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from base.errors import SmilepayError
from device.ports import KioskPort
from device.screen.actions import ACTIONS, BadAction, json_object, parse_body
from device.screen.broadcast import ViewBroadcaster
from device.screen.config import ScreenConfig
from device.screen.operator import OperatorSessions, PinGate
from device.screen.serving import ScreenServer, serve_screen_in_thread

__all__ = ["ScreenServer", "create_screen_app", "serve_screen_in_thread"]

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "smilepay_operator"
NO_STORE = {"Cache-Control": "no-store"}
OPERATOR_VIEW_KEYS = ("phase", "online", "backlog", "limits_left", "camera_ok")
# Everything is served by the kiosk itself: nothing external can load, even by mistake.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_screen_app(
    kiosk: KioskPort, config: ScreenConfig, operator_pin: str | None, enrolment: Any = None
) -> Starlette:
    """The screen app for `kiosk`; without `operator_pin` the operator page stays closed. With
    an `enrolment` service (device/screen/enrol.py) it also serves the `/enrol` flow."""
    screen = _Screen(kiosk, config, operator_pin)
    routes: list[Route | Mount] = screen.routes()
    if enrolment is not None:
        from device.screen.enrol import enrol_routes

        routes = [*enrol_routes(enrolment), *routes]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        screen.broadcaster.start()
        try:
            yield
        finally:
            screen.broadcaster.stop()

    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.broadcaster = screen.broadcaster
    app.state.screen_config = config
    return app


class _Screen:
    """The request handlers, sharing the kiosk, the view broadcaster and the operator gate."""

    def __init__(self, kiosk: KioskPort, config: ScreenConfig, operator_pin: str | None) -> None:
        self.kiosk = kiosk
        self.config = config
        self.broadcaster = ViewBroadcaster(kiosk)
        self.gate = PinGate(operator_pin) if operator_pin else None
        self.sessions = OperatorSessions()

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self.page),
            Route("/consent", self.page),
            Route("/events", self.events),
            Route("/camera.jpg", self.camera),
            Route("/healthz", self.healthz),
            Route("/screen.json", self.screen_settings),
            Route("/operator", self.operator_page),
            Route("/operator/login", self.operator_login, methods=["POST"]),
            Route("/api/operator/health", self.operator_health),
            Route("/api/operator/sync", self.operator_sync, methods=["POST"]),
            Route("/api/{name}", self.action, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    async def operator_page(self, request: Request) -> Response:
        return FileResponse(STATIC / "operator.html", headers=NO_STORE)

    async def events(self, request: Request) -> Response:
        headers = {**NO_STORE, "X-Accel-Buffering": "no"}
        stream = self.broadcaster.stream()
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def action(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ACTIONS:
            return _error(404, f"no such action: {name}")
        if not _is_json(request):
            return _error(415, "send the body as application/json")
        model, call = ACTIONS[name]
        try:
            body = parse_body(model, await request.body())
            await run_in_threadpool(call, self.kiosk, body)
        except BadAction as exc:
            return _error(400, str(exc))
        except SmilepayError as exc:
            return _error(409, str(exc))
        return JSONResponse({"ok": True})

    async def camera(self, request: Request) -> Response:
        frame = await run_in_threadpool(self.kiosk.latest_frame_jpeg)
        if frame is None:
            return _error(404, "no camera frame")
        return Response(frame, media_type="image/jpeg", headers=NO_STORE)

    async def healthz(self, request: Request) -> Response:
        view = await run_in_threadpool(self.kiosk.view)
        streams = self.broadcaster.stream_count
        return JSONResponse({"ok": True, "phase": view.get("phase"), "streams": streams})

    async def screen_settings(self, request: Request) -> Response:
        catalogue = [item.model_dump() for item in self.config.catalogue]
        settings = {"languages": list(self.config.languages), "catalogue": catalogue}
        return JSONResponse(settings, headers=NO_STORE)

    async def operator_login(self, request: Request) -> Response:
        if self.gate is None:
            return _error(403, "no operator PIN is configured (screen.operator_pin_file)")
        if not _is_json(request):
            return _error(415, "send the body as application/json")
        pin = await _pin_of(request)
        if pin is None:
            return _error(400, 'body must be {"pin": "<digits>"}')
        verdict = self.gate.attempt(pin)
        if verdict.retry_after_s > 0:
            wait = str(int(verdict.retry_after_s) + 1)
            return _error(429, f"too many wrong PINs: wait {wait} s", {"Retry-After": wait})
        if not verdict.ok:
            return _error(401, "wrong PIN")
        response = JSONResponse({"ok": True})
        token = self.sessions.open()
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def operator_health(self, request: Request) -> Response:
        if not self.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            return _error(401, "operator login required")
        health = await run_in_threadpool(self.kiosk.health)
        view = await run_in_threadpool(self.kiosk.view)
        summary = {key: view.get(key) for key in OPERATOR_VIEW_KEYS}
        return JSONResponse({"health": health, "view": summary}, headers=NO_STORE)

    async def operator_sync(self, request: Request) -> Response:
        if not self.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            return _error(401, "operator login required")
        if not _is_json(request):
            return _error(415, "send the body as application/json")
        await run_in_threadpool(self.kiosk.sync_now)
        return JSONResponse({"ok": True, "sync": "requested"}, status_code=202)


class SecurityHeaders:
    """Adds the content security policy and no-sniff headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CSP.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


async def _pin_of(request: Request) -> str | None:
    try:
        body: dict[str, Any] = json_object(await request.body())
    except BadAction:
        return None
    pin = body.get("pin")
    return pin if isinstance(pin, str) and len(pin) <= 64 else None
