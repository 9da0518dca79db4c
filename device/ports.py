"""What the customer screen and the scenario runner may ask of a running kiosk.

`device.app.Kiosk` implements `KioskPort`. The screen renders `view()` (pushed on every change
through `subscribe`) and turns taps into the action methods; it never builds state-machine events
itself. The screen names catalogue items by id (`add_catalogue_item`); `add_item` with a name and
a price is for trusted in-process callers only (scenario scripts, a POS), never the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypedDict


class LineView(TypedDict):
    """One basket line."""

    item_id: str | None
    name: str
    quantity: int
    unit_minor: int
    amount_minor: int


class BacklogView(TypedDict):
    """Unsynced sales waiting for the ledger."""

    count: int
    amount_minor: int
    oldest_age_s: float | None


class ScreenView(TypedDict):
    """The screen's view model (every key present; values may be None)."""

    phase: str  # device.checkout.Phase value
    items: list[LineView]
    total_minor: int  # the amount due
    currency: str  # ISO 4217 code, shown with every amount
    minor_digits: int  # ISO 4217 exponent of the currency (JPY 0, EUR 2, KWD 3)
    total_text: str  # "12.50" (without the currency)
    method: str | None  # "face" | "customer_qr" | "merchant_qr"
    guidance: str | None  # face guidance key ("come_closer", "now_smile", ...)
    face_box: list[float] | None  # [x, y, w, h] in the camera frame's pixels
    frame_size: list[int] | None  # [w, h]
    reason: str | None  # why we are here, as a code the screen translates ("no_match", ...)
    notice: str | None  # the same in developer words (for logs and scenario checks; not shown)
    match_name: str | None  # the matched customer's name, masked ("E. A***")
    step_up_attempts: int
    merchant_qr_svg: str | None  # SVG of the kiosk's payment QR (merchant_qr phase)
    sale_id: str | None
    offline: bool  # this sale was taken offline
    camera_ok: bool
    seconds_left: float | None  # until the current step times out by itself (or walk-away)
    timeout_to: str | None  # the phase it then goes to ("idle": the sale is dropped)
    online: bool  # the ledger answered the kiosk's last request or probe
    backlog: BacklogView
    methods: list[str]  # the payment methods the customer may choose now (terminal: the POS's)
    terminal_mode: bool  # the basket comes from the POS; the self-service catalogue is off


class CatalogueEntry(TypedDict):
    """A product the screen may show and add by id."""

    id: str
    name: str
    unit_minor: int


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
        """Put an item in the basket (trusted callers only: the price is taken as given)."""

    def catalogue(self) -> list[CatalogueEntry]:
        """The products of the kiosk's catalogue (config), in display order."""
        ...

    def add_catalogue_item(self, item_id: str) -> None:
        """Put one of catalogue item `item_id` in the basket, at the catalogue's price; raise
        base.errors.SmilepayError for an unknown id."""

    def remove_item(self, index: int) -> None:
        """Remove a basket line."""

    def change_quantity(self, index: int, delta: int) -> None:
        """+1 or -1 on the basket line at `index`."""

    def pay(self) -> None:
        """The customer pressed pay."""

    def choose_payment(self, method: str) -> None:
        """The customer chose "face", "customer_qr" or "merchant_qr"."""

    def record_consent(self, version: str) -> None:
        """The customer agreed to face payment under consent text `version`: record it durably
        before face payment starts."""

    def enter_digits(self, digits: str) -> None:
        """The customer typed the step-up digits."""

    def back(self) -> None:
        """The customer pressed back (or "pay another way" after a refusal)."""

    def still_here(self) -> None:
        """The customer answered "are you still there?"."""

    def cancel(self) -> None:
        """The customer pressed cancel."""

    def latest_frame_jpeg(self) -> bytes | None:
        """The latest camera frame as JPEG (for the live view), or None without a camera."""
        ...

    def health(self) -> HealthReport:
        """Operator status: camera, scanner, printer, queue, sync, link, loop heartbeat age."""
        ...

    def sync_now(self) -> None:
        """Ask the sync agent to run now."""


class CameraHealth(TypedDict):
    """The camera as the operator sees it."""

    state: str
    reason: str | None
    heartbeat_age_s: float


class ScannerHealth(TypedDict):
    """The code scanner."""

    available: bool
    last_error: str | None


class QueueHealth(TypedDict):
    """The offline queue."""

    backlog_count: int
    backlog_amount_minor: int
    oldest_unsynced_age_s: float | None
    rejected_count: int


class LinkHealth(TypedDict):
    """The link to the ledger."""

    online: bool
    checked_age_s: float | None  # since the last probe or sale answered (None: never yet)


class LimitsLeft(TypedDict):
    """What offline selling may still take (for the operator, never the customer)."""

    amount_minor: int
    count: int


class HealthReport(TypedDict):
    """The operator's status report."""

    phase: str
    currency: str
    checkout_heartbeat_age_s: float
    camera: CameraHealth | None
    scanner: ScannerHealth | None
    printer: str | None
    queue: QueueHealth
    link: LinkHealth
    limits_left: LimitsLeft
    sync: dict[str, Any]  # the sync agent's last saved status (sync.agent.agent.AgentStatus)


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
