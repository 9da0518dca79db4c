"""The screen's view model and the operator's health report, built from a running kiosk."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from device.checkout import Phase, State
from device.ports import ScreenView

if TYPE_CHECKING:
    from device.app import Kiosk

FACE_BOX_PHASES = {Phase.FACE_CAPTURE, Phase.SMILE_PROMPT}


def money_text(amount_minor: int, minor_digits: int = 2) -> str:
    """12.50 from 1250 (minor_digits decimal places)."""
    if minor_digits == 0:
        return str(amount_minor)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**minor_digits)
    return f"{sign}{whole}.{fraction:0{minor_digits}d}"


def state_view(
    state: State,
    currency: str,
    *,
    face_box: list[float] | None = None,
    frame_size: list[int] | None = None,
    merchant_qr_svg: str | None = None,
) -> ScreenView:
    """The part of the view model that follows from the checkout state (JSON-able values)."""
    return {
        "phase": state.phase.value,
        "items": [
            {
                "name": i.name,
                "quantity": i.quantity,
                "unit_minor": i.unit_minor,
                "amount_minor": i.amount_minor,
            }
            for i in state.items
        ],
        "total_minor": state.total_minor,
        "currency": currency,
        "total_text": money_text(state.total_minor),
        "method": state.method.value if state.method else None,
        "guidance": state.guidance,
        "face_box": face_box if state.phase in FACE_BOX_PHASES else None,
        "frame_size": frame_size,
        "notice": state.notice,
        "match_name": state.match.name if state.match else None,
        "step_up_attempts": state.step_up_attempts,
        "merchant_qr_svg": merchant_qr_svg if state.phase == Phase.MERCHANT_QR else None,
        "sale_id": state.sale_id,
        "offline": state.offline,
        "settle_later": state.settle_later,
        "camera_ok": state.camera_ok,
    }


def build_view(kiosk: Kiosk) -> ScreenView:
    """Everything the customer screen shows, as plain JSON-able values."""
    camera = kiosk.camera_loop
    frame = camera.latest if camera else None
    view = state_view(
        kiosk.state,
        kiosk.config.device.currency,
        face_box=_face_box(kiosk),
        frame_size=[frame.image.shape[1], frame.image.shape[0]] if frame else None,
        merchant_qr_svg=kiosk.merchant_qr_svg,
    )
    methods = {"methods": list(kiosk.allowed_methods), "terminal_mode": kiosk.terminal_mode}
    return {**view, **_link(kiosk), **methods}


def _face_box(kiosk: Kiosk) -> list[float] | None:
    box = kiosk.camera_loop.face_box if kiosk.camera_loop else None
    return [float(v) for v in box] if box else None


def _link(kiosk: Kiosk) -> dict[str, Any]:
    """Online status, unsynced backlog, and what offline selling may still take."""
    status = kiosk.queue_status()
    limits = kiosk.config.limits
    backlog_amount = int(getattr(status, "backlog_amount_minor", 0) or 0)
    backlog_count = int(getattr(status, "backlog_count", 0) or 0)
    return {
        "online": kiosk.link_online(),
        "backlog": {
            "count": backlog_count,
            "amount_minor": backlog_amount,
            "oldest_age_s": getattr(status, "oldest_unsynced_age_s", None),
        },
        "limits_left": {
            "amount_minor": max(limits.unsynced_total_max - backlog_amount, 0),
            "count": max(limits.unsynced_count_max - backlog_count, 0),
        },
    }


def health_of(kiosk: Kiosk) -> dict[str, Any]:
    """Operator status: each part, and how long since each loop last ran."""
    now = time.monotonic()
    camera = kiosk.camera_loop
    scanner = kiosk.scanner_loop
    printer = kiosk.drivers.printer
    status = kiosk.queue_status()
    return {
        "checkout_heartbeat_age_s": round(now - kiosk.heartbeat, 3),
        "camera": None
        if camera is None
        else {
            "state": camera.camera.status.state,
            "reason": camera.camera.status.reason,
            "heartbeat_age_s": round(now - camera.heartbeat, 3),
        },
        "scanner": None
        if scanner is None
        else {"available": scanner.available, "last_error": scanner.last_error},
        "printer": None if printer is None else str(printer.status()),
        "queue": {
            "backlog_count": getattr(status, "backlog_count", None),
            "backlog_amount_minor": getattr(status, "backlog_amount_minor", None),
            "oldest_unsynced_age_s": getattr(status, "oldest_unsynced_age_s", None),
            "rejected_count": getattr(status, "rejected_count", None),
        },
        "sync": kiosk.sync_status(),
        "phase": kiosk.state.phase.value,
    }
