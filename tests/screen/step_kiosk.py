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

from base.errors import SmilepayError
from base.limits import OfflineLimits
from device.catalogue import CatalogueConfig, CatalogueItem
from device.checkout import (
    Back,
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
    QuantityChanged,
    SaleApproved,
    ShowMerchantQr,
    State,
    StepUpChecked,
    StillHere,
    VerifyStepUp,
    step,
)
from device.checkout import Cancel as CancelEvent
from device.codes.render import render_qr_svg
from device.consent import CONSENT_VERSION
from device.ports import BacklogView, CatalogueEntry, HealthReport, ScreenView
from device.views import ALL_METHODS, HealthParts, health_report, state_view

DEMO_SHELF = CatalogueConfig(
    items=(
        CatalogueItem(id="tea", name="Green tea", unit_minor=250),
        CatalogueItem(id="bun", name="Sesame bun", unit_minor=750),
    )
)

Listener = Callable[[ScreenView], None]


class StepKiosk:
    """KioskPort over step(); thread-safe; listeners get every new view."""

    def __init__(
        self,
        frame_jpeg: bytes | None = None,
        step_up_digits: str = "4321",
        catalogue: CatalogueConfig = DEMO_SHELF,
        currency: str = "EUR",
    ) -> None:
        self.state = State()
        self.commands: list[Command] = []
        self.online = True
        self.backlog: BacklogView = {"count": 0, "amount_minor": 0, "oldest_age_s": None}
        self.limits = OfflineLimits(unsynced_total_max=20_000, unsynced_count_max=20)
        self.shelf = catalogue
        self.currency = currency
        self.consents: list[str] = []
        self.face_box: list[float] | None = None
        self.methods: tuple[str, ...] = ALL_METHODS  # terminal mode: the POS's choice
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

    def catalogue(self) -> list[CatalogueEntry]:
        return [{"id": i.id, "name": i.name, "unit_minor": i.unit_minor} for i in self.shelf.items]

    def add_catalogue_item(self, item_id: str) -> None:
        item = self.shelf.find(item_id)
        if item is None:
            raise SmilepayError(f"no catalogue item {item_id!r}")
        self.feed(ItemAdded(time.monotonic(), BasketItem(item.name, 1, item.unit_minor, item.id)))

    def remove_item(self, index: int) -> None:
        self.feed(ItemRemoved(time.monotonic(), index))

    def change_quantity(self, index: int, delta: int) -> None:
        self.feed(QuantityChanged(time.monotonic(), index, delta))

    def record_consent(self, version: str) -> None:
        if version != CONSENT_VERSION:
            raise SmilepayError(f"consent version {version!r} is not the current one")
        with self._lock:
            self.consents.append(version)

    def back(self) -> None:
        self.feed(Back(time.monotonic(), f"sale-{uuid.uuid4().hex[:12]}"))

    def still_here(self) -> None:
        self.feed(StillHere(time.monotonic()))

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

    def health(self) -> HealthReport:
        with self._lock:
            backlog = self.backlog
            parts = HealthParts(
                phase=self.state.phase,
                currency=self.currency,
                heartbeat_age_s=0.0,
                camera={
                    "state": "ok" if self.state.camera_ok else "unavailable",
                    "reason": None,
                    "heartbeat_age_s": 0.1,
                },
                scanner={"available": True, "last_error": None},
                printer="ok",
                queue={
                    "backlog_count": backlog["count"],
                    "backlog_amount_minor": backlog["amount_minor"],
                    "oldest_unsynced_age_s": backlog["oldest_age_s"],
                    "rejected_count": 0,
                },
                link={"online": self.online, "checked_age_s": 1.0},
                limits=self.limits,
                sync={"online": self.online, "requests": self.sync_requests},
            )
            return health_report(parts)

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

    def decide_face(self, kind: str, name: str = "Alex Example") -> None:
        """The face pipeline decided (pay / step_up / no_match / ...)."""
        match = Match("customer-1", name, 0.91, 0.2) if kind in {"pay", "step_up"} else None
        self.feed(FaceDecided(time.monotonic(), kind, match))

    def approve(self, offline: bool = False) -> None:
        """The ledger (or the offline queue) recorded the sale."""
        with self._lock:
            sale_id = self.state.sale_id or "sale"
            if offline:
                self.online = False
                self.backlog["count"] += 1
                self.backlog["amount_minor"] += self.state.total_minor
        self.feed(SaleApproved(time.monotonic(), sale_id, offline))

    def set_link(self, online: bool, backlog_count: int | None = None) -> None:
        """The link (and the backlog) changed: pushed to the screen as the real kiosk does."""
        with self._lock:
            self.online = online
            if backlog_count is not None:
                self.backlog["count"] = backlog_count
        self.push()

    def push(self) -> None:
        """Send the current view to every listener (as the kiosk does on status changes)."""
        with self._lock:
            view = self._build_view()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(view)

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
        return state_view(
            self.state,
            self.currency,
            now=time.monotonic(),
            online=self.online,
            backlog={**self.backlog},
            face_box=self.face_box,
            frame_size=self.frame_size,
            merchant_qr_svg=self.merchant_qr_svg,
            methods=self.methods,
        )
