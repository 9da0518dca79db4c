"""A small real KioskPort built on the pure checkout machine `device.checkout.step`.

It applies step() to every action and builds the ScreenView from the state, exactly as the app
must; the pipeline outcomes a real kiosk would get from its camera, scanner and ledger are fed
in by the test through `feed()` and the helpers below (a simulator's test-facing API).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from device.checkout import (
    BasketItem,
    CheckoutRequested,
    Command,
    Event,
    FaceDecided,
    FaceGuidance,
    ItemAdded,
    ItemRemoved,
    KeypadEntered,
    Match,
    Method,
    PaymentChosen,
    SaleApproved,
    ShowMerchantQr,
    State,
    StepUpChecked,
    VerifyStepUp,
    step,
)
from device.checkout import Cancel as CancelEvent
from device.codes.render import render_qr_svg
from device.ports import ScreenView
from device.views import state_view

Listener = Callable[[ScreenView], None]


class StepKiosk:
    """KioskPort over step(); thread-safe; listeners get every new view."""

    def __init__(self, frame_jpeg: bytes | None = None, step_up_digits: str = "4321") -> None:
        self.state = State()
        self.commands: list[Command] = []
        self.online = True
        self.backlog: dict[str, Any] = {"count": 0, "amount_minor": 0, "oldest_age_s": None}
        self.limits_left = {"amount_minor": 20_000, "count": 20}
        self.face_box: list[float] | None = None
        self.frame_size = [640, 480]
        self.frame_jpeg = frame_jpeg
        self.step_up_digits = step_up_digits
        self.merchant_qr_svg: str | None = None
        self.sync_requests = 0
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []

    # --- KioskPort ----------------------------------------------------------------------------

    def view(self) -> ScreenView:
        with self._lock:
            return self._build_view()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)
        return lambda: self._unsubscribe(listener)

    def add_item(self, name: str, quantity: int, unit_minor: int) -> None:
        self.feed(ItemAdded(time.monotonic(), BasketItem(name, quantity, unit_minor)))

    def remove_item(self, index: int) -> None:
        self.feed(ItemRemoved(time.monotonic(), index))

    def pay(self) -> None:
        self.feed(CheckoutRequested(time.monotonic(), f"sale-{uuid.uuid4().hex[:12]}"))

    def choose_payment(self, method: str) -> None:
        self.feed(PaymentChosen(time.monotonic(), Method(method)))

    def enter_digits(self, digits: str) -> None:
        self.feed(KeypadEntered(time.monotonic(), digits))

    def cancel(self) -> None:
        self.feed(CancelEvent(time.monotonic()))

    def latest_frame_jpeg(self) -> bytes | None:
        return self.frame_jpeg

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "camera": "ok" if self.state.camera_ok else "unavailable",
                "scanner": "ok",
                "printer": "ok",
                "queue": {"backlog": dict(self.backlog)},
                "sync": {"online": self.online, "requests": self.sync_requests},
                "loop_heartbeat_age_s": 0.0,
            }

    def sync_now(self) -> None:
        with self._lock:
            self.sync_requests += 1

    # --- what the camera, face pipeline and ledger would report -------------------------------

    def feed(self, event: Event) -> None:
        """Apply one event, carry out the commands this fake world can, and notify listeners."""
        with self._lock:
            self.state, commands = step(self.state, event)
            self.commands.extend(commands)
            follow_ups = [self._carry_out(command) for command in commands]
            view = self._build_view()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(view)
        for follow_up in follow_ups:
            if follow_up is not None:
                self.feed(follow_up)

    def see_face(self, box: Sequence[float], guidance: str) -> None:
        """The face pipeline saw a face at `box` and advises `guidance`."""
        self.face_box = list(box)
        self.feed(FaceGuidance(time.monotonic(), guidance, face_present=True))

    def decide_face(self, kind: str, name: str = "Alex") -> None:
        """The face pipeline decided (pay / step_up / no_match / ...)."""
        match = Match("customer-1", name, 0.91, 0.2) if kind in {"pay", "step_up"} else None
        self.feed(FaceDecided(time.monotonic(), kind, match))

    def approve(self, offline: bool = False, settle_later: bool = False) -> None:
        """The ledger (or the offline queue) recorded the sale."""
        with self._lock:
            sale_id = self.state.sale_id or "sale"
            if offline:
                self.online = False
                self.backlog["count"] += 1
                self.backlog["amount_minor"] += self.state.total_minor
                self.limits_left["amount_minor"] -= self.state.total_minor
                self.limits_left["count"] -= 1
        self.feed(SaleApproved(time.monotonic(), sale_id, offline, settle_later))

    # --- internals ----------------------------------------------------------------------------

    def _carry_out(self, command: Command) -> Event | None:
        if isinstance(command, ShowMerchantQr):
            payload = f"smilepay:pay?sale={command.sale_id}&amount={command.amount_minor}"
            self.merchant_qr_svg = render_qr_svg(payload)
        if isinstance(command, VerifyStepUp):
            return StepUpChecked(time.monotonic(), command.digits == self.step_up_digits)
        return None

    def _unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _build_view(self) -> ScreenView:
        view = state_view(
            self.state,
            "EUR",
            face_box=self.face_box,
            frame_size=self.frame_size,
            merchant_qr_svg=self.merchant_qr_svg,
        )
        link = {
            "online": self.online,
            "backlog": dict(self.backlog),
            "limits_left": dict(self.limits_left),
        }
        return {**view, **link}
