"""What the customer screen and the scenario runner may ask of a running kiosk.

`device.app.Kiosk` implements `KioskPort`. The screen renders `view()` (a JSON-able dict, pushed
on every change through `subscribe`) and turns taps into the action methods; it never builds
state-machine events itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

ScreenView = dict[str, Any]
"""The screen's view model. Keys (all present, values may be None):
phase            checkout phase (device.checkout.Phase value)
items            [{"name", "quantity", "unit_minor", "amount_minor"}]
total_minor      int; currency "EUR"...; total_text "12.50"
method           "face" | "customer_qr" | "merchant_qr" | None
guidance         face guidance key: "no_face", "come_closer", "look_at_screen", "too_dark",
                 "too_bright", "hold_still", "now_smile", "ok"
face_box         [x, y, w, h] in the camera frame's pixels, or None; frame_size [w, h]
notice           why we are here (decline reason, "camera unavailable ...", ...)
match_name       matched customer's display name (step-up and approved screens)
step_up_attempts int
merchant_qr_svg  SVG text of the kiosk's payment QR (merchant_qr phase), else None
sale_id, offline (bool), settle_later (bool)
online           bool: the ledger answered the last request; None before the first
backlog          {"count", "amount_minor", "oldest_age_s"}: unsynced sales
limits_left      {"amount_minor", "count"}: what offline selling may still take
camera_ok        bool
methods          the payment methods the customer may choose now (terminal mode: the POS's)
terminal_mode    bool: the basket comes from the POS; the self-service catalogue is off
"""


class KioskPort(Protocol):
    """The running kiosk, as the screen and scenario scripts see it."""

    def view(self) -> ScreenView:
        """The current view model."""
        ...

    def subscribe(self, listener: Callable[[ScreenView], None]) -> Callable[[], None]:
        """Call `listener` with the new view after every change; returns an unsubscribe function.
        Listeners are called from the kiosk's thread: they must not block."""
        ...

    def add_item(self, name: str, quantity: int, unit_minor: int) -> None:
        """Put an item in the basket."""

    def remove_item(self, index: int) -> None:
        """Remove a basket line."""

    def pay(self) -> None:
        """The customer pressed pay."""

    def choose_payment(self, method: str) -> None:
        """The customer chose "face", "customer_qr" or "merchant_qr"."""

    def enter_digits(self, digits: str) -> None:
        """The customer typed the step-up digits."""

    def cancel(self) -> None:
        """The customer pressed cancel."""

    def latest_frame_jpeg(self) -> bytes | None:
        """The latest camera frame as JPEG (for the live view), or None without a camera."""
        ...

    def health(self) -> dict[str, Any]:
        """Operator status: camera, scanner, printer, light, queue, sync, loop heartbeat age."""
        ...

    def sync_now(self) -> None:
        """Ask the sync agent to run now."""


class TerminalPort(Protocol):
    """The running kiosk, as the POS-facing terminal API (device/terminal) drives it."""

    def view(self) -> ScreenView:
        """The current view model (phase, sale_id, notice, ...)."""
        ...

    def subscribe(self, listener: Callable[[ScreenView], None]) -> Callable[[], None]:
        """As KioskPort.subscribe."""
        ...

    def start_terminal_payment(
        self, sale_id: str, items: list[tuple[str, int, int]], methods: list[str]
    ) -> None:
        """Show the POS's basket [(name, quantity, unit_minor)] and start the checkout of sale
        `sale_id`, offering only `methods` (chosen at once when there is one). The kiosk must
        be idle."""

    def cancel(self) -> None:
        """Abort the payment in progress (ignored once it is being authorised)."""

    def sale_record(self, sale_id: str) -> dict[str, Any] | None:
        """The signed record of a sale this kiosk recorded, or None."""
        ...

    def receipt_of(self, record: dict[str, Any]) -> dict[str, Any]:
        """The receipt object (what the printer gets) of a sale or refund record, as JSON."""
        ...

    def print_record(self, record: dict[str, Any]) -> None:
        """Print the receipt of a sale or refund record (never raises, never blocks)."""
