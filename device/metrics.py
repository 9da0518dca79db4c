"""Prometheus metrics of the kiosk, all prefixed `smilepay_kiosk_`, on their own port with a
bearer token (`[metrics]` in the kiosk config; off unless a port is set).

Counters and timings are updated from the checkout's phase changes; phase, camera, queue and
sync readings are taken at scrape time from the kiosk's own status calls."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from base.errors import ConfigError
from device.checkout import Phase, State

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TIMING_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
FACE_PHASES = {Phase.FACE_CAPTURE, Phase.SMILE_PROMPT, Phase.STEP_UP}
QR_PHASES = {Phase.QR_WAIT, Phase.MERCHANT_QR}


class CheckoutMetrics:
    """Counters and timings fed by the checkout's phase changes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry or CollectorRegistry()
        self.sales = Counter(
            "smilepay_kiosk_sales",
            "Sales the kiosk approved",
            ["method", "mode"],
            registry=registry,
        )
        self.declines = Counter(
            "smilepay_kiosk_declines", "Sales declined at the kiosk", ["method"], registry=registry
        )
        self.face_seconds = Histogram(
            "smilepay_kiosk_face_seconds",
            "From the face capture starting to the customer identified",
            buckets=TIMING_BUCKETS,
            registry=registry,
        )
        self.qr_seconds = Histogram(
            "smilepay_kiosk_qr_seconds",
            "From the QR step starting to the code accepted",
            buckets=TIMING_BUCKETS,
            registry=registry,
        )
        self._entered: dict[str, float] = {}
        self._lock = threading.Lock()

    def transition(self, before: State, after: State, now: float) -> None:
        """Record one phase change (called from the checkout thread)."""
        with self._lock:
            if after.phase in FACE_PHASES and before.phase not in FACE_PHASES:
                self._entered["face"] = now
            if after.phase in QR_PHASES and before.phase not in QR_PHASES:
                self._entered["qr"] = now
            if after.phase == Phase.AUTHORIZING:
                self._finish_timing(before.phase, now)
        method = after.method.value if after.method else "unknown"
        if after.phase == Phase.APPROVED:
            self.sales.labels(method, "offline" if after.offline else "online").inc()
        elif after.phase == Phase.DECLINED:
            self.declines.labels(method).inc()

    def _finish_timing(self, came_from: Phase, now: float) -> None:
        if came_from in FACE_PHASES and "face" in self._entered:
            self.face_seconds.observe(now - self._entered.pop("face"))
        elif came_from in QR_PHASES and "qr" in self._entered:
            self.qr_seconds.observe(now - self._entered.pop("qr"))


class KioskCollector(Collector):
    """Gauges read from the kiosk when scraped."""

    def __init__(self, kiosk: Any) -> None:
        self.kiosk = kiosk

    def describe(self) -> Iterator[Metric]:
        return iter(_gauges())

    def collect(self) -> Iterator[Metric]:
        gauges = _gauges()
        phase, camera, backlog, amount, oldest, lag, online = gauges
        current = self.kiosk.state.phase
        for value in Phase:
            phase.add_metric([value.value], 1.0 if value == current else 0.0)
        loop = self.kiosk.camera_loop
        if loop is not None:
            camera.add_metric([loop.camera.status.state], 1.0)
        status = self.kiosk.queue_status()
        _add(backlog, getattr(status, "backlog_count", None))
        _add(amount, getattr(status, "backlog_amount_minor", None))
        _add(oldest, getattr(status, "oldest_unsynced_age_s", None) or 0.0)
        sync = self.kiosk.sync_status()
        last_ok = sync.get("last_ok_at")
        _add(lag, None if last_ok is None else max(time.time() - float(last_ok), 0.0))
        link = self.kiosk.link_online()
        _add(online, None if link is None else float(link))
        return iter(gauges)


def _gauges() -> list[GaugeMetricFamily]:
    return [
        GaugeMetricFamily(
            "smilepay_kiosk_phase", "1 for the checkout's current phase", labels=["phase"]
        ),
        GaugeMetricFamily(
            "smilepay_kiosk_camera_state",
            "1 for the camera's current state (running, lost, stopped...)",
            labels=["state"],
        ),
        GaugeMetricFamily("smilepay_kiosk_queue_backlog_sales", "Sales not yet synced"),
        GaugeMetricFamily(
            "smilepay_kiosk_queue_backlog_amount_minor", "Amount not yet synced (minor units)"
        ),
        GaugeMetricFamily(
            "smilepay_kiosk_queue_oldest_unsynced_seconds", "Age of the oldest unsynced sale"
        ),
        GaugeMetricFamily(
            "smilepay_kiosk_sync_lag_seconds", "Seconds since the sync agent last succeeded"
        ),
        GaugeMetricFamily("smilepay_kiosk_ledger_online", "1 if the ledger answered last time"),
    ]


def _add(family: GaugeMetricFamily, value: float | None) -> None:
    if value is not None:
        family.add_metric([], float(value))


def kiosk_registry(kiosk: Any, checkout: CheckoutMetrics) -> CollectorRegistry:
    """One kiosk's registry: its checkout metrics plus the scrape-time gauges."""
    checkout.registry.register(KioskCollector(kiosk))
    return checkout.registry


def metric_names() -> set[str]:
    """Every series name the kiosk exports (counters and histograms with their suffixes)."""
    registry = CollectorRegistry()
    CheckoutMetrics(registry)
    names = {f.name for f in _gauges()}
    for family in registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "count", "sum", "created")}
    return names


KIOSK_METRIC_NAMES = metric_names()


def read_metrics_token(path: Path) -> str:
    """The scrape token; ConfigError if the file is missing, short or readable by others."""
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"metrics.token_file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"metrics.token_file {path}: must be mode 0600 (chmod 600 {path})")
    if len(token) < 16:
        raise ConfigError(f"metrics.token_file {path}: the token must be at least 16 characters")
    return token


def metrics_app(registry: CollectorRegistry, token: str) -> Any:
    """A tiny Starlette app: `GET /metrics` with `Authorization: Bearer <token>`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return PlainTextResponse("missing or wrong metrics token\n", status_code=401)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])
