"""The operator page's refund action: recent sales with what remains of each, and a refund that
needs an operator session and the PIN again (refunds move money). Mounted by the screen server;
refunds go through the same RefundDesk as the POS's, under the POS id "operator"."""

from __future__ import annotations

from collections import deque
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from device.terminal.messages import ApiError, RefundRequest, parse

OPERATOR_POS = "operator"
RECENT = 20


def operator_refund_routes(screen: Any) -> list[Route]:
    """Routes for the screen server (`screen` has .kiosk, .sessions and .gates)."""
    from device.screen.server import SESSION_COOKIE, client_key

    def logged_in(request: Request) -> bool:
        return bool(screen.sessions.valid(request.cookies.get(SESSION_COOKIE)))

    async def recent_sales(request: Request) -> Response:
        if not logged_in(request):
            return _refused(401, "operator login required")
        sales = await run_in_threadpool(recent_sales_of, screen.kiosk)
        return JSONResponse({"sales": sales}, headers={"Cache-Control": "no-store"})

    async def refund(request: Request) -> Response:
        if not logged_in(request):
            return _refused(401, "operator login required")
        desk = getattr(screen.kiosk, "refund_desk", None)
        if desk is None or screen.gates is None:
            return _refused(503, "refunds need the terminal service and an operator PIN")
        body = await request.body()
        try:
            document = parse_pin(body)
            verdict = screen.gates.attempt(client_key(request), document.pop("pin"))
            if not verdict.ok:
                return _refused(401 if not verdict.retry_after_s else 429, "wrong PIN")
            wanted = parse(RefundRequest, _json(document))
            outcome = await run_in_threadpool(desk.refund, OPERATOR_POS, wanted)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(outcome)

    return [
        Route("/api/operator/sales", recent_sales),
        Route("/api/operator/refunds", refund, methods=["POST"]),
    ]


def recent_sales_of(kiosk: Any) -> list[dict[str, Any]]:
    """The newest sales first, with what this kiosk has refunded of each."""
    newest: deque[Any] = deque(maxlen=RECENT)
    for stored in kiosk.services.queue.records():
        newest.append(stored)
    desk = getattr(kiosk, "refund_desk", None)
    out = []
    for stored in reversed(newest):
        record = stored.record()
        refunded = desk.queue.refunded_minor(stored.sale_id) if desk else 0
        out.append(
            {
                "sale_id": stored.sale_id,
                "wall_time": record["wall_time"],
                "amount_minor": stored.amount_minor,
                "currency": record["currency"],
                "method": record["method"],
                "offline": stored.offline,
                "synced": stored.state != "pending",
                "refunded_minor": refunded,
                "remaining_minor": stored.amount_minor - refunded,
            }
        )
    return out


def parse_pin(body: bytes) -> dict[str, Any]:
    """The body as a dict with a string `pin`, or ApiError 422."""
    import json

    try:
        document = json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, "bad_json", "the body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("pin"), str):
        raise ApiError(422, "invalid_field", "the operator PIN is required", "pin")
    return document


def _json(document: dict[str, Any]) -> bytes:
    import json

    return json.dumps(document).encode()


def _refused(status: int, reason: str) -> Response:
    return JSONResponse({"error": "refused", "field": None, "reason": reason}, status_code=status)
