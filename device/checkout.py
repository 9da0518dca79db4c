"""The checkout flow as a pure state machine: `step(state, event) -> (state, commands)`.

No I/O and no clock: every event carries the time it happened (`at`, seconds on a monotonic
clock), ids are made by the caller, and the effects are returned as commands for the app to
carry out. The app feeds the outcome of each command back as another event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from base.light import Light


class Phase(StrEnum):
    """Where the customer is in the checkout."""

    IDLE = "idle"
    BASKET = "basket"
    CHOOSE_PAYMENT = "choose_payment"
    FACE_CAPTURE = "face_capture"
    SMILE_PROMPT = "smile_prompt"
    STEP_UP = "step_up"
    QR_WAIT = "qr_wait"  # the customer shows a wallet code or token to the kiosk
    MERCHANT_QR = "merchant_qr"  # the kiosk shows its payment QR to the customer's phone
    AUTHORIZING = "authorizing"
    APPROVED = "approved"
    DECLINED = "declined"
    OFFLINE_LIMIT = "offline_limit"
    ERROR = "error"


class Method(StrEnum):
    """How the customer pays."""

    FACE = "face"
    CUSTOMER_QR = "customer_qr"
    MERCHANT_QR = "merchant_qr"


@dataclass(frozen=True)
class Timeouts:
    """Seconds each phase may last before the machine moves on by itself."""

    basket: float = 120.0
    choose_payment: float = 60.0
    face: float = 25.0
    walk_away: float = 8.0  # no face seen this long during face capture: the customer left
    step_up: float = 30.0
    qr_wait: float = 60.0
    merchant_qr: float = 120.0
    authorizing: float = 20.0
    result: float = 6.0
    error: float = 10.0


MAX_STEP_UP_ATTEMPTS = 3
# The smile counts as consent only once the amount has been on screen this long (seconds).
AMOUNT_SEEN_S = 1.0
MAX_QUANTITY = 99


@dataclass(frozen=True)
class BasketItem:
    """One line of the basket."""

    name: str
    quantity: int
    unit_minor: int
    item_id: str | None = None  # the catalogue id, when the item came from the catalogue

    @property
    def amount_minor(self) -> int:
        """Line total in minor units."""
        return self.quantity * self.unit_minor

    def same_product(self, other: BasketItem) -> bool:
        """Whether `other` is the same product at the same price (so the lines merge)."""
        mine = self.item_id or self.name
        return mine == (other.item_id or other.name) and self.unit_minor == other.unit_minor


@dataclass(frozen=True)
class Match:
    """Who the face pipeline matched, and how sure it was."""

    customer_id: str
    name: str
    score: float
    margin: float


@dataclass(frozen=True)
class State:
    """The whole checkout state; replaced, never mutated."""

    phase: Phase = Phase.IDLE
    items: tuple[BasketItem, ...] = ()
    sale_id: str | None = None
    method: Method | None = None
    deadline: float | None = None
    last_face_at: float | None = None
    guidance: str | None = None
    match: Match | None = None
    step_up_attempts: int = 0
    step_up_pending: bool = False
    notice: str | None = None  # why we are here, for the log and the operator (developer text)
    reason: str | None = None  # the same as a reason code the screen translates ("no_match")
    amount_shown_at: float | None = None  # when the face screen (with the amount) started
    offline: bool = False
    camera_ok: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def total_minor(self) -> int:
        """Basket total in minor units."""
        return sum(item.amount_minor for item in self.items)


# --- events (each carries the time it happened) ------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time passes; deadlines are checked."""

    at: float


@dataclass(frozen=True)
class ItemAdded:
    """An item was scanned or picked."""

    at: float
    item: BasketItem


@dataclass(frozen=True)
class ItemRemoved:
    """The customer removed the basket line at `index`."""

    at: float
    index: int


@dataclass(frozen=True)
class QuantityChanged:
    """The customer tapped + or - on the basket line at `index`."""

    at: float
    index: int
    delta: int


@dataclass(frozen=True)
class Back:
    """The customer pressed back (or "pay another way" after a refusal); a new sale id is made
    by the caller, used when the refused sale's id cannot be tried again."""

    at: float
    new_sale_id: str | None = None


@dataclass(frozen=True)
class StillHere:
    """The customer answered "are you still there?": the current step's time starts again."""

    at: float


@dataclass(frozen=True)
class CheckoutRequested:
    """The customer pressed "pay"; the caller has made the sale id first."""

    at: float
    sale_id: str


@dataclass(frozen=True)
class PaymentChosen:
    """The customer picked how to pay."""

    at: float
    method: Method


@dataclass(frozen=True)
class FaceGuidance:
    """The face pipeline's latest advice ("come_closer", "now_smile", ...)."""

    at: float
    guidance: str
    face_present: bool


@dataclass(frozen=True)
class FaceDecided:
    """The face pipeline decided: pay, step_up, no_match, not_live or no_face."""

    at: float
    kind: str
    match: Match | None = None
    reason: str | None = None


@dataclass(frozen=True)
class KeypadEntered:
    """The customer typed the step-up digits (phone last 4 or PIN)."""

    at: float
    digits: str


@dataclass(frozen=True)
class StepUpChecked:
    """The result of checking the step-up digits."""

    at: float
    ok: bool


@dataclass(frozen=True)
class CodePresented:
    """A customer-presented code was read and is valid (wallet code or signed token)."""

    at: float
    kind: str
    text: str
    customer_id: str | None = None


@dataclass(frozen=True)
class CodeRejected:
    """A code was read but is not acceptable (the reason is shown; the kiosk keeps waiting)."""

    at: float
    reason: str
    code: str = "code_rejected"  # reason code for the screen


@dataclass(frozen=True)
class MerchantQrPaid:
    """The customer's phone paid the kiosk's QR (confirmed by the ledger)."""

    at: float
    reference: str


@dataclass(frozen=True)
class SaleApproved:
    """The sale is durably recorded (online-authorised or offline within limits)."""

    at: float
    sale_id: str
    offline: bool


@dataclass(frozen=True)
class SaleDeclined:
    """The ledger declined the sale (nothing was recorded)."""

    at: float
    reason: str
    code: str = "declined"  # reason code for the screen ("insufficient_funds", ...)


@dataclass(frozen=True)
class OfflineLimitReached:
    """The ledger is unreachable and an offline limit forbids this sale."""

    at: float
    reason: str


@dataclass(frozen=True)
class CameraLost:
    """The camera disappeared."""

    at: float
    reason: str


@dataclass(frozen=True)
class CameraRestored:
    """The camera is back."""

    at: float


@dataclass(frozen=True)
class Cancel:
    """The customer pressed cancel."""

    at: float


@dataclass(frozen=True)
class Fault:
    """Something inside the kiosk failed (the sale in progress, if any, was not recorded)."""

    at: float
    reason: str


Event = (
    Tick
    | ItemAdded
    | ItemRemoved
    | QuantityChanged
    | Back
    | StillHere
    | CheckoutRequested
    | PaymentChosen
    | FaceGuidance
    | FaceDecided
    | KeypadEntered
    | StepUpChecked
    | CodePresented
    | CodeRejected
    | MerchantQrPaid
    | SaleApproved
    | SaleDeclined
    | OfflineLimitReached
    | CameraLost
    | CameraRestored
    | Cancel
    | Fault
)


# --- commands (the app carries them out) -------------------------------------------------------


@dataclass(frozen=True)
class StartFaceSession:
    """Start looking for the customer's face and smile for this amount."""

    sale_id: str
    amount_minor: int


@dataclass(frozen=True)
class StopFaceSession:
    """Stop the face session (if any)."""


@dataclass(frozen=True)
class StartCodeScan:
    """Start reading customer-presented codes (camera low-res stream and scanner)."""


@dataclass(frozen=True)
class StopCodeScan:
    """Stop reading codes."""


@dataclass(frozen=True)
class ShowMerchantQr:
    """Show the kiosk's dynamic payment QR for this amount and reference."""

    sale_id: str
    amount_minor: int


@dataclass(frozen=True)
class VerifyStepUp:
    """Check the digits against the matched customer's step-up secret."""

    customer_id: str
    digits: str


@dataclass(frozen=True)
class AuthorizeSale:
    """Authorise and durably record the sale (online first, offline within limits)."""

    sale_id: str
    method: Method
    amount_minor: int
    items: tuple[BasketItem, ...]
    customer_id: str | None
    evidence: tuple[tuple[str, str | int | bool], ...]


@dataclass(frozen=True)
class PrintReceipt:
    """Print the receipt of a recorded sale (never blocks the sale)."""

    sale_id: str


@dataclass(frozen=True)
class SetLight:
    """Set the status light."""

    light: Light


@dataclass(frozen=True)
class PulseRelay:
    """Open the gate or lock."""


Command = (
    StartFaceSession
    | StopFaceSession
    | StartCodeScan
    | StopCodeScan
    | ShowMerchantQr
    | VerifyStepUp
    | AuthorizeSale
    | PrintReceipt
    | SetLight
    | PulseRelay
)
Step = tuple[State, list[Command]]

CANCELLABLE = {
    Phase.BASKET,
    Phase.CHOOSE_PAYMENT,
    Phase.FACE_CAPTURE,
    Phase.SMILE_PROMPT,
    Phase.STEP_UP,
    Phase.QR_WAIT,
    Phase.MERCHANT_QR,
    Phase.OFFLINE_LIMIT,
    Phase.DECLINED,
}
FACE_PHASES = {Phase.FACE_CAPTURE, Phase.SMILE_PROMPT}
METHOD_PHASES = {*FACE_PHASES, Phase.STEP_UP, Phase.QR_WAIT, Phase.MERCHANT_QR}
REFUSED_PHASES = {Phase.DECLINED, Phase.OFFLINE_LIMIT}  # nothing was recorded: try another way
# Ledger decline reasons the screen has words for; any other is "declined".
DECLINE_CODES = {"insufficient funds": "insufficient_funds"}


def step(state: State, event: Event) -> Step:
    """Advance the checkout by one event; return the new state and the commands to carry out."""
    if isinstance(event, Tick):
        return _on_tick(state, event.at)
    if isinstance(event, Cancel):
        return _on_cancel(state)
    if isinstance(event, Back):
        return _on_back(state, event)
    if isinstance(event, StillHere):
        return _still_here(state, event.at)
    if isinstance(event, Fault):
        return _to_error(state, event.at, event.reason, "fault")
    if isinstance(event, CameraLost | CameraRestored):
        return _on_camera(state, event)
    handler = _HANDLERS.get((state.phase, type(event)))
    if handler is None:
        return state, []  # not meaningful here (a late pipeline result, a stray tap): ignore
    return handler(state, event)


def decline_code(reason: str | None) -> str:
    """The screen's reason code for a ledger's decline reason."""
    return DECLINE_CODES.get((reason or "").strip().lower(), "declined")


# --- helpers -----------------------------------------------------------------------------------


def _idle(state: State) -> State:
    return State(camera_ok=state.camera_ok, timeouts=state.timeouts)


def _stop_inputs(state: State) -> list[Command]:
    if state.phase in FACE_PHASES or state.phase == Phase.STEP_UP:
        return [StopFaceSession()]
    if state.phase == Phase.QR_WAIT:
        return [StopCodeScan()]
    return []


def _back_to_choice(state: State, at: float, notice: str | None, reason: str | None) -> Step:
    commands = _stop_inputs(state)
    chosen = replace(
        state,
        phase=Phase.CHOOSE_PAYMENT,
        method=None,
        deadline=at + state.timeouts.choose_payment,
        guidance=None,
        match=None,
        step_up_attempts=0,
        step_up_pending=False,
        notice=notice,
        reason=reason,
        amount_shown_at=None,
    )
    return chosen, [*commands, SetLight(Light.BUSY)]


def _to_error(state: State, at: float, notice: str, reason: str) -> Step:
    commands = _stop_inputs(state)
    deadline = at + state.timeouts.error
    failed = replace(state, phase=Phase.ERROR, notice=notice, reason=reason, deadline=deadline)
    return failed, [*commands, SetLight(Light.DECLINED)]


def _on_cancel(state: State) -> Step:
    if state.phase not in CANCELLABLE:
        return state, []
    return _idle(state), [*_stop_inputs(state), SetLight(Light.IDLE)]


def _on_back(state: State, event: Back) -> Step:
    """One step back: a payment method to the choice, the choice to the basket, a refused sale
    to the choice under a new sale id (the refused id is spent)."""
    if state.phase in METHOD_PHASES:
        return _back_to_choice(state, event.at, None, None)
    if state.phase == Phase.CHOOSE_PAYMENT:
        deadline = event.at + state.timeouts.basket
        basket = replace(state, phase=Phase.BASKET, sale_id=None, deadline=deadline)
        return replace(basket, notice=None, reason=None), []
    if state.phase in REFUSED_PHASES and event.new_sale_id:
        retry = replace(state, sale_id=event.new_sale_id, offline=False)
        return _back_to_choice(retry, event.at, None, None)
    return state, []


def _still_here(state: State, at: float) -> Step:
    """The customer is still there: the waiting step's clock starts again (in front of the
    camera, the walk-away clock too)."""
    timeouts = state.timeouts
    allowed = {
        Phase.BASKET: timeouts.basket,
        Phase.CHOOSE_PAYMENT: timeouts.choose_payment,
        Phase.FACE_CAPTURE: timeouts.face,
        Phase.SMILE_PROMPT: timeouts.face,
        Phase.STEP_UP: timeouts.step_up,
        Phase.QR_WAIT: timeouts.qr_wait,
        Phase.MERCHANT_QR: timeouts.merchant_qr,
    }
    if state.phase not in allowed:
        return state, []
    here = replace(state, deadline=at + allowed[state.phase])
    return (replace(here, last_face_at=at) if state.phase in FACE_PHASES else here), []


def next_timeout(state: State, now: float) -> tuple[float, Phase] | None:
    """Seconds until the machine moves on by itself, and the phase it then goes to (for the
    screen's "are you still there?"); None when nothing is counting down."""
    if state.deadline is None or state.phase == Phase.IDLE:
        return None
    left = max(state.deadline - now, 0.0)
    if state.phase in FACE_PHASES and state.last_face_at is not None:
        walk_away = max(state.last_face_at + state.timeouts.walk_away - now, 0.0)
        if walk_away < left:
            return walk_away, Phase.IDLE
    if state.phase in METHOD_PHASES:
        return left, Phase.CHOOSE_PAYMENT
    if state.phase == Phase.AUTHORIZING:
        return left, Phase.ERROR
    return left, Phase.IDLE


def _on_camera(state: State, event: CameraLost | CameraRestored) -> Step:
    if isinstance(event, CameraRestored):
        return replace(state, camera_ok=True), []
    lost = replace(state, camera_ok=False)
    if state.phase in FACE_PHASES:
        notice = f"camera unavailable: {event.reason}"
        return _back_to_choice(lost, event.at, notice, "camera_unavailable")
    return lost, []


def _on_tick(state: State, at: float) -> Step:
    walked_away = (
        state.phase in FACE_PHASES
        and state.last_face_at is not None
        and at - state.last_face_at >= state.timeouts.walk_away
    )
    if walked_away:
        return _idle(state), [StopFaceSession(), SetLight(Light.IDLE)]
    if state.deadline is None or at < state.deadline:
        return state, []
    return _on_deadline(state, at)


def _on_deadline(state: State, at: float) -> Step:
    phase = state.phase
    if phase in FACE_PHASES:
        return _back_to_choice(state, at, "we could not see a smile in time", "smile_timeout")
    if phase in {Phase.STEP_UP, Phase.QR_WAIT, Phase.MERCHANT_QR}:
        return _back_to_choice(state, at, "the payment timed out", "timed_out")
    if phase == Phase.AUTHORIZING:
        return _to_error(state, at, "no answer while recording the sale", "no_answer")
    return _idle(state), [*_stop_inputs(state), SetLight(Light.IDLE)]


def _add_item(state: State, event: ItemAdded) -> Step:
    """Add a line, or (same product, same price) add to the line's quantity."""
    new = event.item
    items = list(state.items)
    same = next((i for i, line in enumerate(items) if line.same_product(new)), None)
    if same is None:
        items.append(new)
    else:
        quantity = min(items[same].quantity + new.quantity, MAX_QUANTITY)
        items[same] = replace(items[same], quantity=quantity)
    added = replace(
        state,
        phase=Phase.BASKET,
        items=tuple(items),
        deadline=event.at + state.timeouts.basket,
        notice=None,
        reason=None,
    )
    return added, [SetLight(Light.BUSY)] if state.phase == Phase.IDLE else []


def _remove_item(state: State, event: ItemRemoved) -> Step:
    if not 0 <= event.index < len(state.items):
        return state, []
    items = state.items[: event.index] + state.items[event.index + 1 :]
    if not items:
        return _idle(state), [SetLight(Light.IDLE)]
    return replace(state, items=items, deadline=event.at + state.timeouts.basket), []


def _change_quantity(state: State, event: QuantityChanged) -> Step:
    """+ or - on a line; a line at zero goes, and an empty basket is idle."""
    if not 0 <= event.index < len(state.items) or event.delta not in {-1, 1}:
        return state, []
    line = state.items[event.index]
    quantity = min(line.quantity + event.delta, MAX_QUANTITY)
    if quantity <= 0:
        return _remove_item(state, ItemRemoved(event.at, event.index))
    items = list(state.items)
    items[event.index] = replace(line, quantity=quantity)
    return replace(state, items=tuple(items), deadline=event.at + state.timeouts.basket), []


def _request_checkout(state: State, event: CheckoutRequested) -> Step:
    if not state.items or state.total_minor <= 0:
        return state, []
    choosing = replace(
        state,
        phase=Phase.CHOOSE_PAYMENT,
        sale_id=event.sale_id,
        deadline=event.at + state.timeouts.choose_payment,
    )
    return choosing, []


def _choose_payment(state: State, event: PaymentChosen) -> Step:
    assert state.sale_id is not None
    at, amount = event.at, state.total_minor
    base = replace(state, method=event.method, notice=None, reason=None, guidance=None, match=None)
    if event.method == Method.FACE:
        if not state.camera_ok:
            notice = "camera unavailable: please pay with a QR code"
            return replace(state, notice=notice, reason="camera_unavailable"), []
        face = replace(base, phase=Phase.FACE_CAPTURE, deadline=at + state.timeouts.face)
        face = replace(face, last_face_at=at, amount_shown_at=at)
        return face, [StartFaceSession(state.sale_id, amount)]
    if event.method == Method.CUSTOMER_QR:
        waiting = replace(base, phase=Phase.QR_WAIT, deadline=at + state.timeouts.qr_wait)
        return waiting, [StartCodeScan()]
    showing = replace(base, phase=Phase.MERCHANT_QR, deadline=at + state.timeouts.merchant_qr)
    return showing, [ShowMerchantQr(state.sale_id, amount)]


def _face_guidance(state: State, event: FaceGuidance) -> Step:
    seen_at = event.at if event.face_present else state.last_face_at
    phase = Phase.SMILE_PROMPT if event.guidance == "now_smile" else state.phase
    return replace(state, phase=phase, guidance=event.guidance, last_face_at=seen_at), []


def _authorize(state: State, at: float, method: Method, **evidence: str | int | bool) -> Step:
    assert state.sale_id is not None
    customer = state.match.customer_id if state.match else evidence.pop("customer_id", None)
    command = AuthorizeSale(
        sale_id=state.sale_id,
        method=method,
        amount_minor=state.total_minor,
        items=state.items,
        customer_id=str(customer) if customer else None,
        evidence=tuple(sorted(evidence.items())),
    )
    authorizing = replace(
        state,
        phase=Phase.AUTHORIZING,
        deadline=at + state.timeouts.authorizing,
        notice=None,
        reason=None,
    )
    return authorizing, [command]


def amount_seen_long_enough(state: State, at: float) -> bool:
    """Whether the amount has been on the face screen for AMOUNT_SEEN_S by `at`."""
    shown = state.amount_shown_at
    return shown is not None and at - shown >= AMOUNT_SEEN_S


def _face_decided(state: State, event: FaceDecided) -> Step:
    if event.kind in {"pay", "step_up"} and event.match is not None:
        if not amount_seen_long_enough(state, event.at):
            # A smile before the customer could read the amount is no consent: look again.
            return state, [
                StopFaceSession(),
                StartFaceSession(state.sale_id or "", state.total_minor),
            ]
        matched = replace(state, match=event.match)
        if event.kind == "step_up":
            deadline = event.at + state.timeouts.step_up
            stepping = replace(matched, phase=Phase.STEP_UP, deadline=deadline)
            return replace(stepping, notice=None, reason=None), []
        after_face = [StopFaceSession()]
        next_state, commands = _authorize(matched, event.at, Method.FACE, **_face_evidence(matched))
        return next_state, after_face + commands
    notices = {
        "no_match": "we did not recognise you: please pay with a QR code",
        "not_live": "we could not confirm a live smile: please try again or pay with a QR code",
        "no_face": "we could not see your face",
    }
    reason = event.kind if event.kind in notices else "face_failed"
    notice = event.reason or notices.get(event.kind, event.kind)
    return _back_to_choice(state, event.at, notice, reason)


def _face_evidence(state: State, step_up: bool = False) -> dict[str, str | int | bool]:
    assert state.match is not None
    return {
        "score": f"{state.match.score:.4f}",
        "margin": f"{state.match.margin:.4f}",
        "step_up": step_up,
    }


def _keypad(state: State, event: KeypadEntered) -> Step:
    if state.step_up_pending or state.match is None:
        return state, []
    pending = replace(state, step_up_pending=True)
    return pending, [VerifyStepUp(state.match.customer_id, event.digits)]


def _step_up_checked(state: State, event: StepUpChecked) -> Step:
    checked = replace(state, step_up_pending=False)
    if event.ok:
        after_face = [StopFaceSession()]
        evidence = _face_evidence(checked, step_up=True)
        next_state, commands = _authorize(checked, event.at, Method.FACE, **evidence)
        return next_state, after_face + commands
    attempts = state.step_up_attempts + 1
    if attempts >= MAX_STEP_UP_ATTEMPTS:
        declined, commands = _result(
            checked, event.at, Phase.DECLINED, "step-up failed", "step_up_failed"
        )
        return declined, [StopFaceSession(), *commands]
    retry = replace(checked, step_up_attempts=attempts, notice="that did not match")
    return replace(retry, reason="step_up_mismatch"), []


def _code_presented(state: State, event: CodePresented) -> Step:
    evidence: dict[str, str | int | bool] = {"kind": event.kind, "code": event.text}
    if event.customer_id:
        evidence["customer_id"] = event.customer_id
    next_state, commands = _authorize(state, event.at, Method.CUSTOMER_QR, **evidence)
    return next_state, [StopCodeScan(), *commands]


def _code_rejected(state: State, event: CodeRejected) -> Step:
    return replace(state, notice=event.reason, reason=event.code), []


def _merchant_qr_paid(state: State, event: MerchantQrPaid) -> Step:
    return _authorize(state, event.at, Method.MERCHANT_QR, reference=event.reference)


def _result(
    state: State, at: float, phase: Phase, notice: str | None, reason: str | None = None
) -> Step:
    light = Light.APPROVED if phase == Phase.APPROVED else Light.DECLINED
    deadline = at + state.timeouts.result
    done = replace(state, phase=phase, notice=notice, reason=reason, deadline=deadline)
    return done, [SetLight(light)]


def _approved(state: State, event: SaleApproved) -> Step:
    recorded = replace(state, sale_id=event.sale_id, offline=event.offline)
    done, commands = _result(recorded, event.at, Phase.APPROVED, None)
    return done, [PrintReceipt(event.sale_id), *commands, PulseRelay()]


def _declined(state: State, event: SaleDeclined) -> Step:
    return _result(state, event.at, Phase.DECLINED, event.reason, event.code)


def _limit_reached(state: State, event: OfflineLimitReached) -> Step:
    return _result(state, event.at, Phase.OFFLINE_LIMIT, event.reason, "offline_limit")


_HANDLERS: dict[tuple[Phase, type], Callable[[State, Any], Step]] = {
    (Phase.IDLE, ItemAdded): _add_item,
    (Phase.BASKET, ItemAdded): _add_item,
    (Phase.BASKET, ItemRemoved): _remove_item,
    (Phase.BASKET, QuantityChanged): _change_quantity,
    (Phase.BASKET, CheckoutRequested): _request_checkout,
    (Phase.CHOOSE_PAYMENT, PaymentChosen): _choose_payment,
    (Phase.FACE_CAPTURE, FaceGuidance): _face_guidance,
    (Phase.SMILE_PROMPT, FaceGuidance): _face_guidance,
    (Phase.FACE_CAPTURE, FaceDecided): _face_decided,
    (Phase.SMILE_PROMPT, FaceDecided): _face_decided,
    (Phase.STEP_UP, KeypadEntered): _keypad,
    (Phase.STEP_UP, StepUpChecked): _step_up_checked,
    (Phase.QR_WAIT, CodePresented): _code_presented,
    (Phase.QR_WAIT, CodeRejected): _code_rejected,
    (Phase.MERCHANT_QR, MerchantQrPaid): _merchant_qr_paid,
    (Phase.AUTHORIZING, SaleApproved): _approved,
    (Phase.AUTHORIZING, SaleDeclined): _declined,
    (Phase.AUTHORIZING, OfflineLimitReached): _limit_reached,
}
