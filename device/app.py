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
from typing import Any

from device.camera_loop import CameraLoop
from device.checkout import (
    AuthorizeSale,
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
    SetLight,
    ShowMerchantQr,
    StartCodeScan,
    StartFaceSession,
    State,
    StepUpChecked,
    StopCodeScan,
    StopFaceSession,
    Tick,
    VerifyStepUp,
    step,
)
from device.config import KioskConfig
from device.metrics import CheckoutMetrics
from device.ports import ScreenView
from device.receipts import receipt_for
from device.recorder import SaleRecorder
from device.scanner_loop import ScannerLoop
from device.views import build_view
from drivers.indicator.base import Indicator
from drivers.printer.base import ReceiptPrinter

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
        self._queue_status: tuple[float, Any] | None = None
        self._sync_status: tuple[float, dict[str, Any]] | None = None
        self._inbox: queue.Queue[Event] = queue.Queue()
        self._listeners: list[Callable[[ScreenView], None]] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkout", daemon=True)
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

    @classmethod
    def assemble(cls, config: KioskConfig, drivers: KioskDrivers | None = None) -> Kiosk:
        """Open every configured driver (unless given) and service, ready to `start`."""
        from device.assembly import open_drivers, open_services

        return cls(config, drivers or open_drivers(config), open_services(config))

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the checkout thread and the device threads."""
        self._thread.start()
        if self.camera_loop is not None:
            self.camera_loop.start()
        if self.scanner_loop is not None:
            self.scanner_loop.start()
        log.info("kiosk started", extra={"device_id": self.services.device_id})

    def stop(self) -> None:
        """Stop everything; a sale being recorded is finished first."""
        self._stop.set()
        self._thread.join(timeout=5)
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
        """Put an item in the basket."""
        self.post(ItemAdded(self.clock(), BasketItem(name, quantity, unit_minor)))

    def remove_item(self, index: int) -> None:
        """Remove a basket line."""
        self.post(ItemRemoved(self.clock(), index))

    def pay(self) -> None:
        """The customer pressed pay: the sale id is made here, before anything else happens."""
        self.post(CheckoutRequested(self.clock(), str(uuid.uuid4())))

    def choose_payment(self, method: str) -> None:
        """The customer chose "face", "customer_qr" or "merchant_qr"."""
        self.post(PaymentChosen(self.clock(), Method(method)))

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

    def health(self) -> dict[str, Any]:
        """Operator status of every part, and how fresh the loops' heartbeats are."""
        from device.views import health_of

        return health_of(self)

    def sync_now(self) -> None:
        """Ask the sync agent to run now."""
        self.services.request_sync()

    # --- status for the screen and the operator --------------------------------------------------

    def queue_status(self) -> Any:
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

    def link_online(self) -> bool | None:
        """Whether the ledger answered the last time anyone asked (a sale or the sync agent);
        None until someone has asked, so a kiosk just started does not claim to be offline."""
        if self.recorder.last_online is not None:
            return self.recorder.last_online
        online = self.sync_status().get("online")
        return None if online is None else bool(online)

    # --- the checkout thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event: Event = self._inbox.get(timeout=TICK_S)
            except queue.Empty:
                event = Tick(self.clock())
            self.heartbeat = self.clock()
            self._apply(event)

    def _apply(self, event: Event) -> None:
        before = self.state
        try:
            self.state, commands = step(self.state, event)
        except Exception:  # a bug in the machine must not kill the kiosk
            log.exception("checkout step failed", extra={"event": type(event).__name__})
            return
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
        for command in commands:
            self._execute(command)
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
        printer = self.drivers.printer
        record = self.recorder.records.get(sale_id)
        if printer is None or record is None:
            return
        try:
            status = printer.print_receipt(receipt_for(record, self.config))
        except Exception:  # the printer never blocks or fails a sale
            log.exception("receipt printing failed", extra={"sale_id": sale_id})
            return
        log.info("receipt", extra={"sale_id": sale_id, "printer": str(status)})

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
