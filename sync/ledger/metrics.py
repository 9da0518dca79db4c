"""Prometheus metrics of the ledger (`GET /metrics`), all prefixed `smilepay_ledger_`.

Money and sale counts are read from the database at scrape time, so every worker process and a
restarted ledger report the same totals; batch latency and the devices' live readings
(last seen, backlog, clock offset) are this process's own (see sync.ledger.fleet)."""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, inspect, select
from starlette.requests import Request

from sync.ledger.errors import Unauthorized
from sync.ledger.fleet import FleetTelemetry, fleet_rows
from sync.ledger.tables import anomalies, sales

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LedgerCollector(Collector):
    """Counters and gauges computed from the database and the fleet readings at scrape time."""

    def __init__(self, engine: Engine, telemetry: FleetTelemetry) -> None:
        self.engine = engine
        self.telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            yield from _sale_counters(conn)
            yield _refunds(conn)
            yield _anomaly_counter(conn)
            yield from _device_gauges(fleet_rows(conn, self.telemetry.readings()))


def _sale_counters(conn: Any) -> Iterator[Metric]:
    counts = conn.execute(
        select(sales.c.status, sales.c.currency, func.count(), func.sum(sales.c.amount_minor))
        .group_by(sales.c.status, sales.c.currency)
        .order_by(sales.c.status, sales.c.currency)
    ).all()
    booked = CounterMetricFamily(
        "smilepay_ledger_sales", "Sales booked by the ledger, by status", labels=["status"]
    )
    amount = CounterMetricFamily(
        "smilepay_ledger_sales_amount_minor",
        "Amount of accepted sales in minor units (cents)",
        labels=["currency"],
    )
    declines = CounterMetricFamily(
        "smilepay_ledger_declines", "Sales the ledger declined (no funds, revoked customer, ...)"
    )
    by_status: dict[str, int] = {"accepted": 0, "declined": 0}
    for status, currency, count, total in counts:
        by_status[status] = by_status.get(status, 0) + int(count)
        if status == "accepted":
            amount.add_metric([currency], int(total or 0))
    for status, count in sorted(by_status.items()):
        booked.add_metric([status], count)
    declines.add_metric([], by_status.get("declined", 0))
    return iter((booked, amount, declines))


def _refunds(conn: Any) -> Metric:
    """Refunds booked, from a `refunds` table when this ledger's schema has one."""
    refunds = CounterMetricFamily("smilepay_ledger_refunds", "Refunds booked by the ledger")
    has_table = inspect(conn).has_table("refunds")
    count = conn.exec_driver_sql("SELECT count(*) FROM refunds").scalar() if has_table else 0
    refunds.add_metric([], int(count or 0))
    return refunds


def _anomaly_counter(conn: Any) -> Metric:
    """Anomalies waiting for an operator's review (gaps, chain breaks, rejected sales...)."""
    review = CounterMetricFamily(
        "smilepay_ledger_review_items", "Anomalies recorded for operator review", labels=["kind"]
    )
    query = select(anomalies.c.kind, func.count()).group_by(anomalies.c.kind)
    for kind, count in conn.execute(query.order_by(anomalies.c.kind)):
        review.add_metric([kind], int(count))
    return review


def _device_gauges(rows: list[dict[str, Any]]) -> Iterator[Metric]:
    families = {
        "last_seen_s": GaugeMetricFamily(
            "smilepay_ledger_device_last_seen_timestamp_seconds",
            "When the device was last heard from (Unix time)",
            labels=["device_id"],
        ),
        "backlog": GaugeMetricFamily(
            "smilepay_ledger_device_backlog_sales",
            "Sales the device reported still queued after its last batch",
            labels=["device_id"],
        ),
        "clock_offset_s": GaugeMetricFamily(
            "smilepay_ledger_device_clock_offset_seconds",
            "Device clock minus ledger clock at its last request (1 s resolution)",
            labels=["device_id"],
        ),
        "missing_sales": GaugeMetricFamily(
            "smilepay_ledger_device_missing_sales",
            "Sales never received below the device's highest booked seq (gaps)",
            labels=["device_id"],
        ),
        "chain_breaks": GaugeMetricFamily(
            "smilepay_ledger_device_chain_breaks",
            "Chain breaks recorded for the device",
            labels=["device_id"],
        ),
        "revoked": GaugeMetricFamily(
            "smilepay_ledger_device_revoked", "1 if the device is revoked", labels=["device_id"]
        ),
    }
    for row in rows:
        for key, family in families.items():
            if row[key] is not None:
                family.add_metric([row["device_id"]], float(row[key]))
    return iter(families.values())


class LedgerMetrics:
    """The ledger's registry: the collector above plus this process's batch latency."""

    def __init__(self, engine: Engine, telemetry: FleetTelemetry) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(LedgerCollector(engine, telemetry))
        self.batch_seconds = Histogram(
            "smilepay_ledger_batch_seconds",
            "Time to check and book one batch of sales (this process)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )

    def timed(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap the batch handler so each call's duration lands in the histogram."""

        def run(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return handler(*args)
            finally:
                self.batch_seconds.observe(time.perf_counter() - started)

        return run

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


def check_operator(request: Request, tokens: list[str | None]) -> None:
    """Allow a request carrying any configured token as `Bearer TOKEN` or as the password of
    HTTP Basic auth (what a browser prompts for); open only when no token is configured."""
    configured = [t for t in tokens if t]
    if not configured:
        return
    given = _presented_token(request.headers.get("authorization", ""))
    if given is None or not any(
        hmac.compare_digest(given.encode(), t.encode()) for t in configured
    ):
        raise Unauthorized("bad_token", "missing or wrong operator token")


def _presented_token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None
