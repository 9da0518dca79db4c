"""The terminal API (Starlette): thin handlers that authenticate the POS, parse the body, call
the payment and refund desks in a worker thread, and answer signed JSON. docs/terminal-api.md
lists every message and error."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from device.terminal import auth
from device.terminal.events import EventLog
from device.terminal.messages import ApiError, PaymentRequest, RefundRequest, parse
from device.terminal.payments import PaymentDesk
from device.terminal.refund_desk import RefundDesk
from device.terminal.store import TerminalStore

log = logging.getLogger("smilepay.terminal.api")
API_VERSION = "1"
DEFAULT_WAIT_S, MAX_WAIT_S = 60.0, 300.0
MAX_BODY_BYTES = 64 * 1024


@dataclass
class Terminal:
    """Everything the handlers use."""

    keys: dict[str, auth.PosKey]
    store: TerminalStore
    payments: PaymentDesk
    refunds: RefundDesk | None
    events: EventLog
    info: dict[str, Any]
    clock: Callable[[], float] = time.time

    def authenticate(self, request: Request, body: bytes) -> auth.PosKey:
        """The POS that signed this request, or ApiError 401 saying why not."""
        headers = {k: request.headers.get(k, "") for k in _AUTH_HEADERS}
        key = self.keys.get(headers[auth.HEADER_POS])
        if key is None:
            raise ApiError(401, "unknown_pos", f"{auth.HEADER_POS}: not a POS this kiosk knows")
        query = request.url.query
        why = auth.check_request(
            key, headers, request.method, request.url.path, query, body, self.clock()
        )
        if why is not None:
            raise ApiError(401, "bad_signature", why)
        if not self.store.spend_nonce(key.pos_id, headers[auth.HEADER_NONCE], self.clock()):
            raise ApiError(401, "replayed", "this nonce was already used (a replayed request)")
        return key


_AUTH_HEADERS = (auth.HEADER_POS, auth.HEADER_TIMESTAMP, auth.HEADER_NONCE, auth.HEADER_SIGNATURE)
Handler = Callable[[Terminal, auth.PosKey, Request, bytes], tuple[int, Any]]


def endpoint(terminal: Terminal, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, run `handler` in a worker thread, answer JSON signed for that POS."""

    async def run(request: Request) -> Response:
        body = await _bounded_body(request)
        key = await run_in_threadpool(terminal.authenticate, request, body)
        try:
            status, payload = await run_in_threadpool(handler, terminal, key, request, body)
        except ApiError as exc:
            status, payload = exc.status, exc.body()
        return signed_json(payload, status, key, request.headers.get(auth.HEADER_NONCE, ""))

    return run


async def _bounded_body(request: Request) -> bytes:
    """The body, refused (413) past MAX_BODY_BYTES before it is read in full."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    return body


def signed_json(payload: Any, status: int, key: auth.PosKey, nonce: str) -> Response:
    """A JSON answer with the kiosk's HMAC over (nonce, status, body)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = auth.mac(key.secret, auth.response_message(nonce, status, body))
    return Response(body, status, {auth.HEADER_SIGNATURE: signature}, "application/json")


def _wait_param(request: Request, default: float) -> float:
    text = request.query_params.get("wait_s")
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_WAIT_S:
        raise ApiError(422, "invalid_field", f"wait_s must be 0 to {MAX_WAIT_S:g}", "wait_s")
    return value


def _final(outcome: dict[str, Any]) -> int:
    return 202 if outcome["status"] == "in_progress" else 200


# --- handlers ------------------------------------------------------------------------------------


def post_payment(t: Terminal, key: auth.PosKey, request: Request, body: bytes) -> tuple[int, Any]:
    wanted = parse(PaymentRequest, body)
    outcome = t.payments.pay(key.pos_id, wanted, _wait_param(request, DEFAULT_WAIT_S))
    return _final(outcome), outcome


def get_payment(t: Terminal, key: auth.PosKey, request: Request, body: bytes) -> tuple[int, Any]:
    reference = request.path_params["reference"]
    outcome = t.payments.wait(key.pos_id, reference, _wait_param(request, 0.0))
    return 200, outcome


def abort_payment(t: Terminal, key: auth.PosKey, request: Request, body: bytes) -> tuple[int, Any]:
    return 200, t.payments.abort(key.pos_id, request.path_params["reference"])


def post_refund(t: Terminal, key: auth.PosKey, request: Request, body: bytes) -> tuple[int, Any]:
    wanted = parse(RefundRequest, body)
    if t.refunds is None:
        raise ApiError(503, "refunds_unavailable", "this kiosk has no ledger link for refunds")
    return 200, t.refunds.refund(key.pos_id, wanted)


def get_refund(t: Terminal, key: auth.PosKey, request: Request, body: bytes) -> tuple[int, Any]:
    reference = request.path_params["reference"]
    stored = t.store.get(key.pos_id, "refund", reference)
    if stored is None:
        raise ApiError(
            404, "unknown_reference", f"no refund with reference {reference!r}", "reference"
        )
    return 200, t.refunds.outcome_of(stored) if t.refunds else stored.outcome


def get_info(t: Terminal, key: auth.PosKey, request: Request, body: bytes) -> tuple[int, Any]:
    return 200, {**t.info, "pos_id": key.pos_id, "busy": t.payments.current is not None}


def get_events(t: Terminal, key: auth.PosKey, request: Request, body: bytes) -> tuple[int, Any]:
    after = _after_param(request)
    events = t.events.after(
        after, _wait_param(request, 25.0), request.query_params.get("reference")
    )
    return 200, {"events": events, "last_id": t.events.last_id}


def _after_param(request: Request) -> int:
    text = request.query_params.get("after", "0")
    if not text.isdigit():
        raise ApiError(422, "invalid_field", "after must be a non-negative integer", "after")
    return int(text)


def event_stream(terminal: Terminal) -> Callable[[Request], Awaitable[Response]]:
    """`GET /v1/events/stream`: the same events as server-sent events (advisory: confirm the
    outcome with the signed status answer)."""

    async def run(request: Request) -> Response:
        await run_in_threadpool(terminal.authenticate, request, b"")
        after = _after_param(request)
        reference = request.query_params.get("reference")

        async def stream() -> AsyncIterator[bytes]:
            last = after
            while not await request.is_disconnected():
                events = await run_in_threadpool(terminal.events.after, last, 10.0, reference)
                for event in events:
                    last = event["id"]
                    text = f"id: {last}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
                    yield text.encode()
                if not events:
                    yield b": keep-alive\n\n"
                await asyncio.sleep(0)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return run


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/info", get_info),
    ("POST", "/v1/payments", post_payment),
    ("GET", "/v1/payments/{reference}", get_payment),
    ("POST", "/v1/payments/{reference}/abort", abort_payment),
    ("POST", "/v1/refunds", post_refund),
    ("GET", "/v1/refunds/{reference}", get_refund),
    ("GET", "/v1/events", get_events),
]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": code, "field": None, "reason": str(exc.detail)}, exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("terminal request failed", exc_info=exc, extra={"path": request.url.path})
    return JSONResponse({"error": "internal", "field": None, "reason": "internal error"}, 500)


def create_terminal_app(terminal: Terminal) -> Starlette:
    """The terminal API application."""
    routes = [Route(path, endpoint(terminal, h), methods=[m]) for m, path, h in ROUTES]
    routes.append(Route("/v1/events/stream", event_stream(terminal), methods=["GET"]))
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.terminal = terminal
    return app
