"""The ledger's hand-written OpenAPI 3.0 document (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._:@-]+$"}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$"}
AMOUNT = {"type": "integer", "minimum": 1, "maximum": 999999999999}
NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*$"
TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_CONTROL}
ERROR = {
    "type": "object",
    "required": ["error", "reason"],
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
}
DEVICE_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
    for name in (
        "X-Smilepay-Device",
        "X-Smilepay-Timestamp",
        "X-Smilepay-Nonce",
        "X-Smilepay-Signature",
    )
]


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _op(
    summary: str,
    ok: int,
    answer: dict[str, Any],
    errors: tuple[int, ...],
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(ok): {"description": "done", "content": {"application/json": {"schema": answer}}}
    }
    if ok == 201:  # an idempotent repeat answers 200 with the same body
        responses["200"] = responses["201"]
    if body is not None:  # bodies over the ledger's limit (default 2 MB), before reading
        errors = (*errors, 413)
    for status in errors:
        responses[str(status)] = {
            "description": "refused, with the reason",
            "content": {"application/json": {"schema": ERROR}},
        }
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _device_op(summary: str, ok: int, answer: dict[str, Any], **kw: Any) -> dict[str, Any]:
    params = [_path_param("device_id"), *kw.pop("extra_params", []), *DEVICE_HEADERS]
    return _op(summary, ok, answer, (400, 401, 403, 404, 409), params=params, **kw)


def _admin_op(summary: str, ok: int, answer: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return _op(summary, ok, answer, (400, 401, 404, 409), **kw)


SALE_RESULT = _obj(
    ["sale_id", "seq", "status"],
    sale_id={"type": "string"},
    seq={"type": "integer"},
    status={"enum": ["accepted", "duplicate", "declined", "rejected"]},
    reason={"type": "string", "nullable": True},
    settle_later={"type": "boolean"},
)
BATCH = _obj(
    ["sales", "head_signature"],
    sales={"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "object"}},
    head_signature={"type": "string"},
)
TIME = _obj(["ledger_time_ms"], ledger_time_ms={"type": "integer"})
LIMITS = _obj(
    [],
    per_sale_max={"type": "integer"},
    unsynced_total_max={"type": "integer"},
    unsynced_count_max={"type": "integer"},
    oldest_unsynced_max_s={"type": "number"},
    per_customer_unsynced_max={"type": "integer"},
)
AUTHORIZATION = _obj(
    ["auth_id", "status"],
    auth_id={"type": "string"},
    status={"enum": ["approved", "declined", "voided"]},
    reason={"type": "string", "nullable": True},
)
GALLERY_CHANGE = {
    "type": "object",
    "properties": {
        "change_id": {"type": "integer"},
        "customer_id": {"type": "string"},
        "action": {"enum": ["upsert", "delete"]},
        "box_b64": {
            "type": "string",
            "description": "upserts: template and name sealed to this device's X25519 key",
        },
    },
}
DELETION_STATUS = {
    "type": "object",
    "properties": {
        "requested_at": {"type": "string"},
        "reason": {"type": "string", "nullable": True},
        "confirmed_by": {"type": "array", "items": {"type": "string"}},
        "pending": {"type": "array", "items": {"type": "string"}},
    },
}
DELETION = {
    "type": "object",
    "properties": {"customer_id": {"type": "string"}, "deletion": DELETION_STATUS},
}
DIGITS = {"type": "string", "pattern": "^[0-9]{4,12}$"}
CUSTOMER = {
    "type": "object",
    "required": ["customer_id", "balance_minor", "currency", "settle_later_minor"],
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "string"},
        "currency": {"type": "string"},
        "balance_minor": {"type": "integer"},
        "held_minor": {"type": "integer"},
        "available_minor": {"type": "integer"},
        "settle_later_minor": {"type": "integer"},
        "deleted": {"type": "boolean"},
        "enrolment": {"type": "object", "nullable": True},
        "deletion": DELETION_STATUS,
    },
}


def _paths() -> dict[str, Any]:
    customer = [_path_param("customer_id")]
    return {
        "/v1/time": {"get": _op("the ledger's clock", 200, TIME, ())},
        "/v1/devices": {
            "post": _op(
                "register a device key",
                201,
                _obj(["device_id"], device_id={"type": "string"}),
                (400, 401, 403, 409),
                body=_obj(
                    ["device_id", "public_key", "merchant_id", "store_id"],
                    device_id=ID,
                    public_key={"type": "string", "minLength": 1, "maxLength": 64},
                    merchant_id=ID,
                    store_id=ID,
                    name={"type": "string", "maxLength": 200},
                ),
            )
        },
        "/v1/devices/{device_id}:revoke": {
            "post": _admin_op(
                "revoke a device", 200, {"type": "object"}, params=[_path_param("device_id")]
            )
        },
        "/v1/devices/{device_id}/limits": {
            "put": _admin_op(
                "set a device's offline limits",
                200,
                {"type": "object"},
                params=[_path_param("device_id")],
                body=LIMITS,
            )
        },
        "/v1/devices/{device_id}/sales:batch": {
            "post": _device_op(
                "ingest a signed batch of consecutive sales",
                200,
                _obj(
                    ["results", "ledger_time_ms"],
                    results={"type": "array", "items": SALE_RESULT},
                    ledger_time_ms={"type": "integer"},
                ),
                body=BATCH,
            )
        },
        "/v1/devices/{device_id}/authorizations": {
            "post": _device_op(
                "authorise an online sale (places a pending transfer)",
                200,
                AUTHORIZATION,
                body=_obj(
                    ["sale_id", "customer_id", "amount_minor", "currency", "method"],
                    sale_id=ID,
                    customer_id=ID,
                    amount_minor=AMOUNT,
                    currency=CURRENCY,
                    method={"enum": ["face", "customer_qr", "merchant_qr"]},
                    token={
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 512,
                        "pattern": "^[A-Za-z0-9._-]+$",
                    },
                ),
            )
        },
        "/v1/devices/{device_id}/authorizations/{auth_id}:void": {
            "post": _device_op(
                "void an authorisation's hold",
                200,
                AUTHORIZATION,
                extra_params=[_path_param("auth_id")],
            )
        },
        "/v1/devices/{device_id}/gallery": {
            "get": _device_op(
                "gallery changes after a cursor",
                200,
                _obj(
                    ["changes", "cursor"],
                    changes={"type": "array", "items": GALLERY_CHANGE},
                    cursor={"type": "integer"},
                ),
                extra_params=[
                    {"name": "cursor", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
            )
        },
        "/v1/devices/{device_id}/gallery:ack": {
            "post": _device_op(
                "confirm gallery changes (and deletions) applied on this kiosk",
                200,
                {"type": "object"},
                body=_obj(
                    ["cursor"],
                    cursor={"type": "integer", "minimum": 0},
                    deleted_customer_ids={"type": "array", "items": ID},
                ),
            )
        },
        "/v1/devices/{device_id}/enrollments": {
            "post": _device_op(
                "a face enrolled on this kiosk, with the customer's consent",
                201,
                {"type": "object"},
                body=_obj(
                    ["customer_id", "name", "template_b64", "consent"],
                    customer_id=ID,
                    enrolment_id=ID,
                    name=TEXT,
                    template_b64={"type": "string", "description": "128 float32 LE, base64"},
                    step_up_salt={"type": "string", "nullable": True},
                    step_up_hash={"type": "string", "nullable": True},
                    currency=CURRENCY,
                    consent=_obj(
                        ["text_version", "accepted_at", "kiosk_id"],
                        text_version=TEXT,
                        accepted_at={"type": "string", "minLength": 1, "maxLength": 40},
                        kiosk_id=ID,
                    ),
                ),
            )
        },
        "/v1/devices/{device_id}/step-up:check": {
            "post": _device_op(
                "check a customer's step-up digits (attempt-limited; never sent to kiosks)",
                200,
                {"type": "object"},
                body=_obj(["customer_id", "digits"], customer_id=ID, digits=DIGITS),
            )
        },
        "/v1/devices/{device_id}/face-deletions": {
            "post": _device_op(
                "a customer deletes their face data, proved by step-up digits or their token",
                202,
                DELETION,
                body=_obj(
                    ["customer_id"],
                    customer_id=ID,
                    step_up_digits=DIGITS,
                    token={"type": "string", "minLength": 1, "maxLength": 2000},
                    proven_at_ms={"type": "integer", "minimum": 0},
                ),
            )
        },
        "/v1/devices/{device_id}/config": {
            "get": _device_op(
                "offline limits and ledger time",
                200,
                _obj(
                    ["limits", "ledger_time_ms"], limits=LIMITS, ledger_time_ms={"type": "integer"}
                ),
            )
        },
        "/v1/customers": {
            "get": _admin_op("customers in id order", 200, {"type": "object"}),
            "post": _admin_op(
                "create a customer",
                201,
                _obj(["customer_id"], customer_id={"type": "string"}),
                body=_obj(["name", "currency"], customer_id=ID, name=TEXT, currency=CURRENCY),
            ),
        },
        "/v1/customers/{customer_id}/topups": {
            "post": _admin_op(
                "fund a wallet (idempotent on reference)",
                201,
                {"type": "object"},
                params=customer,
                body=_obj(
                    ["amount_minor", "currency", "reference"],
                    amount_minor=AMOUNT,
                    currency=CURRENCY,
                    reference=TEXT,
                ),
            )
        },
        "/v1/customers/{customer_id}/tokens": {
            "post": _admin_op(
                "issue a signed customer token",
                201,
                _obj(
                    ["customer_id", "token", "expires_at"],
                    customer_id={"type": "string"},
                    token={"type": "string"},
                    expires_at={"type": "integer"},
                ),
                params=customer,
                body=_obj([], ttl_s={"type": "integer", "minimum": 1, "maximum": 600}),
            )
        },
        "/v1/registration-codes": {
            "post": _admin_op(
                "mint a single-use registration code for one kiosk",
                201,
                _obj(
                    ["code", "merchant_id", "store_id", "expires_at_ms"],
                    code={"type": "string"},
                    merchant_id={"type": "string", "nullable": True},
                    store_id={"type": "string", "nullable": True},
                    expires_at_ms={"type": "integer"},
                ),
                body=_obj(
                    [],
                    merchant_id=ID,
                    store_id=ID,
                    expires_in_s={"type": "integer", "minimum": 1, "maximum": 2592000},
                ),
            )
        },
        "/v1/review": {
            "get": _admin_op(
                "sales booked to the review account, newest first",
                200,
                _obj(["review"], review={"type": "array", "items": {"type": "object"}}),
                params=[
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    }
                ],
            )
        },
        "/v1/customers/{customer_id}": {
            "get": _admin_op(
                "balance, holds, settle-later debt, erasure status", 200, CUSTOMER, params=customer
            ),
            "delete": _admin_op(
                "erase a customer (queued for every kiosk)", 202, DELETION, params=customer
            ),
        },
    }


def _refund_paths() -> dict[str, Any]:
    from sync.ledger.refunds_http import openapi_paths

    return openapi_paths()


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the ledger's HTTP API."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "smilepay ledger",
            "version": "1",
            "description": "Device and operator API; see sync/PROTOCOL.md and base/wire.py.",
        },
        "paths": {**_paths(), **_refund_paths()},
    }
