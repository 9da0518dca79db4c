"""The ledger's operations routes: `/metrics` (Prometheus), `/fleet` (the devices at a glance)
and `/r/{sale_id}` (the public receipt page a receipt's QR code opens)."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.ledger import receipt_page
from sync.ledger.errors import Unauthorized
from sync.ledger.fleet import FleetTelemetry, fleet_response, fleet_rows
from sync.ledger.metrics import CONTENT_TYPE, LedgerMetrics, check_operator

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="smilepay operator", charset="UTF-8"'}


class OpsRoutes:
    """Handlers sharing the ledger, its metrics and the fleet readings."""

    def __init__(
        self,
        ledger: Any,
        metrics: LedgerMetrics,
        telemetry: FleetTelemetry,
        metrics_token: str | None,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.telemetry = telemetry
        self.metrics_token = metrics_token

    def routes(self) -> list[Route]:
        """The routes to add to the ledger's application."""
        return [
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            Route("/fleet", self.fleet_endpoint, methods=["GET"]),
            Route("/r/{sale_id}", self.receipt_endpoint, methods=["GET"]),
        ]

    async def metrics_endpoint(self, request: Request) -> Response:
        """Prometheus text format; the operator token or the metrics token."""
        denied = self._denied(request, [self.ledger.admin_token, self.metrics_token])
        if denied is not None:
            return denied
        body = await run_in_threadpool(self.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE)

    async def fleet_endpoint(self, request: Request) -> Response:
        """Every device: last seen, backlog, gaps, chain breaks, clock offset, revoked."""
        denied = self._denied(request, [self.ledger.admin_token])
        if denied is not None:
            return denied

        def rows() -> list[dict[str, Any]]:
            with self.ledger.engine.connect() as conn:
                return fleet_rows(conn, self.telemetry.readings())

        return fleet_response(await run_in_threadpool(rows), time.time(), request)

    async def receipt_endpoint(self, request: Request) -> Response:
        """Public: anyone holding the receipt (its unguessable sale id) may look."""
        sale_id = request.path_params["sale_id"]
        if not receipt_page.SALE_ID.match(sale_id):
            return receipt_page.bad_id_page()

        def view() -> dict[str, Any] | None:
            with self.ledger.engine.connect() as conn:
                return receipt_page.receipt_view(conn, sale_id)

        found = await run_in_threadpool(view)
        if found is None:
            return receipt_page.not_synced_page(sale_id)
        return receipt_page.receipt_page(found, time.time())

    @staticmethod
    def _denied(request: Request, tokens: list[str | None]) -> Response | None:
        try:
            check_operator(request, tokens)
        except Unauthorized as exc:
            body = {"error": exc.code, "reason": exc.reason}
            return JSONResponse(body, status_code=401, headers=BASIC_CHALLENGE)
        return None
