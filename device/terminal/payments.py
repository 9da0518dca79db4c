"""Payments the POS asks for: one at a time, idempotent on (POS, reference), each driving the
kiosk's checkout through device.ports.TerminalPort and ending in exactly one outcome:

    approved   the sale is durably recorded (online or offline within limits); with a receipt
    declined   the ledger, the step-up or an offline limit said no; with the reason
    aborted    the POS aborted it, or it ended on the kiosk (customer cancelled or walked away)
    timed_out  the customer did not pay within the terminal's payment_timeout_s

The request is stored (in progress, with its sale id) before the kiosk is touched, so a kiosk
that stops half-way finds it on restart and settles it from its sale queue: a sale is approved
only if its record is in the queue.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from base.threads import LoopThread
from device.ports import ScreenView, TerminalPort
from device.terminal.events import EventLog
from device.terminal.messages import ApiError, PaymentRequest
from device.terminal.store import StoredRequest, TerminalStore

log = logging.getLogger("smilepay.terminal")
IDLE, APPROVED, AUTHORIZING = "idle", "approved", "authorizing"
DECLINING = {"declined", "offline_limit"}
READY_WAIT_S = 10.0  # a result screen clears itself within 6 s
RECORD_WAIT_S = 5.0
WATCH_EVERY_S = 0.25


@dataclass
class Payment:
    """The payment in progress."""

    pos_id: str
    request: PaymentRequest
    sale_id: str
    methods: list[str]
    deadline: float
    seen: bool = False  # the kiosk has taken up this sale id
    abort_requested: bool = False
    timed_out: bool = False
    last_stage: tuple[Any, ...] = ()
    done: threading.Event = field(default_factory=threading.Event)


class PaymentDesk:
    """Runs POS payments on the kiosk; thread-safe."""

    def __init__(
        self,
        kiosk: TerminalPort,
        store: TerminalStore,
        events: EventLog,
        methods: list[str],
        currency: str,
        payment_timeout_s: float,
    ) -> None:
        self.kiosk, self.store, self.events = kiosk, store, events
        self.methods, self.currency = methods, currency
        self.payment_timeout_s = payment_timeout_s
        self.current: Payment | None = None
        self._lock = threading.RLock()
        self._unsubscribe = kiosk.subscribe(self._on_view)
        self._watch = LoopThread("terminal-watch", self._watchdog)

    def start(self) -> None:
        """Settle what a previous run left in progress, then watch deadlines."""
        self.recover()
        self._watch.start()

    def close(self) -> None:
        """Stop watching (a payment in progress keeps its stored state for `recover`)."""
        self._watch.stop()
        self._unsubscribe()

    # --- requests ------------------------------------------------------------------------------

    def pay(self, pos_id: str, request: PaymentRequest, wait_s: float) -> dict[str, Any]:
        """Start (or find) the payment with this reference; wait up to `wait_s` for its outcome."""
        self._check_request(request)
        with self._lock:
            stored = self.store.get(pos_id, "payment", request.reference)
            if stored is None:
                stored = self._begin(pos_id, request)
        if stored.request_hash != request.fingerprint():
            raise ApiError(
                409, "reference_reused", "this reference was used for another request", "reference"
            )
        return self.wait(pos_id, request.reference, wait_s)

    def status(self, pos_id: str, reference: str) -> dict[str, Any]:
        """The stored outcome, or the live stage of the payment in progress."""
        stored = self.store.get(pos_id, "payment", reference)
        if stored is None:
            raise ApiError(
                404, "unknown_reference", f"no payment with reference {reference!r}", "reference"
            )
        if stored.status != "in_progress":
            return stored.outcome
        return {**stored.outcome, "stage": self.kiosk.view().get("phase")}

    def wait(self, pos_id: str, reference: str, wait_s: float) -> dict[str, Any]:
        """The outcome once final, or the in-progress status after `wait_s`."""
        payment = self.current
        if payment and (payment.pos_id, payment.request.reference) == (pos_id, reference):
            payment.done.wait(wait_s)
        return self.status(pos_id, reference)

    def abort(self, pos_id: str, reference: str) -> dict[str, Any]:
        """Abort the payment in progress; an approved one cannot be aborted (refund it)."""
        outcome = self.status(pos_id, reference)
        if outcome["status"] == "approved":
            raise ApiError(
                409,
                "already_approved",
                "the payment is approved and cannot be aborted; refund it instead",
            )
        if outcome["status"] != "in_progress":
            return outcome
        with self._lock:
            payment = self.current
            if payment is None or payment.request.reference != reference:
                return self.status(pos_id, reference)
            if self.kiosk.view().get("phase") == AUTHORIZING:
                raise ApiError(
                    409,
                    "authorizing",
                    "the payment is being authorised and cannot be "
                    "aborted now; ask its status for the outcome",
                )
            payment.abort_requested = True
        self.kiosk.cancel()
        return self.wait(pos_id, reference, 5.0)

    # --- starting ------------------------------------------------------------------------------

    def _check_request(self, request: PaymentRequest) -> None:
        if request.currency != self.currency:
            raise ApiError(422, "invalid_field", f"this kiosk takes {self.currency}", "currency")
        for method in request.methods or []:
            if method not in self.methods:
                raise ApiError(
                    422,
                    "invalid_field",
                    f"{method} is not offered on this kiosk (offered: {', '.join(self.methods)})",
                    "methods",
                )

    def _begin(self, pos_id: str, request: PaymentRequest) -> StoredRequest:
        busy = self.current
        if busy is not None:
            raise ApiError(
                409,
                "payment_in_progress",
                f"payment {busy.request.reference!r} is in progress; abort it or wait",
            )
        self._wait_until_ready()
        sale_id = str(uuid.uuid4())
        outcome = _outcome(request, sale_id, "in_progress")
        stored = StoredRequest(
            pos_id,
            "payment",
            request.reference,
            request.fingerprint(),
            sale_id,
            "in_progress",
            outcome,
        )
        self.store.begin(stored)  # durable before the kiosk moves
        methods = list(request.methods or self.methods)
        deadline = time.monotonic() + self.payment_timeout_s
        self.current = Payment(pos_id, request, sale_id, methods, deadline)
        self.events.add(
            "payment_started",
            reference=request.reference,
            sale_id=sale_id,
            amount_minor=request.amount_minor,
        )
        self.kiosk.start_terminal_payment(sale_id, _basket(request), methods)
        return stored

    def _wait_until_ready(self) -> None:
        """The kiosk must be idle; a declined screen is cleared, a result screen waited out."""
        deadline = time.monotonic() + READY_WAIT_S
        while (phase := self.kiosk.view().get("phase")) != IDLE:
            if phase in DECLINING:
                self.kiosk.cancel()
            if time.monotonic() > deadline:
                raise ApiError(409, "kiosk_busy", f"the kiosk is busy ({phase}); try again")
            time.sleep(0.05)

    # --- following the kiosk ---------------------------------------------------------------------

    def _on_view(self, view: ScreenView) -> None:
        """Called by the kiosk after every change (its thread: never block here)."""
        payment = self.current
        if payment is None:
            return
        phase = view.get("phase")
        if view.get("sale_id") == payment.sale_id:
            payment.seen = True
        stage = (phase, view.get("guidance"), view.get("notice"))
        if stage == payment.last_stage:
            return  # a change the POS does not see (the link status, the face box...)
        payment.last_stage = stage
        self.events.add(
            "stage",
            reference=payment.request.reference,
            stage=phase,
            guidance=view.get("guidance"),
            notice=view.get("notice"),
        )
        if phase == APPROVED and view.get("sale_id") == payment.sale_id:
            threading.Thread(
                target=self._settle_approved, args=(payment, view), daemon=True
            ).start()
        elif payment.seen or payment.abort_requested:
            self._follow(payment, view)

    def _follow(self, payment: Payment, view: ScreenView) -> None:
        phase, notice = view.get("phase"), view.get("notice")
        if phase in DECLINING:
            self._finish(payment, "declined", notice or "declined")
        elif phase == "error":
            threading.Thread(target=self._settle_error, args=(payment, notice), daemon=True).start()
        elif phase == IDLE:
            self._finish(payment, *self._why_ended(payment))
        elif phase == "choose_payment" and notice and len(payment.methods) == 1:
            # The only method offered failed (not recognised, no smile in time...): that is
            # the outcome; the POS may start another payment with other methods.
            self._finish(payment, "declined", notice)
            self.kiosk.cancel()

    def _why_ended(self, payment: Payment) -> tuple[str, str]:
        if payment.timed_out:
            return "timed_out", f"not paid within {self.payment_timeout_s:g} s"
        if payment.abort_requested:
            return "aborted", "aborted by the POS"
        return "aborted", "cancelled on the kiosk (the customer cancelled or walked away)"

    def _settle_approved(self, payment: Payment, view: ScreenView) -> None:
        record = self._wait_for_record(payment.sale_id)
        if record is None:  # cannot happen: approved means recorded; never claim it anyway
            self._finish(payment, "declined", "the sale record could not be read")
            return
        extra = {
            "offline": bool(record["offline"]),
            "method": record["method"],
            "receipt": self.kiosk.receipt_of(record),
        }
        self._finish(payment, "approved", None, **extra)

    def _settle_error(self, payment: Payment, notice: str | None) -> None:
        """An error while recording: approved only if the sale did reach the queue."""
        record = self._wait_for_record(payment.sale_id)
        if record is not None:
            self._finish(
                payment,
                "approved",
                None,
                offline=bool(record["offline"]),
                method=record["method"],
                receipt=self.kiosk.receipt_of(record),
            )
        else:
            self._finish(payment, "declined", notice or "the kiosk could not record the sale")

    def _wait_for_record(self, sale_id: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + RECORD_WAIT_S
        while (record := self.kiosk.sale_record(sale_id)) is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        return record

    def _finish(self, payment: Payment, status: str, reason: str | None, **extra: Any) -> None:
        with self._lock:
            if payment.done.is_set():
                return
            outcome = {
                **_outcome(payment.request, payment.sale_id, status),
                "reason": reason,
                **extra,
            }
            self.store.finish(payment.pos_id, "payment", payment.request.reference, outcome)
            if self.current is payment:
                self.current = None
            payment.done.set()
        self.events.add("payment_finished", **outcome)
        log.info("terminal payment", extra={k: v for k, v in outcome.items() if k != "receipt"})

    def _watchdog(self) -> None:
        while not self._watch.stopping.wait(WATCH_EVERY_S):
            payment = self.current
            if payment is None or time.monotonic() < payment.deadline or payment.timed_out:
                continue
            if self.kiosk.view().get("phase") == AUTHORIZING:
                continue  # the recorder always answers; its outcome decides
            payment.timed_out = True
            self.kiosk.cancel()
            if not payment.seen:
                self._finish(payment, "timed_out", "the kiosk never took up the payment")

    # --- restart ---------------------------------------------------------------------------------

    def recover(self) -> None:
        """Settle payments a previous run left in progress, from the sale queue."""
        for stored in self.store.unfinished():
            if stored.kind != "payment":
                continue
            record = self.kiosk.sale_record(stored.subject_id)
            if record is not None:
                outcome = {
                    **stored.outcome,
                    "status": "approved",
                    "reason": None,
                    "offline": bool(record["offline"]),
                    "method": record["method"],
                    "receipt": self.kiosk.receipt_of(record),
                }
            else:
                outcome = {
                    **stored.outcome,
                    "status": "aborted",
                    "reason": "the kiosk restarted during the payment; nothing was charged",
                }
            self.store.finish(stored.pos_id, "payment", stored.reference, outcome)
            log.warning("terminal payment settled after restart", extra={"outcome": outcome})


def _basket(request: PaymentRequest) -> list[tuple[str, int, int]]:
    if request.lines:
        return [(line.name, line.quantity, line.unit_minor) for line in request.lines]
    return [("Purchase", 1, request.amount_minor)]


def _outcome(request: PaymentRequest, sale_id: str, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "reference": request.reference,
        "sale_id": sale_id,
        "amount_minor": request.amount_minor,
        "currency": request.currency,
        "reason": None,
        "receipt": None,
    }
