"""The customer's screen as a Starlette app: one page, a live view stream, and the actions.

Routes: `/` (and `/consent`) the page (`/?key=<screen secret>` hands the kiosk's own browser its
cookie), `/events` server-sent events carrying the ScreenView, `/api/<action>` POST actions,
`/camera.jpg` the latest frame, `/operator` the PIN-protected operator page with
`/operator/login`, `/operator/logout`, `/api/operator/health` and `/api/operator/sync`,
`/healthz`, `/screen.json` (languages, the first is the default; the catalogue; the consent
version; whether self-service enrolment and deletion are on), and `/enrol` with
`/api/enrol/...` and `/forget` with `/api/forget/...` when the kiosk can enrol and delete
(device/screen/enrol.py, device/screen/forget.py). Events, actions and the camera need the
screen secret (see device.screen.guard).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from base.errors import ConfigError, SmilepayError
from device.consent import CONSENT_VERSION
from device.ports import KioskPort
from device.screen.actions import ACTIONS, BadAction, RepeatFilter, json_object, parse_body
from device.screen.broadcast import ViewBroadcaster
from device.screen.config import ScreenConfig
from device.screen.guard import SCREEN_COOKIE, ScreenGuard, new_screen_secret
from device.screen.operator import OperatorSessions, PinGates
from device.screen.serving import ScreenServer, serve_screen_in_thread
from device.terminal.operator_refunds import operator_refund_routes

__all__ = ["ScreenServer", "create_screen_app", "serve_screen_in_thread"]

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "smilepay_operator"
NO_STORE = {"Cache-Control": "no-store"}
OPERATOR_VIEW_KEYS = ("phase", "online", "backlog", "camera_ok", "currency", "minor_digits")
# Everything is served by the kiosk itself: nothing external can load, even by mistake.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_screen_app(
    kiosk: KioskPort,
    config: ScreenConfig,
    operator_pin: str | None,
    screen_secret: str | None = None,
    enrolment: Any = None,
    forget: Any = None,
) -> Starlette:
    """The screen app for `kiosk`; without `operator_pin` the operator page stays closed.
    `screen_secret` (made here when not given) is what the kiosk's own browser must present:
    launch it on `ScreenServer.launch_url`. With an `enrolment` service (device/screen/enrol.py)
    it also serves the `/enrol` flow, to a logged-in operator (operator-assisted) and, when
    `screen.self_enrolment` is on, to the customer on the kiosk's own screen (self-service).
    With a `forget` service (device/screen/forget.py) it serves `/forget`, where a customer
    deletes their face data (always offered on the kiosk's own screen: it is their right)."""
    check_languages(config.languages)
    screen = _Screen(kiosk, config, operator_pin, screen_secret or new_screen_secret())
    screen.enrolment_served = enrolment is not None
    screen.forget_served = forget is not None
    routes: list[Route | Mount] = screen.routes()
    if enrolment is not None:
        from device.screen.enrol import enrol_routes

        routes = [*enrol_routes(enrolment, screen.enrol_gate), *routes]
    if forget is not None:
        from device.screen.forget import forget_routes

        routes = [*forget_routes(forget, screen.forget_gate), *routes]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        screen.broadcaster.start()
        try:
            yield
        finally:
            screen.broadcaster.stop()

    middleware = [Middleware(SecurityHeaders), Middleware(HostCheck, guard=screen.guard)]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.broadcaster = screen.broadcaster
    app.state.screen_config = config
    app.state.screen_secret = screen.guard.secret
    return app


def check_languages(languages: tuple[str, ...]) -> None:
    """Every configured language has a catalogue in strings.json (ConfigError if not)."""
    known = json.loads((STATIC / "strings.json").read_text(encoding="utf-8"))
    missing = [lang for lang in languages if lang not in known]
    if missing or not languages:
        raise ConfigError(
            f"screen.languages: {missing or 'none given'}; the screen has {sorted(known)}"
        )


class _Screen:
    """The request handlers, sharing the kiosk, the view broadcaster and the gates."""

    def __init__(
        self, kiosk: KioskPort, config: ScreenConfig, operator_pin: str | None, secret: str
    ) -> None:
        self.kiosk = kiosk
        self.config = config
        self.broadcaster = ViewBroadcaster(kiosk)
        self.guard = ScreenGuard(secret, config.host, config.allowed_hosts)
        self.gates = PinGates(operator_pin) if operator_pin else None
        self.sessions = OperatorSessions()
        self.repeats = RepeatFilter(time.monotonic)
        self.enrolment_served = False
        self.forget_served = False

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
            Route("/operator/logout", self.operator_logout, methods=["POST"]),
            Route("/api/operator/health", self.operator_health),
            Route("/api/operator/sync", self.operator_sync, methods=["POST"]),
            *operator_refund_routes(self),
            Route("/api/{name}", self.action, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]

    async def page(self, request: Request) -> Response:
        key = request.query_params.get("key")
        if key is not None and self.guard.key_ok(key):
            # Trade the launch secret for a cookie, and drop it from the address bar.
            response = RedirectResponse(request.url.path, status_code=303, headers=NO_STORE)
            response.set_cookie(SCREEN_COOKIE, key, httponly=True, samesite="strict")
            return response
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    async def operator_page(self, request: Request) -> Response:
        return FileResponse(STATIC / "operator.html", headers=NO_STORE)

    async def events(self, request: Request) -> Response:
        if not self.guard.trusted(request):
            return _error(401, "the event stream is for the kiosk's own screen")
        headers = {**NO_STORE, "X-Accel-Buffering": "no"}
        stream = self.broadcaster.stream()
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def action(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ACTIONS:
            return _error(404, f"no such action: {name}")
        if not self.guard.trusted(request):
            return _error(403, "actions are for the kiosk's own screen")
        if not _is_json(request):
            return _error(415, "send the body as application/json")
        model, call = ACTIONS[name]
        raw = await request.body()
        try:
            body = parse_body(model, raw)
            if self.repeats.repeated(name, raw):
                return JSONResponse({"ok": True, "repeated": True})
            await run_in_threadpool(call, self.kiosk, body)
        except BadAction as exc:
            return _error(400, str(exc))
        except SmilepayError as exc:
            return _error(409, str(exc))
        return JSONResponse({"ok": True})

    async def camera(self, request: Request) -> Response:
        if not self.guard.trusted(request):
            return _error(401, "the camera is for the kiosk's own screen")
        frame = await run_in_threadpool(self.kiosk.latest_frame_jpeg)
        if frame is None:
            return _error(404, "no camera frame")
        return Response(frame, media_type="image/jpeg", headers=NO_STORE)

    async def healthz(self, request: Request) -> Response:
        view = await run_in_threadpool(self.kiosk.view)
        streams = self.broadcaster.stream_count
        return JSONResponse({"ok": True, "phase": view["phase"], "streams": streams})

    async def screen_settings(self, request: Request) -> Response:
        view = await run_in_threadpool(self.kiosk.view)
        # Terminal mode: the POS sends the basket, so the screen offers no catalogue.
        catalogue = [] if view["terminal_mode"] else await run_in_threadpool(self.kiosk.catalogue)
        settings = {
            "languages": list(self.config.languages),
            "catalogue": catalogue,
            "consent_version": CONSENT_VERSION,
            "enrolment": self.enrolment_served,
            "self_enrolment": self.enrolment_served and self.config.self_enrolment,
            "forget": self.forget_served,
        }
        return JSONResponse(settings, headers=NO_STORE)

    async def enrol_gate(self, request: Request) -> tuple[int, str] | None:
        """Who may enrol: a logged-in operator, or (self-service, if configured) the kiosk's
        own screen. None: allowed; else the HTTP status and why not."""
        if not self.guard.origin_ok(request):
            return 403, "wrong origin"
        if self.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            return None
        if not self.guard.trusted(request):
            return 401, "enrolment is for the kiosk's own screen or a logged-in operator"
        if not self.config.self_enrolment:
            return 403, "self-service enrolment is off on this kiosk: staff can enrol you"
        return None

    async def forget_gate(self, request: Request) -> tuple[int, str] | None:
        """Who may delete face data here: the kiosk's own screen, or a logged-in operator."""
        if not self.guard.origin_ok(request):
            return 403, "wrong origin"
        if self.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            return None
        if not self.guard.trusted(request):
            return 401, "face data is deleted on the kiosk's own screen"
        return None

    async def operator_login(self, request: Request) -> Response:
        if self.gates is None:
            return _error(403, "no operator PIN is configured (screen.operator_pin_file)")
        if not self.guard.origin_ok(request):
            return _error(403, "wrong origin")
        if not _is_json(request):
            return _error(415, "send the body as application/json")
        pin = await _pin_of(request)
        if pin is None:
            return _error(400, 'body must be {"pin": "<digits>"}')
        verdict = self.gates.attempt(client_key(request), pin)
        if verdict.retry_after_s > 0:
            wait = int(verdict.retry_after_s) + 1
            body = {"error": "locked", "reason": f"too many wrong PINs: wait {wait} s"}
            return JSONResponse({**body, "retry_after_s": wait}, 429, {"Retry-After": str(wait)})
        if not verdict.ok:
            return JSONResponse({"error": "wrong_pin", "reason": "wrong PIN"}, status_code=401)
        response = JSONResponse({"ok": True})
        token = self.sessions.open()
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def operator_logout(self, request: Request) -> Response:
        if not self.guard.origin_ok(request):
            return _error(403, "wrong origin")
        self.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def operator_health(self, request: Request) -> Response:
        if not self.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            retry = self.gates.retry_after_s(client_key(request)) if self.gates else 0.0
            body = {"error": "operator login required", "retry_after_s": int(retry + 0.999)}
            return JSONResponse(body, status_code=401, headers=NO_STORE)
        health = await run_in_threadpool(self.kiosk.health)
        view = await run_in_threadpool(self.kiosk.view)
        summary = {key: view[key] for key in OPERATOR_VIEW_KEYS}  # type: ignore[literal-required]
        return JSONResponse({"health": health, "view": summary}, headers=NO_STORE)

    async def operator_sync(self, request: Request) -> Response:
        if not self.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            return _error(401, "operator login required")
        if not self.guard.origin_ok(request):
            return _error(403, "wrong origin")
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


class HostCheck:
    """Refuses every request that does not name one of the screen's own hosts (DNS rebinding)."""

    def __init__(self, app: ASGIApp, guard: ScreenGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.guard.host_ok(Request(scope)):
            response = _error(421, "this screen answers only to the kiosk's own host names")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def client_key(request: Request) -> str:
    """Whom a wrong operator PIN is counted against (per client, so nobody locks out others)."""
    return request.client.host if request.client else "unknown"


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
