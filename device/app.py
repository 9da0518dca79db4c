"""The kiosk: wires the drivers, the face engine, the codes, the queue and the ledger client to the
pure checkout state machine, and serves what the screen and scenario scripts need (KioskPort).

One thread owns the checkout state: every input (taps, camera results, scanned codes, sale
outcomes, the clock) becomes an event in its inbox, and the commands that `step` returns are
carried out from there, slow ones (recording a sale, printing) on worker threads of their own.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from base.errors import SmilepayError
from base.threads import LoopThread
from device.camera_loop import CameraLoop
from device.checkout import (
    AuthorizeSale,
    Back,
    BasketItem,
    Cancel,
    CheckoutRequested,
    Command,
    Event,
    Fault,
    ItemAdded,
    ItemRemoved,
    KeypadEntered,
    MerchantQrPaid,
    Method,
    PaymentChosen,
    Phase,
    PrintReceipt,
    PulseRelay,
    QuantityChanged,
    SetLight,
    ShowMerchantQr,
    StartCodeScan,
    StartFaceSession,
    State,
    StepUpChecked,
    StillHere,
    StopCodeScan,
    StopFaceSession,
    Tick,
    VerifyStepUp,
    step,
)
from device.config import KioskConfig
from device.consent import CONSENT_FILE, ConsentLog
from device.link import LinkProbe
from device.metrics import CheckoutMetrics
from device.ports import CatalogueEntry, HealthReport, LinkHealth, ScreenView
from device.receipts import receipt_for, receipt_of_record
from device.recorder import SaleRecorder
from device.scanner_loop import ScannerLoop
from device.views import build_view
from drivers.indicator.base import Indicator
from drivers.printer.base import Receipt, ReceiptPrinter

if TYPE_CHECKING:
    from sync.queue.sale_queue import QueueStatus

log = logging.getLogger("smilepay.kiosk")
TICK_S = 0.2
STATUS_TTL_S = 1.0


@dataclass
class KioskDrivers:
    """The hardware roles; None where the kiosk has no such device."""

    camera: Any = None  # drivers.camera.Camera
    scanner: Any = None  # drivers.scanner.CodeScanner
    printer: ReceiptPrinter | None = None
    indicator: Indicator | None = None


@dataclass
class KioskServices:
    """What the kiosk uses beyond its drivers."""

    device_id: str
    queue: Any  # sync.queue.SaleQueue
    gallery: Any  # models.gallery.Gallery
    new_face_session: Callable[[int, float], Any]  # (amount_minor, started_at) -> session
    new_ledger_client: Callable[[], Any]  # -> sync.agent.client.LedgerClient
    issuer_key: Any = None  # customer-token issuer public key
    request_sync: Callable[[], None] = lambda: None
    # A ledger client with short timeouts for the idle link probe (None: new_ledger_client).
    new_probe_client: Callable[[], Any] | None = None
    # The face engine the face sessions use (models.engine.FaceEngine): screen enrolment runs
    # it on the camera thread too (device/screen/enrol.py). None: no enrolment on the screen.
    engine: Any = None


class Kiosk:
    """A running kiosk (implements device.ports.KioskPort)."""

    def __init__(self, config: KioskConfig, drivers: KioskDrivers, services: KioskServices) -> None:
        self.config = config
        self.drivers = drivers
        self.services = services
        self.clock: Callable[[], float] = time.monotonic
        self.state = State()
        self.heartbeat = self.clock()
        self.merchant_qr_svg: str | None = None
        self._queue_status: tuple[float, QueueStatus] | None = None
        self._sync_status: tuple[float, dict[str, Any]] | None = None
        self._inbox: queue.Queue[Event] = queue.Queue()
        self._listeners: list[Callable[[ScreenView], None]] = []
        self._changed = threading.Condition()
        self._loop = LoopThread("checkout", self._run)
        self._printing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="printer")
        self.recorder = SaleRecorder(
            services.queue,
            services.new_ledger_client,
            config.device.currency,
            self.post,
            self.clock,
            config.sync.online_auth_timeout_s,
        )
        self.metrics = CheckoutMetrics()
        self.camera_loop = self._camera_loop()
        self.scanner_loop = self._scanner_loop()
        self.consents = ConsentLog(config.device.data_dir / CONSENT_FILE)
        self.probe = LinkProbe(
            services.new_probe_client or services.new_ledger_client,
            self.clock,
            lambda: self.state.phase != Phase.AUTHORIZING,
        )
        self._pushed_status: tuple[object, ...] | None = None
        # Terminal mode: the basket comes from the POS only, with the methods it allows.
        self.terminal_mode = config.terminal.enabled
        self.allowed_methods: tuple[str, ...] = tuple(
            config.terminal.methods if self.terminal_mode else [m.value for m in Method]
        )

    @classmethod
    def assemble(cls, config: KioskConfig, drivers: KioskDrivers | None = None) -> Kiosk:
        """Open every configured driver (unless given) and service, ready to `start`."""
        from device.assembly import open_drivers, open_services

        return cls(config, drivers or open_drivers(config), open_services(config))

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the checkout thread and the device threads."""
        self._loop.start()
        self.probe.start()
        if self.camera_loop is not None:
            self.camera_loop.start()
        if self.scanner_loop is not None:
            self.scanner_loop.start()
        log.info("kiosk started", extra={"device_id": self.services.device_id})

    def stop(self) -> None:
        """Stop everything; a sale being recorded is finished first."""
        self._loop.stop()
        self.probe.stop()
        for loop in (self.camera_loop, self.scanner_loop):
            if loop is not None:
                loop.stop()
        self.recorder.close()
        self._printing.shutdown(wait=True)
        for device in (self.drivers.printer, self.drivers.indicator):
            if device is not None:
                device.close()
        log.info("kiosk stopped")

    def post(self, event: Event) -> None:
        """Queue an event for the checkout thread (any thread may call this)."""
        self._inbox.put(event)

    def wait_for(self, phase: Phase | str, timeout_s: float) -> State:
        """Block until the checkout reaches `phase`; raise TimeoutError with where it is instead."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self.state.phase != Phase(phase):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"waited {timeout_s} s for {Phase(phase).value}; "
                        f"still {self.state.phase.value} ({self.state.notice or 'no notice'})"
                    )
                self._changed.wait(remaining)
            return self.state

    # --- KioskPort -----------------------------------------------------------------------------

    def view(self) -> ScreenView:
        """The screen's view model of the current state."""
        return build_view(self)

    def subscribe(self, listener: Callable[[ScreenView], None]) -> Callable[[], None]:
        """Call `listener` with the new view after every change."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add_item(self, name: str, quantity: int, unit_minor: int) -> None:
        """Put an item in the basket (not in terminal mode: there the POS sets the basket)."""
        if self.terminal_mode:
            log.warning("item ignored: in terminal mode the basket comes from the POS")
            return
        self.post(ItemAdded(self.clock(), BasketItem(name, quantity, unit_minor)))

    def catalogue(self) -> list[CatalogueEntry]:
        """The products of the kiosk's catalogue, in display order."""
        return [
            {"id": item.id, "name": item.name, "unit_minor": item.unit_minor}
            for item in self.config.catalogue.items
        ]

    def add_catalogue_item(self, item_id: str) -> None:
        """One of catalogue item `item_id`, at the catalogue's price (not in terminal mode)."""
        if self.terminal_mode:
            raise SmilepayError("in terminal mode the basket comes from the POS")
        item = self.config.catalogue.find(item_id)
        if item is None:
            raise SmilepayError(f"no catalogue item {item_id!r}")
        basket_item = BasketItem(item.name, 1, item.unit_minor, item_id=item.id)
        self.post(ItemAdded(self.clock(), basket_item))

    def remove_item(self, index: int) -> None:
        """Remove a basket line."""
        self.post(ItemRemoved(self.clock(), index))

    def change_quantity(self, index: int, delta: int) -> None:
        """+1 or -1 on a basket line."""
        self.post(QuantityChanged(self.clock(), index, delta))

    def back(self) -> None:
        """One step back; after a refusal, "pay another way" under a new sale id."""
        self.post(Back(self.clock(), str(uuid.uuid4())))

    def still_here(self) -> None:
        """The customer answered "are you still there?"."""
        self.post(StillHere(self.clock()))

    def record_consent(self, version: str) -> None:
        """Record the customer's face-payment consent durably (before face payment starts)."""
        record = self.consents.record(version, self.services.device_id, self.state.sale_id)
        log.info("consent recorded", extra={"version": version, "sale_id": record["sale_id"]})

    def pay(self) -> None:
        """The customer pressed pay: the sale id is made here, before anything else happens."""
        self.post(CheckoutRequested(self.clock(), str(uuid.uuid4())))

    def choose_payment(self, method: str) -> None:
        """The customer chose "face", "customer_qr" or "merchant_qr" (one of those allowed)."""
        if method not in self.allowed_methods:
            log.warning("payment method not allowed here", extra={"method": method})
            return
        self.post(PaymentChosen(self.clock(), Method(method)))

    # --- TerminalPort (device/terminal drives the kiosk through these) ------------------------

    def start_terminal_payment(
        self, sale_id: str, items: list[tuple[str, int, int]], methods: list[str]
    ) -> None:
        """Show the POS's basket and start the checkout of `sale_id` with only `methods`."""
        self.allowed_methods = tuple(methods)
        for name, quantity, unit_minor in items:
            self.post(ItemAdded(self.clock(), BasketItem(name, quantity, unit_minor)))
        self.post(CheckoutRequested(self.clock(), sale_id))
        if len(methods) == 1:
            self.post(PaymentChosen(self.clock(), Method(methods[0])))

    def sale_record(self, sale_id: str) -> dict[str, Any] | None:
        """The signed record of a sale this kiosk recorded, or None."""
        record: dict[str, Any] | None = self.services.queue.get_record(sale_id)
        return record

    def receipt_of(self, record: dict[str, Any]) -> dict[str, Any]:
        """The receipt object of a sale or refund record, as JSON."""
        from dataclasses import asdict

        return asdict(receipt_of_record(record, self.config))

    def print_record(self, record: dict[str, Any]) -> None:
        """Print a sale's or refund's receipt on the printer thread."""
        if self.drivers.printer is not None:
            self._printing.submit(self._print_receipt, receipt_of_record(record, self.config))

    def enter_digits(self, digits: str) -> None:
        """The customer typed the step-up digits."""
        self.post(KeypadEntered(self.clock(), digits))

    def cancel(self) -> None:
        """The customer pressed cancel."""
        self.post(Cancel(self.clock()))

    def confirm_merchant_qr(self, reference: str) -> None:
        """The customer's payment of the kiosk's QR was confirmed (by the acquirer or operator)."""
        self.post(MerchantQrPaid(self.clock(), reference))

    def latest_frame_jpeg(self) -> bytes | None:
        """The latest camera frame as JPEG, or None."""
        import cv2

        frame = self.camera_loop.latest if self.camera_loop else None
        if frame is None:
            return None
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return jpeg.tobytes() if ok else None

    def health(self) -> HealthReport:
        """Operator status of every part, and how fresh the loops' heartbeats are."""
        from device.views import health_of

        return health_of(self)

    def sync_now(self) -> None:
        """Ask the sync agent to run now."""
        self.services.request_sync()

    # --- status for the screen and the operator --------------------------------------------------

    def queue_status(self) -> QueueStatus:
        """The queue's backlog status, read at most once a second (the screen asks often)."""
        now = self.clock()
        if self._queue_status is None or now - self._queue_status[0] >= STATUS_TTL_S:
            self._queue_status = (now, self.services.queue.status())
        return self._queue_status[1]

    def sync_status(self) -> dict[str, Any]:
        """The sync agent's last saved status (online, last success, last error), read at most
        once a second."""
        from dataclasses import asdict

        from sync.agent.agent import load_status

        now = self.clock()
        if self._sync_status is None or now - self._sync_status[0] >= STATUS_TTL_S:
            self._sync_status = (now, asdict(load_status(self.services.queue)))
        return self._sync_status[1]

    def _link_sample(self) -> tuple[float, bool] | None:
        """The newest word on the link: the idle probe's or the last sale's."""
        samples = [self.probe.last] if self.probe.last else []
        if self.recorder.last_online is not None and self.recorder.last_online_at is not None:
            samples.append((self.recorder.last_online_at, self.recorder.last_online))
        return max(samples, key=lambda s: s[0]) if samples else None

    def link_online(self) -> bool:
        """Whether the ledger answered the newest probe or sale. Until the first probe answers
        (a second or two after start) the kiosk does not claim to be offline."""
        sample = self._link_sample()
        return True if sample is None else sample[1]

    def link_health(self) -> LinkHealth:
        """The link for the operator: online, and how old that knowledge is."""
        sample = self._link_sample()
        age = None if sample is None else round(self.clock() - sample[0], 1)
        return {"online": self.link_online(), "checked_age_s": age}

    # --- the checkout thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._loop.stopping.is_set():
            try:
                event: Event = self._inbox.get(timeout=TICK_S)
            except queue.Empty:
                event = Tick(self.clock())
            self.heartbeat = self.clock()
            self._apply(event)
            self._push_status_changes()

    def _push_status_changes(self) -> None:
        """Link and backlog changes reach the screen as they happen, not with the next tap."""
        try:
            status = self.queue_status()
        except Exception:  # a status read must never stop the checkout thread
            log.exception("queue status unreadable")
            return
        now = (self.link_online(), status.backlog_count, status.backlog_amount_minor)
        if now != self._pushed_status:
            first = self._pushed_status is None
            self._pushed_status = now
            if not first:
                self._notify()

    def _apply(self, event: Event) -> None:
        before = self.state
        try:
            after, commands = step(before, event)
        except Exception:  # a bug in the machine must not kill the kiosk
            log.exception("checkout step failed", extra={"event": type(event).__name__})
            return
        # The commands run before the new state is visible: whoever sees a phase (the screen,
        # a scenario, a POS) finds its inputs already on, e.g. the scanner listening in qr_wait.
        for command in commands:
            self._execute(command)
        self.state = after
        if self.state.phase != before.phase:
            log.info(
                "checkout",
                extra={
                    "from": before.phase.value,
                    "to": self.state.phase.value,
                    "sale_id": self.state.sale_id or before.sale_id,
                },
            )
            self.metrics.transition(before, self.state, self.clock())
        if self.state != before:
            self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
        if not self._listeners:
            return
        view = self.view()
        for listener in list(self._listeners):
            try:
                listener(view)
            except Exception:
                log.exception("screen listener failed")

    def _execute(self, command: Command) -> None:
        try:
            self._carry_out(command)
        except Exception as exc:
            log.exception("command failed", extra={"command": type(command).__name__})
            if isinstance(command, AuthorizeSale | VerifyStepUp | ShowMerchantQr):
                self.post(Fault(self.clock(), f"{type(command).__name__} failed: {exc}"))

    def _carry_out(self, command: Command) -> None:
        camera, scanner = self.camera_loop, self.scanner_loop
        if isinstance(command, StartFaceSession) and camera is not None:
            camera.start_face_session(command.amount_minor)
        elif isinstance(command, StopFaceSession) and camera is not None:
            camera.stop_face_session()
        elif isinstance(command, StartCodeScan | StopCodeScan):
            on = isinstance(command, StartCodeScan)
            if camera is not None:
                camera.scan_codes(on)
            if scanner is not None:
                scanner.listen(on)
        elif isinstance(command, ShowMerchantQr):
            self.merchant_qr_svg = self._merchant_qr(command)
        elif isinstance(command, VerifyStepUp):
            ok = self.services.gallery.check_step_up(command.customer_id, command.digits)
            self.post(StepUpChecked(self.clock(), bool(ok)))
        elif isinstance(command, AuthorizeSale):
            self.recorder.submit(command)
        elif isinstance(command, PrintReceipt):
            self._printing.submit(self._print, command.sale_id)
        elif isinstance(command, SetLight) and self.drivers.indicator is not None:
            self.drivers.indicator.show(command.light)
        elif isinstance(command, PulseRelay) and self.drivers.indicator is not None:
            self.drivers.indicator.pulse_relay()

    def _merchant_qr(self, command: ShowMerchantQr) -> str:
        from device.codes.emv import merchant_qr_payload
        from device.codes.render import render_qr_svg

        pay = self.config.payments
        payload = merchant_qr_payload(
            self.config.device.name[:25],
            pay.merchant_city[:15],
            pay.merchant_category_code,
            pay.currency_numeric,
            command.amount_minor,
            command.sale_id.replace("-", "")[:25],
            country_code=pay.country_code,
            account_gui=pay.account_gui,
            account_id=self.config.device.merchant_id[:25],
        )
        return render_qr_svg(payload)

    def _print(self, sale_id: str) -> None:
        # The signed record is read back from the durable queue: nothing is kept in memory.
        record = self.services.queue.get_record(sale_id)
        if record is not None:
            self._print_receipt(receipt_for(record, self.config))

    def _print_receipt(self, receipt: Receipt) -> None:
        printer = self.drivers.printer
        if printer is None:
            return
        try:
            status = printer.print_receipt(receipt)
        except Exception:  # the printer never blocks or fails a sale
            log.exception("receipt printing failed", extra={"sale_id": receipt.sale_id})
            return
        log.info("receipt", extra={"sale_id": receipt.sale_id, "printer": str(status)})

    def _camera_loop(self) -> CameraLoop | None:
        if self.drivers.camera is None:
            return None
        from drivers.camera.supervisor import CameraSupervisor

        return CameraLoop(
            CameraSupervisor(self.drivers.camera),
            self.post,
            self.services.new_face_session,
            self.services.issuer_key,
        )

    def _scanner_loop(self) -> ScannerLoop | None:
        if self.drivers.scanner is None:
            return None
        return ScannerLoop(self.drivers.scanner, self.post, self.services.issuer_key)
