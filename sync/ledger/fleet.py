"""The fleet as the ledger sees it: per device, when it was last heard from, how many sales it
still holds, gaps and chain breaks in what arrived, its clock offset, and whether it is revoked.

Last-seen, backlog and clock offset come from the devices' own authenticated requests and are
kept in memory (`FleetTelemetry`): they are live readings, lost on restart and per worker
process with `--workers N`. Gaps, chain breaks and revocation come from the database."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from base import wire
from sync.ledger.reports import missing_ranges
from sync.ledger.tables import anomalies, batches, devices


@dataclass
class DeviceReading:
    """The last live reading from one device."""

    last_seen_s: float
    clock_offset_s: float | None = None
    backlog: int | None = None


class FleetTelemetry:
    """Live readings per device, updated after each of its requests the ledger accepted."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._readings: dict[str, DeviceReading] = {}
        self._lock = threading.Lock()

    def observe(self, device_id: str, headers: Any) -> None:
        """Note an authenticated request: when, the device's clock offset (its signed request
        timestamp minus ledger time, 1 s resolution) and its backlog if it sent one."""
        now = self.clock()
        offset = _offset(headers.get(wire.HEADER_TIMESTAMP), now)
        backlog = _count(headers.get(wire.HEADER_BACKLOG))
        with self._lock:
            reading = self._readings.setdefault(device_id, DeviceReading(now))
            reading.last_seen_s = now
            reading.clock_offset_s = offset if offset is not None else reading.clock_offset_s
            reading.backlog = backlog if backlog is not None else reading.backlog

    def readings(self) -> dict[str, DeviceReading]:
        """A copy of every device's last reading."""
        with self._lock:
            return {k: DeviceReading(**vars(v)) for k, v in self._readings.items()}


def _offset(timestamp: str | None, now: float) -> float | None:
    if timestamp is None or not timestamp.isdigit():
        return None
    return float(int(timestamp) - round(now))


def _count(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def observed(
    telemetry: FleetTelemetry, run: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a device route: after a successful (so authenticated) answer, note the reading."""

    async def wrapped(request: Request) -> Response:
        response = await run(request)
        if response.status_code < 300:
            telemetry.observe(request.path_params["device_id"], request.headers)
        return response

    return wrapped


def fleet_rows(conn: Connection, readings: dict[str, DeviceReading]) -> list[dict[str, Any]]:
    """One row per registered device, with the database's and the live view merged."""
    last_batch: dict[str, int] = dict(
        conn.execute(
            select(batches.c.device_id, func.max(batches.c.received_ms)).group_by(
                batches.c.device_id
            )
        ).all()
    )
    breaks: dict[str, int] = dict(
        conn.execute(
            select(anomalies.c.device_id, func.count())
            .where(anomalies.c.kind == "chain_break")
            .group_by(anomalies.c.device_id)
        ).all()
    )
    rows = []
    for device in conn.execute(select(devices).order_by(devices.c.device_id)):
        reading = readings.get(device.device_id)
        batch_ms = last_batch.get(device.device_id)
        seen = [t for t in (reading and reading.last_seen_s, batch_ms and batch_ms / 1000) if t]
        gaps = missing_ranges(conn, device.device_id)
        rows.append(
            {
                "device_id": device.device_id,
                "name": device.name,
                "merchant_id": device.merchant_id,
                "store_id": device.store_id,
                "last_seen_s": max(seen) if seen else None,
                "last_seq": int(device.last_seq),
                "backlog": reading.backlog if reading else None,
                "gaps": gaps,
                "missing_sales": sum(b - a + 1 for a, b in gaps),
                "chain_breaks": int(breaks.get(device.device_id, 0)),
                "clock_offset_s": reading.clock_offset_s if reading else None,
                "revoked": device.revoked_ms is not None,
            }
        )
    return rows


# --- the page -------------------------------------------------------------------------------

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>smilepay fleet</title><style>
body{{font-family:system-ui,sans-serif;margin:1.5rem}}table{{border-collapse:collapse}}
th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}}
.bad{{color:#b00020;font-weight:600}}</style></head><body>
<h1>Fleet</h1><p>{count} devices, as of {now} UTC. Backlog and clock offset are the devices'
last reports to this ledger process.</p>
<table><thead><tr><th>device</th><th>name</th><th>store</th><th>last seen</th><th>backlog</th>
<th>gaps</th><th>chain breaks</th><th>clock offset</th><th>state</th></tr></thead>
<tbody>{rows}</tbody></table></body></html>"""


def render_fleet(rows: list[dict[str, Any]], now_s: float) -> str:
    """The fleet page's HTML (every value escaped)."""
    body = "".join(_row_html(row, now_s) for row in rows)
    return PAGE.format(count=len(rows), now=_utc(now_s), rows=body)


def _row_html(row: dict[str, Any], now_s: float) -> str:
    seen = row["last_seen_s"]
    ago = "never" if seen is None else f"{_utc(seen)} ({now_s - seen:.0f} s ago)"
    offset = row["clock_offset_s"]
    cells = [
        (row["device_id"], False),
        (row["name"], False),
        (f"{row['merchant_id']} / {row['store_id']}", False),
        (ago, seen is None),
        ("unknown" if row["backlog"] is None else str(row["backlog"]), False),
        (_gaps_text(row["gaps"]), bool(row["gaps"])),
        (str(row["chain_breaks"]), row["chain_breaks"] > 0),
        (
            "unknown" if offset is None else f"{offset:+.0f} s",
            offset is not None and abs(offset) > 5,
        ),
        ("revoked" if row["revoked"] else "active", row["revoked"]),
    ]
    tds = "".join(
        f"<td{' class=bad' if bad else ''}>{html.escape(text)}</td>" for text, bad in cells
    )
    return f"<tr>{tds}</tr>"


def _gaps_text(gaps: list[list[int]]) -> str:
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in gaps) or "none"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def fleet_response(rows: list[dict[str, Any]], now_s: float, request: Request) -> Response:
    """HTML for a browser, JSON when asked for (`Accept: application/json` or `?format=json`)."""
    wants_json = request.query_params.get("format") == "json" or "application/json" in (
        request.headers.get("accept", "")
    )
    if wants_json:
        return JSONResponse({"devices": rows, "ledger_time_s": now_s})
    return HTMLResponse(render_fleet(rows, now_s))
