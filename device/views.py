"""The screen's view model and the operator's health report, built from a running kiosk."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from device.checkout import Method, Phase, State, next_timeout
from device.money import amount_text, minor_digits
from device.ports import (
    BacklogView,
    CameraHealth,
    HealthReport,
    LimitsLeft,
    LinkHealth,
    QueueHealth,
    ScannerHealth,
    ScreenView,
)

if TYPE_CHECKING:
    from base.limits import OfflineLimits
    from device.app import Kiosk
    from sync.queue.sale_queue import QueueStatus

FACE_BOX_PHASES = {Phase.FACE_CAPTURE, Phase.SMILE_PROMPT}
NO_BACKLOG: BacklogView = {"count": 0, "amount_minor": 0, "oldest_age_s": None}
ALL_METHODS = tuple(m.value for m in Method)


def masked_name(name: str | None) -> str | None:
    """ "E. A***" from "Eileen Astronaut": enough for the customer to know it is them, not enough
    for anyone behind them to learn their name."""
    if not name:
        return None
    words = [w for w in (re.sub(r"[^\w]", "", part) for part in name.split()) if w]
    if not words:
        return None
    if len(words) == 1:
        return f"{words[0][0].upper()}***"
    return f"{words[0][0].upper()}. {words[-1][0].upper()}***"


def state_view(
    state: State,
    currency: str,
    *,
    now: float | None = None,
    online: bool = True,
    backlog: BacklogView = NO_BACKLOG,
    face_box: list[float] | None = None,
    frame_size: list[int] | None = None,
    merchant_qr_svg: str | None = None,
    methods: tuple[str, ...] = ALL_METHODS,
    terminal_mode: bool = False,
) -> ScreenView:
    """The screen's view of a checkout state (JSON-able values); `now` is on the state's clock."""
    ahead = None if now is None else next_timeout(state, now)
    return {
        "phase": state.phase.value,
        "items": [
            {
                "item_id": i.item_id,
                "name": i.name,
                "quantity": i.quantity,
                "unit_minor": i.unit_minor,
                "amount_minor": i.amount_minor,
            }
            for i in state.items
        ],
        "total_minor": state.total_minor,
        "currency": currency,
        "minor_digits": minor_digits(currency),
        "total_text": amount_text(state.total_minor, currency),
        "method": state.method.value if state.method else None,
        "guidance": state.guidance,
        "face_box": face_box if state.phase in FACE_BOX_PHASES else None,
        "frame_size": frame_size,
        "reason": state.reason,
        "notice": state.notice,
        "match_name": masked_name(state.match.name) if state.match else None,
        "step_up_attempts": state.step_up_attempts,
        "merchant_qr_svg": merchant_qr_svg if state.phase == Phase.MERCHANT_QR else None,
        "sale_id": state.sale_id,
        "offline": state.offline,
        "camera_ok": state.camera_ok,
        "seconds_left": None if ahead is None else round(ahead[0], 1),
        "timeout_to": None if ahead is None else ahead[1].value,
        "online": online,
        "backlog": backlog,
        "methods": list(methods),
        "terminal_mode": terminal_mode,
    }


def build_view(kiosk: Kiosk) -> ScreenView:
    """Everything the customer screen shows, as plain JSON-able values."""
    camera = kiosk.camera_loop
    frame = camera.latest if camera else None
    return state_view(
        kiosk.state,
        kiosk.config.device.currency,
        now=kiosk.clock(),
        online=kiosk.link_online(),
        backlog=backlog_of(kiosk.queue_status()),
        face_box=_face_box(kiosk),
        frame_size=[frame.image.shape[1], frame.image.shape[0]] if frame else None,
        merchant_qr_svg=kiosk.merchant_qr_svg,
        methods=kiosk.allowed_methods,
        terminal_mode=kiosk.terminal_mode,
    )


def _face_box(kiosk: Kiosk) -> list[float] | None:
    box = kiosk.camera_loop.face_box if kiosk.camera_loop else None
    return [float(v) for v in box] if box else None


def backlog_of(status: QueueStatus) -> BacklogView:
    """The backlog part of a sync.queue status."""
    return {
        "count": int(status.backlog_count or 0),
        "amount_minor": int(status.backlog_amount_minor or 0),
        "oldest_age_s": status.oldest_unsynced_age_s,
    }


def queue_health(status: QueueStatus) -> QueueHealth:
    """The queue part of the health report, from a sync.queue status."""
    return {
        "backlog_count": int(status.backlog_count or 0),
        "backlog_amount_minor": int(status.backlog_amount_minor or 0),
        "oldest_unsynced_age_s": status.oldest_unsynced_age_s,
        "rejected_count": int(status.rejected_count or 0),
    }


def limits_left(limits: OfflineLimits, queue: QueueHealth) -> LimitsLeft:
    """What offline selling may still take, given the backlog."""
    return {
        "amount_minor": max(limits.unsynced_total_max - queue["backlog_amount_minor"], 0),
        "count": max(limits.unsynced_count_max - queue["backlog_count"], 0),
    }


@dataclass(frozen=True)
class HealthParts:
    """What a health report is made of (so a test double reports in the same shape)."""

    phase: Phase
    currency: str
    heartbeat_age_s: float
    camera: CameraHealth | None
    scanner: ScannerHealth | None
    printer: str | None
    queue: QueueHealth
    link: LinkHealth
    limits: OfflineLimits
    sync: dict[str, Any]


def health_report(parts: HealthParts) -> HealthReport:
    """The operator's report from its parts."""
    return {
        "phase": parts.phase.value,
        "currency": parts.currency,
        "checkout_heartbeat_age_s": round(parts.heartbeat_age_s, 3),
        "camera": parts.camera,
        "scanner": parts.scanner,
        "printer": parts.printer,
        "queue": parts.queue,
        "link": parts.link,
        "limits_left": limits_left(parts.limits, parts.queue),
        "sync": parts.sync,
    }


def health_of(kiosk: Kiosk) -> HealthReport:
    """Operator status: each part, and how long since each loop last ran."""
    now = time.monotonic()
    camera, scanner, printer = kiosk.camera_loop, kiosk.scanner_loop, kiosk.drivers.printer
    camera_health: CameraHealth | None = None
    if camera is not None:
        status = camera.camera.status
        age = round(now - camera.heartbeat, 3)
        camera_health = {"state": status.state, "reason": status.reason, "heartbeat_age_s": age}
    scanner_health: ScannerHealth | None = None
    if scanner is not None:
        scanner_health = {"available": scanner.available, "last_error": scanner.last_error}
    parts = HealthParts(
        phase=kiosk.state.phase,
        currency=kiosk.config.device.currency,
        heartbeat_age_s=now - kiosk.heartbeat,
        camera=camera_health,
        scanner=scanner_health,
        printer=None if printer is None else str(printer.status()),
        queue=queue_health(kiosk.queue_status()),
        link=kiosk.link_health(),
        limits=kiosk.config.limits,
        sync=kiosk.sync_status(),
    )
    return health_report(parts)
