"""The ledger's HTTP service (Starlette). Handlers are thin: they parse, authenticate, and call
the ledger's modules inside one retryable database transaction each."""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from base import keys, wire
from base.keys import load_key_file
from base.limits import OfflineLimits
from base.logs import configure_logging
from sync.ledger import customers, devices, holds
from sync.ledger import requests as bodies
from sync.ledger.errors import BadRequest, Conflict, LedgerError, Unauthorized
from sync.ledger.fleet import FleetTelemetry, observed
from sync.ledger.ingestion import (
    BatchError,
    check_signatures,
    ingest,
    load_batch_json,
    parse_batch,
)
from sync.ledger.metrics import LedgerMetrics
from sync.ledger.openapi import openapi_document
from sync.ledger.ops_routes import OpsRoutes
from sync.ledger.storage import in_transaction, migrate, open_engine

log = logging.getLogger(__name__)
NONCE_SWEEP_EVERY = 1000  # requests between sweeps of expired nonces


class Ledger:
    """The service state: database engine, operator tokens and clock."""

    def __init__(
        self,
        engine: Engine,
        admin_token: str | None,
        registration_token: str | None,
        clock: Callable[[], float] = time.time,
        default_currency: str = "EUR",
        issuer_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.engine = engine
        self.issuer_key = issuer_key
        self.admin_token = admin_token
        self.registration_token = registration_token
        self.clock = clock
        self.default_currency = default_currency
        self._requests = 0
        # One batch transaction at a time per process (parsing and signature checks still
        # overlap). Interleaved in threads they are slower, not faster: each of a batch's
        # round trips waits for the GIL behind another thread's Python work (the convoy
        # effect), and batches that share wallets wait on each other's row locks anyway.
        self.batch_lock = threading.Lock()

    def now_ms(self) -> int:
        """Ledger time in integer milliseconds."""
        return int(self.clock() * 1000)

    def transaction(self, work: Callable[[Connection], Any]) -> Any:
        """Run `work` in one retryable transaction."""
        return in_transaction(self.engine, work)

    def check_admin(self, request: Request) -> None:
        """Operator requests need the admin bearer token when one is configured."""
        _check_token(self.admin_token, request.headers.get("authorization", ""), "Bearer ")

    def check_registration(self, request: Request) -> None:
        """Registrations need the registration token when one is configured."""
        given = request.headers.get("x-smilepay-registration-token", "")
        _check_token(self.registration_token, given, "")

    def authenticate(self, request: Request, device_id: str, body: bytes) -> DeviceRequest:
        """Check a device request's signature (reading only); its nonce is spent later, in the
        transaction that does the work, so each request costs one commit."""
        headers = {k: request.headers[k] for k in devices.AUTH_HEADERS if k in request.headers}
        now_s, path = self.clock(), request.url.path
        with self.engine.connect() as conn:
            row = devices.check_request(conn, device_id, headers, request.method, path, body, now_s)
        self._requests += 1
        if self._requests % NONCE_SWEEP_EVERY == 0:
            self.transaction(lambda conn: devices.forget_old_nonces(conn, self.now_ms()))
        return DeviceRequest(row, headers[wire.HEADER_NONCE], path)

    def device_transaction(self, auth: DeviceRequest, work: Callable[[Connection], Any]) -> Any:
        """Run a device request's work in one transaction that also spends its nonce."""
        device_id, now_ms = auth.device.device_id, self.now_ms()

        def spend_then_work(conn: Connection) -> Any:
            devices.spend_nonce(conn, device_id, auth.nonce, auth.path, now_ms)
            return work(conn)

        return self.transaction(spend_then_work)


@dataclass(frozen=True)
class DeviceRequest:
    """An authenticated device request: the device's row, and the nonce still to spend."""

    device: Any
    nonce: str
    path: str


def _check_token(expected: str | None, given: str, prefix: str) -> None:
    if expected is None:
        return
    if not given.startswith(prefix) or not hmac.compare_digest(
        given[len(prefix) :].encode(), expected.encode()
    ):
        raise Unauthorized("bad_token", "missing or wrong operator token")


Handler = Callable[[Ledger, Request, bytes], tuple[int, Any]]


def endpoint(ledger: Ledger, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a synchronous handler: read the body, run it in a worker thread, answer JSON."""

    async def run(request: Request) -> Response:
        body = await request.body()
        status, payload = await run_in_threadpool(handler, ledger, request, body)
        return JSONResponse(payload, status_code=status)

    return run


# --- handlers ---------------------------------------------------------------------------------


def time_now(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    return 200, {"ledger_time_ms": ledger.now_ms()}


def register_device(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_registration(request)
    registration = bodies.parse_body(bodies.DeviceRegistration, body)
    now = ledger.now_ms()
    created = ledger.transaction(
        lambda conn: devices.register(conn, registration.model_dump(), now)
    )
    if created:
        log.info("device registered", extra={"device_id": registration.device_id})
    return (201 if created else 200), {"device_id": registration.device_id}


def revoke_device(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_admin(request)
    device_id = request.path_params["device_id"]
    now = ledger.now_ms()
    ledger.transaction(lambda conn: devices.revoke(conn, device_id, now))
    log.info("device revoked", extra={"device_id": device_id})
    return 200, {"device_id": device_id, "revoked": True}


def put_limits(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_admin(request)
    device_id = request.path_params["device_id"]
    limits = bodies.parse_body(OfflineLimits, body)
    ledger.transaction(lambda conn: devices.set_limits(conn, device_id, limits))
    return 200, {"limits": limits.model_dump()}


def post_batch(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    try:
        parsed, head = parse_batch(device_id, load_batch_json(body))
    except BatchError as exc:
        raise BadRequest("invalid_batch", str(exc)) from None
    public_key = keys.public_key_from_b64(auth.device.public_key)
    checked = check_signatures(device_id, parsed, head, public_key)

    def work(conn: Connection) -> list[dict[str, Any]]:
        device = devices.device_row(conn, device_id, lock=True)
        return ingest(conn, device, checked, ledger.now_ms())

    with ledger.batch_lock:
        results = ledger.device_transaction(auth, work)
    _log_batch(device_id, results)
    return 200, {"results": results, "ledger_time_ms": ledger.now_ms()}


def _log_batch(device_id: str, results: list[dict[str, Any]]) -> None:
    """One line per batch with its sale ids (`sale_ids`), and one per sale the ledger did not
    accept (`sale_id`), so one sale's story can be followed across kiosk, agent and ledger."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        if result["status"] in ("declined", "rejected"):
            log.warning(
                f"sale {result['status']}",
                extra={
                    "device_id": device_id,
                    "sale_id": result.get("sale_id"),
                    "reason": result.get("reason"),
                },
            )
    level = logging.WARNING if counts.get("rejected") else logging.INFO
    sale_ids = [result.get("sale_id") for result in results]
    log.log(level, "batch ingested", extra={"device_id": device_id, **counts, "sale_ids": sale_ids})


def post_authorization(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    wanted = bodies.parse_body(bodies.AuthorizationRequest, body).model_dump()
    now = ledger.now_ms()
    return 200, ledger.device_transaction(
        auth, lambda conn: holds.authorize(conn, auth.device, wanted, now)
    )


def void_authorization(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id, auth_id = request.path_params["device_id"], request.path_params["auth_id"]
    auth = ledger.authenticate(request, device_id, body)
    device = auth.device
    now = ledger.now_ms()
    return 200, ledger.device_transaction(auth, lambda conn: holds.void(conn, device, auth_id, now))


def get_gallery(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    cursor = _int_param(request, "cursor", 0, 0, 2**62)
    limit = _int_param(request, "limit", 500, 1, 1000)
    return 200, ledger.device_transaction(
        auth, lambda conn: customers.gallery_since(conn, cursor, limit)
    )


def ack_gallery(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    device = auth.device
    ack = bodies.parse_body(bodies.GalleryAck, body)
    now = ledger.now_ms()
    return 200, ledger.device_transaction(
        auth,
        lambda conn: customers.acknowledge(conn, device, ack.cursor, ack.deleted_customer_ids, now),
    )


def post_enrollment(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    device = auth.device
    enrollment = bodies.parse_body(bodies.Enrollment, body).model_dump()
    now = ledger.now_ms()
    return 201, ledger.device_transaction(
        auth, lambda conn: customers.enroll(conn, device, enrollment, ledger.default_currency, now)
    )


def get_config(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    limits = ledger.device_transaction(auth, lambda conn: devices.limits_for(conn, device_id))
    return 200, {"limits": limits, "ledger_time_ms": ledger.now_ms()}


def post_customer(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_admin(request)
    customer = bodies.parse_body(bodies.CustomerCreate, body).model_dump()
    now = ledger.now_ms()
    customer_id, created = ledger.transaction(
        lambda conn: customers.create_customer(conn, customer, now)
    )
    return (201 if created else 200), {"customer_id": customer_id}


def post_topup(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_admin(request)
    customer_id = request.path_params["customer_id"]
    topup = bodies.parse_body(bodies.TopUp, body).model_dump()
    now = ledger.now_ms()
    answer, created = ledger.transaction(
        lambda conn: customers.top_up(conn, customer_id, topup, now)
    )
    return (201 if created else 200), answer


def get_customer(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_admin(request)
    customer_id = request.path_params["customer_id"]
    return 200, ledger.transaction(lambda conn: customers.customer_view(conn, customer_id))


def delete_customer(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_admin(request)
    customer_id = request.path_params["customer_id"]
    now = ledger.now_ms()
    answer = ledger.transaction(lambda conn: customers.delete_customer(conn, customer_id, now))
    log.info("customer erased", extra={"customer_id": customer_id})
    return 202, answer


def post_token(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    """A signed customer token (base/token.py) for the customer's phone or card."""
    from base.token import issue_token

    ledger.check_admin(request)
    if ledger.issuer_key is None:
        raise Conflict("tokens_disabled", "this ledger was started without --issuer-key-file")
    customer_id = request.path_params["customer_id"]
    wanted = bodies.parse_body(bodies.TokenRequest, body)
    ledger.transaction(lambda conn: customers.live_customer(conn, customer_id))
    now = ledger.clock()
    token = issue_token(customer_id, ledger.issuer_key, wanted.ttl_s, now)
    return 201, {"customer_id": customer_id, "token": token, "expires_at": int(now) + wanted.ttl_s}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadRequest("bad_json", f"body is not JSON: {exc}") from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest("invalid_query", f"{name} must be an integer from {low} to {high}")
    return int(text)


# --- the application --------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/time", time_now),
    ("POST", "/v1/devices", register_device),
    ("POST", "/v1/devices/{device_id}:revoke", revoke_device),
    ("PUT", "/v1/devices/{device_id}/limits", put_limits),
    ("POST", "/v1/devices/{device_id}/sales:batch", post_batch),
    ("POST", "/v1/devices/{device_id}/authorizations", post_authorization),
    ("POST", "/v1/devices/{device_id}/authorizations/{auth_id}:void", void_authorization),
    ("GET", "/v1/devices/{device_id}/gallery", get_gallery),
    ("POST", "/v1/devices/{device_id}/gallery:ack", ack_gallery),
    ("POST", "/v1/devices/{device_id}/enrollments", post_enrollment),
    ("GET", "/v1/devices/{device_id}/config", get_config),
    ("POST", "/v1/customers", post_customer),
    ("POST", "/v1/customers/{customer_id}/topups", post_topup),
    ("GET", "/v1/customers/{customer_id}", get_customer),
    ("DELETE", "/v1/customers/{customer_id}", delete_customer),
    ("POST", "/v1/customers/{customer_id}/tokens", post_token),
]


def _route(
    ledger: Ledger, telemetry: FleetTelemetry, path: str, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint; the devices' own (signed) routes also feed the fleet's live readings."""
    run = endpoint(ledger, handler)
    signed_by_device = path.startswith("/v1/devices/{device_id}/") and not path.endswith("/limits")
    return observed(telemetry, run) if signed_by_device else run


async def _ledger_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LedgerError)
    return JSONResponse({"error": exc.code, "reason": exc.reason}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": code, "reason": str(exc.detail)}, status_code=exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("request failed", exc_info=exc, extra={"path": request.url.path})
    return JSONResponse({"error": "internal", "reason": "internal error"}, status_code=500)


def create_app(
    db_url: str,
    admin_token: str | None = None,
    registration_token: str | None = None,
    clock: Callable[[], float] = time.time,
    issuer_key: Ed25519PrivateKey | None = None,
    metrics_token: str | None = None,
) -> Starlette:
    """The ledger application on `db_url` (migrated to the newest schema first). With an
    `issuer_key` it also issues signed customer tokens. `/metrics` takes the operator token or
    `metrics_token`; `/fleet` the operator token; `/r/{sale_id}` is public."""
    engine = open_engine(db_url)
    migrate(engine)
    ledger = Ledger(engine, admin_token, registration_token, clock, issuer_key=issuer_key)
    telemetry = FleetTelemetry(clock)
    metrics = LedgerMetrics(engine, telemetry)
    timed: dict[Handler, Handler] = {post_batch: metrics.timed(post_batch)}
    routes = [
        Route(path, _route(ledger, telemetry, path, timed.get(h, h)), methods=[m])
        for m, path, h in ROUTES
    ]
    routes += OpsRoutes(ledger, metrics, telemetry, metrics_token).routes()
    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    app = Starlette(
        routes=routes,
        exception_handlers={
            LedgerError: _ledger_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.ledger = ledger
    return app


ENV_DB, ENV_ADMIN, ENV_REGISTRATION, ENV_ISSUER_KEY_FILE = (
    "SMILEPAY_LEDGER_DB",
    "SMILEPAY_LEDGER_ADMIN_TOKEN",
    "SMILEPAY_LEDGER_REGISTRATION_TOKEN",
    "SMILEPAY_LEDGER_ISSUER_KEY_FILE",
)
ENV_METRICS = "SMILEPAY_LEDGER_METRICS_TOKEN"


def app_from_environment() -> Starlette:
    """The app of one worker process of `ledger serve --workers N` (settings passed by its
    parent through the environment; the parent has already migrated the database)."""
    configure_logging("ledger")
    key_file = os.environ.get(ENV_ISSUER_KEY_FILE)
    return create_app(
        os.environ[ENV_DB],
        admin_token=os.environ.get(ENV_ADMIN) or None,
        registration_token=os.environ.get(ENV_REGISTRATION) or None,
        issuer_key=load_key_file(Path(key_file)) if key_file else None,
        metrics_token=os.environ.get(ENV_METRICS) or None,
    )
