"""The ledger's refund endpoints (registered in sync/ledger/app.py's ROUTES)."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request

from sync.ledger import devices
from sync.ledger import refunds as rf
from sync.ledger.errors import BadRequest

log = logging.getLogger(__name__)


def post_refunds(ledger: Any, request: Request, body: bytes) -> tuple[int, Any]:
    """`POST /v1/devices/{device_id}/refunds:batch`: book a device's refund records in order."""
    device_id = request.path_params["device_id"]
    auth = ledger.authenticate(request, device_id, body)
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise BadRequest("bad_json", f"body is not JSON: {exc}") from None
    records = rf.parse_refunds(document, device_id, auth.device.public_key)

    def work(conn: Connection) -> list[dict[str, Any]]:
        device = devices.device_row(conn, device_id, lock=True)
        return rf.ingest_refunds(conn, device, records, ledger.now_ms())

    with ledger.batch_lock:
        results = ledger.device_transaction(auth, work)
    log.info("refunds ingested", extra={"device_id": device_id, "results": results})
    return 200, {"results": results, "ledger_time_ms": ledger.now_ms()}


def get_refundable(ledger: Any, request: Request, body: bytes) -> tuple[int, Any]:
    """`GET /v1/devices/{device_id}/sales/{sale_id}/refundable`: what remains of a sale."""
    device_id, sale_id = request.path_params["device_id"], request.path_params["sale_id"]
    auth = ledger.authenticate(request, device_id, body)
    return 200, ledger.device_transaction(
        auth, lambda conn: rf.refundable(conn, auth.device, sale_id)
    )


def openapi_paths() -> dict[str, Any]:
    """The refund endpoints' part of the ledger's OpenAPI document."""
    from sync.ledger.openapi import ID, _device_op, _obj, _path_param

    result = _obj(
        ["refund_id", "seq", "status"],
        refund_id={"type": "string"},
        seq={"type": "integer"},
        status={"enum": ["refunded", "refused", "waiting", "rejected"]},
        reason={"type": "string", "nullable": True},
        remaining_minor={"type": "integer", "nullable": True},
    )
    refundable = _obj(
        ["sale_id", "amount_minor", "currency", "remaining_minor"],
        sale_id={"type": "string"},
        amount_minor={"type": "integer"},
        currency={"type": "string"},
        status={"type": "string"},
        refunded_minor={"type": "integer"},
        remaining_minor={"type": "integer"},
    )
    batch = _obj(
        ["refunds"],
        refunds={"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "object"}},
    )
    answer = _obj(
        ["results", "ledger_time_ms"],
        results={"type": "array", "items": result},
        ledger_time_ms={"type": "integer"},
    )
    sale = {**_path_param("sale_id"), "schema": ID}
    return {
        "/v1/devices/{device_id}/refunds:batch": {
            "post": _device_op(
                "book signed refund records, in chain order", 200, answer, body=batch
            )
        },
        "/v1/devices/{device_id}/sales/{sale_id}/refundable": {
            "get": _device_op(
                "what remains to refund of a booked sale", 200, refundable, extra_params=[sale]
            )
        },
    }
