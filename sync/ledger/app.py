"""The ledger's HTTP service (Starlette). Handlers are thin: they parse, authenticate, and call
the ledger's modules inside one retryable database transaction each."""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
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
from base.sealed import KeyFileSealer
from sync.ledger import (
    customers,
    devices,
    enrolments,
    holds,
    refunds_http,
    registration,
    review,
    tokens,
)
from sync.ledger import requests as bodies
from sync.ledger.body_limit import read_body
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
from sync.ledger.policy import LedgerPolicy
from sync.ledger.registration import register_device as register_with_code
from sync.ledger.storage import in_transaction, migrate, open_engine

log = logging.getLogger(__name__)
NONCE_SWEEP_EVERY = 1000
AFTER_ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")  # requests between sweeps of expired nonces


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
        policy: LedgerPolicy | None = None,
        sealer: KeyFileSealer | None = None,
        retention_days: int = enrolments.DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.engine = engine
        self.issuer_key = issuer_key
        self.sealer = sealer
        self.retention_days = retention_days
        self._next_expiry_s = 0.0
        self.admin_token = admin_token
        self.registration_token = registration_token
        self.policy = policy or LedgerPolicy()
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

    def template_sealer(self) -> KeyFileSealer:
        """The at-rest template key; without one the ledger takes no enrolments."""
        if self.sealer is None:
            raise Conflict(
                "enrolments_disabled", "this ledger was started without --template-key-file"
            )
        return self.sealer

    def expire_templates_now_and_then(self) -> None:
        """Retention expiry, run at most hourly from the kiosks' gallery pulls."""
        now_s = self.clock()
        if now_s < self._next_expiry_s:
            return
        self._next_expiry_s = now_s + 3600
        expired = self.transaction(
            lambda conn: enrolments.expire_unused(conn, self.now_ms(), self.retention_days)
        )
        if expired:
            log.info("templates expired", extra={"customers": len(expired)})

    def check_admin(self, request: Request) -> None:
        """Operator requests need the admin bearer token when one is configured."""
        _check_token(self.admin_token, request.headers.get("authorization", ""), "Bearer ")

    @property
    def open_registration(self) -> bool:
        """Without an operator token (development only) any kiosk may register."""
        return self.admin_token is None

    def shared_token_matches(self, given: str) -> bool:
        """The legacy fleet-wide registration token (`--registration-token-file`), if any."""
        expected = self.registration_token
        return expected is not None and hmac.compare_digest(given.encode(), expected.encode())

    def authenticate(self, request: Request, device_id: str, body: bytes) -> DeviceRequest:
        """Check a device request's signature (reading only); its nonce is spent later, in the
        transaction that does the work, so each request costs one commit."""
        headers = {k: request.headers[k] for k in devices.AUTH_HEADERS if k in request.headers}
        now_s, path = self.clock(), wire.signed_target(request.url.path, request.url.query)
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
        body = await read_body(request, ledger.policy.max_body_bytes)
        status, payload = await run_in_threadpool(handler, ledger, request, body)
        return JSONResponse(payload, status_code=status)

    return run


# --- handlers ---------------------------------------------------------------------------------


def time_now(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    return 200, {"ledger_time_ms": ledger.now_ms()}


def register_device(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    registration = bodies.parse_body(bodies.DeviceRegistration, body)
    credential = request.headers.get("x-smilepay-registration-token", "")
    now = ledger.now_ms()
    created = ledger.transaction(
        lambda conn: register_with_code(conn, registration.model_dump(), credential, ledger, now)
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
        return ingest(conn, device, checked, ledger.now_ms(), ledger.policy)

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
    token = wanted.pop("token")
    now = ledger.now_ms()

    def work(conn: Connection) -> dict[str, Any]:
        if wanted["method"] == "customer_qr":
            reason = _token_reason(ledger, conn, token, auth.device.device_id, wanted)
            if reason:
                log.warning("token refused", extra={"device_id": device_id, "why": reason})
                return {"auth_id": None, "status": "declined", "reason": reason}
        return holds.authorize(conn, auth.device, wanted, now)

    return 200, ledger.device_transaction(auth, work)


def _token_reason(
    ledger: Ledger, conn: Connection, token: str | None, device_id: str, wanted: dict[str, Any]
) -> str | None:
    """A customer-token sale online: the token must verify and is spent for this sale."""
    if token is None:
        return "token_required: a customer-token sale must present its token"
    use = tokens.TokenUse("", wanted["customer_id"], wanted["sale_id"], device_id)
    return tokens.check_online(conn, token, ledger.issuer_key, use, ledger.clock())


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
    if ledger.sealer is None:  # no template key: no enrolments, so no changes to send
        return 200, {"changes": [], "cursor": cursor}
    sealer = ledger.sealer
    ledger.expire_templates_now_and_then()
    return 200, ledger.device_transaction(
        auth, lambda conn: enrolments.gallery_page(conn, auth.device, cursor, limit, sealer)
    )


def ack_gallery(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    device = auth.device
    ack = bodies.parse_body(bodies.GalleryAck, body)
    now = ledger.now_ms()
    return 200, ledger.device_transaction(
        auth,
        lambda conn: enrolments.acknowledge(
            conn, device, ack.cursor, ack.deleted_customer_ids, now
        ),
    )


def post_enrollment(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    enrollment = bodies.parse_body(bodies.Enrollment, body).model_dump()
    enrollment["enrolment_id"] = enrollment["enrolment_id"] or _implied_enrolment_id(
        device_id, body
    )
    sealer, now = ledger.template_sealer(), ledger.now_ms()
    answer, created = ledger.device_transaction(
        auth,
        lambda conn: enrolments.enrol(
            conn, auth.device, enrollment, sealer, ledger.default_currency, now
        ),
    )
    return (201 if created else 200), answer


def _implied_enrolment_id(device_id: str, body: bytes) -> str:
    """For a kiosk that sends no enrolment id: the same body again is the same enrolment."""
    import hashlib

    return hashlib.sha256(device_id.encode() + b"\0" + body).hexdigest()[:64]


def post_step_up_check(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    wanted = bodies.parse_body(bodies.StepUpCheck, body)
    sealer = ledger.template_sealer()
    return 200, ledger.device_transaction(
        auth,
        lambda conn: enrolments.check_step_up_request(
            conn, auth.device, wanted.customer_id, wanted.digits, sealer
        ),
    )


def post_face_deletion(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    wanted = bodies.parse_body(bodies.FaceDeletion, body).model_dump()
    sealer, now = ledger.template_sealer(), ledger.now_ms()
    issuer = ledger.issuer_key.public_key() if ledger.issuer_key is not None else None
    answer = ledger.device_transaction(
        auth,
        lambda conn: enrolments.delete_at_kiosk(conn, auth.device, wanted, sealer, issuer, now),
    )
    if "refused" in answer:
        return 403, {"error": "proof_refused", "reason": answer["refused"]}
    log.info("face data deleted at a kiosk", extra={"device_id": device_id})
    return 202, answer


def get_config(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    limits = ledger.device_transaction(auth, lambda conn: devices.limits_for(conn, device_id))
    return 200, {"limits": limits, "ledger_time_ms": ledger.now_ms()}


def list_customers(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    ledger.check_admin(request)
    limit = _int_param(request, "limit", 100, 1, 1000)
    after = request.query_params.get("after", "")
    if after and not AFTER_ID.fullmatch(after):
        raise BadRequest("invalid_query", "after must be a customer id (A-Z a-z 0-9 . _ : @ -)")
    return 200, ledger.transaction(lambda conn: customers.list_customers(conn, after, limit))


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
    ledger.check_admin(request)
    key = ledger.issuer_key
    if key is None:
        raise Conflict("tokens_disabled", "this ledger was started without --issuer-key-file")
    customer_id = request.path_params["customer_id"]
    wanted = bodies.parse_body(bodies.TokenRequest, body)
    now = ledger.clock()

    def work(conn: Connection) -> dict[str, Any]:
        customers.live_customer(conn, customer_id)
        return tokens.issue(conn, customer_id, key, wanted.ttl_s, now)

    return 201, ledger.transaction(work)


def post_registration_code(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    """A single-use registration code for one kiosk (operator)."""
    ledger.check_admin(request)
    wanted = bodies.parse_body(bodies.RegistrationCodeRequest, body).model_dump()
    now = ledger.now_ms()
    minted = ledger.transaction(lambda conn: registration.mint_code(conn, wanted, now))
    log.info("registration code minted", extra={k: minted[k] for k in ("merchant_id", "store_id")})
    return 201, minted


def get_review(ledger: Ledger, request: Request, body: bytes) -> tuple[int, Any]:
    """Sales booked to the review account, newest first (operator)."""
    ledger.check_admin(request)
    limit = _int_param(request, "limit", 100, 1, 1000)
    return 200, {"review": ledger.transaction(lambda conn: review.review_items(conn, limit))}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadRequest("bad_json", f"body is not JSON: {exc}") from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not low <= int(text) <= high:
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
    ("POST", "/v1/devices/{device_id}/step-up:check", post_step_up_check),
    ("POST", "/v1/devices/{device_id}/face-deletions", post_face_deletion),
    ("GET", "/v1/devices/{device_id}/config", get_config),
    ("GET", "/v1/customers", list_customers),
    ("POST", "/v1/customers", post_customer),
    ("POST", "/v1/customers/{customer_id}/topups", post_topup),
    ("GET", "/v1/customers/{customer_id}", get_customer),
    ("DELETE", "/v1/customers/{customer_id}", delete_customer),
    ("POST", "/v1/customers/{customer_id}/tokens", post_token),
    ("POST", "/v1/devices/{device_id}/refunds:batch", refunds_http.post_refunds),
    ("GET", "/v1/devices/{device_id}/sales/{sale_id}/refundable", refunds_http.get_refundable),
    ("POST", "/v1/registration-codes", post_registration_code),
    ("GET", "/v1/review", get_review),
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
    policy: LedgerPolicy | None = None,
    template_key_file: Path | None = None,
    retention_days: int = enrolments.DEFAULT_RETENTION_DAYS,
    metrics_token: str | None = None,
) -> Starlette:
    """The ledger application on `db_url` (migrated to the newest schema first). With an
    `issuer_key` it also issues signed customer tokens; with a `template_key_file` (outside the
    database) it takes enrolments and keeps their templates sealed under that key. Without an
    `admin_token` it is open (operator calls and device registration): for development and tests
    on loopback only; `ledger serve` refuses to start that way unless told `--insecure-dev`.
    `/metrics` takes the operator token or `metrics_token`; `/fleet` the operator token;
    `/r/{sale_id}` is public."""
    engine = open_engine(db_url)
    migrate(engine)
    sealer = KeyFileSealer.from_file(template_key_file) if template_key_file else None
    ledger = Ledger(
        engine,
        admin_token,
        registration_token,
        clock,
        issuer_key=issuer_key,
        policy=policy,
        sealer=sealer,
        retention_days=retention_days,
    )
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
ENV_MAX_BODY, ENV_SETTLE_LATER_MAX = "SMILEPAY_LEDGER_MAX_BODY", "SMILEPAY_LEDGER_SETTLE_LATER_MAX"
ENV_TEMPLATE_KEY_FILE, ENV_RETENTION_DAYS = (
    "SMILEPAY_LEDGER_TEMPLATE_KEY_FILE",
    "SMILEPAY_LEDGER_TEMPLATE_RETENTION_DAYS",
)
ENV_METRICS = "SMILEPAY_LEDGER_METRICS_TOKEN"


def app_from_environment() -> Starlette:
    """The app of one worker process of `ledger serve --workers N` (settings passed by its
    parent through the environment; the parent has already migrated the database)."""
    configure_logging("ledger")
    key_file = os.environ.get(ENV_ISSUER_KEY_FILE)
    defaults = LedgerPolicy()
    policy = LedgerPolicy(
        int(os.environ.get(ENV_MAX_BODY) or defaults.max_body_bytes),
        int(os.environ.get(ENV_SETTLE_LATER_MAX) or defaults.settle_later_max_minor),
    )
    template_file = os.environ.get(ENV_TEMPLATE_KEY_FILE)
    return create_app(
        os.environ[ENV_DB],
        admin_token=os.environ.get(ENV_ADMIN) or None,
        registration_token=os.environ.get(ENV_REGISTRATION) or None,
        issuer_key=load_key_file(Path(key_file)) if key_file else None,
        policy=policy,
        template_key_file=Path(template_file) if template_file else None,
        retention_days=int(os.environ.get(ENV_RETENTION_DAYS) or enrolments.DEFAULT_RETENTION_DAYS),
        metrics_token=os.environ.get(ENV_METRICS) or None,
    )
