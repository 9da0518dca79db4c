"""The checkout state machine, driven from tables: every transition, timeouts, walk-away, cancel."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout import (
    MAX_STEP_UP_ATTEMPTS,
    AuthorizeSale,
    Back,
    BasketItem,
    CameraLost,
    CameraRestored,
    Cancel,
    CheckoutRequested,
    CodePresented,
    CodeRejected,
    FaceDecided,
    FaceGuidance,
    Fault,
    ItemAdded,
    ItemRemoved,
    KeypadEntered,
    Match,
    MerchantQrPaid,
    Method,
    OfflineLimitReached,
    PaymentChosen,
    Phase,
    PrintReceipt,
    PulseRelay,
    QuantityChanged,
    SaleApproved,
    SaleDeclined,
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
from drivers.indicator.base import Light

COFFEE = BasketItem("coffee", 1, 1250)
ALICE = Match("cust-alice", "Alice", 0.31, 0.22)

IDLE = State()
BASKET = State(phase=Phase.BASKET, items=(COFFEE,), deadline=120.0)
CHOOSE = replace(BASKET, phase=Phase.CHOOSE_PAYMENT, sale_id="sale-1", deadline=60.0)
FACE = replace(
    CHOOSE,
    phase=Phase.FACE_CAPTURE,
    method=Method.FACE,
    deadline=25.0,
    last_face_at=0.0,
    amount_shown_at=0.0,
)
SMILE = replace(FACE, phase=Phase.SMILE_PROMPT, guidance="now_smile")
STEP_UP = replace(FACE, phase=Phase.STEP_UP, match=ALICE, deadline=30.0)
QR = replace(CHOOSE, phase=Phase.QR_WAIT, method=Method.CUSTOMER_QR, deadline=60.0)
MQR = replace(CHOOSE, phase=Phase.MERCHANT_QR, method=Method.MERCHANT_QR, deadline=120.0)
AUTH = replace(CHOOSE, phase=Phase.AUTHORIZING, method=Method.FACE, match=ALICE, deadline=20.0)
APPROVED = replace(AUTH, phase=Phase.APPROVED, deadline=6.0)
DECLINED = replace(AUTH, phase=Phase.DECLINED, deadline=6.0, notice="insufficient funds")
LIMIT = replace(AUTH, phase=Phase.OFFLINE_LIMIT, deadline=6.0, notice="offline limit")
ERROR = replace(AUTH, phase=Phase.ERROR, deadline=10.0, notice="boom")

# (behaviour, GIVEN state, WHEN event, THEN phase, THEN command types in order)
TRANSITIONS = [
    ("first item starts a basket", IDLE, ItemAdded(1, COFFEE), Phase.BASKET, [SetLight]),
    ("another item extends the basket", BASKET, ItemAdded(1, COFFEE), Phase.BASKET, []),
    ("removing the last item empties to idle", BASKET, ItemRemoved(1, 0), Phase.IDLE, [SetLight]),
    ("removing a missing line is ignored", BASKET, ItemRemoved(1, 5), Phase.BASKET, []),
    ("pay leads to payment choice", BASKET, CheckoutRequested(1, "s"), Phase.CHOOSE_PAYMENT, []),
    ("pay with no basket is ignored", IDLE, CheckoutRequested(1, "s"), Phase.IDLE, []),
    (
        "smile chosen starts face capture",
        CHOOSE,
        PaymentChosen(1, Method.FACE),
        Phase.FACE_CAPTURE,
        [StartFaceSession],
    ),
    (
        "smile chosen without camera stays",
        replace(CHOOSE, camera_ok=False),
        PaymentChosen(1, Method.FACE),
        Phase.CHOOSE_PAYMENT,
        [],
    ),
    (
        "show-your-QR chosen starts scanning",
        CHOOSE,
        PaymentChosen(1, Method.CUSTOMER_QR),
        Phase.QR_WAIT,
        [StartCodeScan],
    ),
    (
        "scan-our-QR chosen shows merchant QR",
        CHOOSE,
        PaymentChosen(1, Method.MERCHANT_QR),
        Phase.MERCHANT_QR,
        [ShowMerchantQr],
    ),
    (
        "guidance keeps capturing",
        FACE,
        FaceGuidance(1, "come_closer", True),
        Phase.FACE_CAPTURE,
        [],
    ),
    (
        "neutral face seen prompts a smile",
        FACE,
        FaceGuidance(1, "now_smile", True),
        Phase.SMILE_PROMPT,
        [],
    ),
    (
        "match decided pays",
        SMILE,
        FaceDecided(2, "pay", ALICE),
        Phase.AUTHORIZING,
        [StopFaceSession, AuthorizeSale],
    ),
    (
        "ambiguous match asks for step-up",
        SMILE,
        FaceDecided(2, "step_up", ALICE),
        Phase.STEP_UP,
        [],
    ),
    (
        "no match offers other payments",
        SMILE,
        FaceDecided(2, "no_match"),
        Phase.CHOOSE_PAYMENT,
        [StopFaceSession, SetLight],
    ),
    (
        "not live offers other payments",
        SMILE,
        FaceDecided(2, "not_live"),
        Phase.CHOOSE_PAYMENT,
        [StopFaceSession, SetLight],
    ),
    (
        "no face offers other payments",
        FACE,
        FaceDecided(2, "no_face"),
        Phase.CHOOSE_PAYMENT,
        [StopFaceSession, SetLight],
    ),
    ("digits are checked", STEP_UP, KeypadEntered(3, "1234"), Phase.STEP_UP, [VerifyStepUp]),
    (
        "digits while a check is pending are ignored",
        replace(STEP_UP, step_up_pending=True),
        KeypadEntered(3, "1234"),
        Phase.STEP_UP,
        [],
    ),
    (
        "step-up passed pays",
        replace(STEP_UP, step_up_pending=True),
        StepUpChecked(4, True),
        Phase.AUTHORIZING,
        [StopFaceSession, AuthorizeSale],
    ),
    ("step-up failed once may retry", STEP_UP, StepUpChecked(4, False), Phase.STEP_UP, []),
    (
        "step-up failed too often declines",
        replace(STEP_UP, step_up_attempts=MAX_STEP_UP_ATTEMPTS - 1),
        StepUpChecked(4, False),
        Phase.DECLINED,
        [StopFaceSession, SetLight],
    ),
    (
        "valid customer code pays",
        QR,
        CodePresented(2, "alipay", "2812345678901234"),
        Phase.AUTHORIZING,
        [StopCodeScan, AuthorizeSale],
    ),
    ("rejected code keeps waiting", QR, CodeRejected(2, "bad CRC"), Phase.QR_WAIT, []),
    (
        "merchant QR paid records the sale",
        MQR,
        MerchantQrPaid(2, "ref-1"),
        Phase.AUTHORIZING,
        [AuthorizeSale],
    ),
    (
        "recorded sale is approved",
        AUTH,
        SaleApproved(3, "sale-1", offline=False),
        Phase.APPROVED,
        [PrintReceipt, SetLight, PulseRelay],
    ),
    (
        "ledger decline is shown",
        AUTH,
        SaleDeclined(3, "insufficient funds"),
        Phase.DECLINED,
        [SetLight],
    ),
    (
        "offline limit is shown",
        AUTH,
        OfflineLimitReached(3, "over per-sale limit"),
        Phase.OFFLINE_LIMIT,
        [SetLight],
    ),
    ("cancel during recording is refused", AUTH, Cancel(3), Phase.AUTHORIZING, []),
    ("cancel in basket", BASKET, Cancel(3), Phase.IDLE, [SetLight]),
    ("cancel in choice", CHOOSE, Cancel(3), Phase.IDLE, [SetLight]),
    ("cancel in face capture", FACE, Cancel(3), Phase.IDLE, [StopFaceSession, SetLight]),
    ("cancel in smile prompt", SMILE, Cancel(3), Phase.IDLE, [StopFaceSession, SetLight]),
    ("cancel in step-up", STEP_UP, Cancel(3), Phase.IDLE, [StopFaceSession, SetLight]),
    ("cancel in QR wait", QR, Cancel(3), Phase.IDLE, [StopCodeScan, SetLight]),
    ("cancel in merchant QR", MQR, Cancel(3), Phase.IDLE, [SetLight]),
    ("cancel after decline", DECLINED, Cancel(3), Phase.IDLE, [SetLight]),
    (
        "tick before a deadline does nothing",
        replace(FACE, last_face_at=4.0),
        Tick(5),
        Phase.FACE_CAPTURE,
        [],
    ),
    ("abandoned basket times out", BASKET, Tick(121), Phase.IDLE, [SetLight]),
    ("undecided payment choice times out", CHOOSE, Tick(61), Phase.IDLE, [SetLight]),
    (
        "face capture times out to choice",
        replace(FACE, last_face_at=25.0),
        Tick(26),
        Phase.CHOOSE_PAYMENT,
        [StopFaceSession, SetLight],
    ),
    (
        "customer walks away from face capture",
        FACE,
        Tick(9),
        Phase.IDLE,
        [StopFaceSession, SetLight],
    ),
    (
        "customer walks away from smile prompt",
        SMILE,
        Tick(9),
        Phase.IDLE,
        [StopFaceSession, SetLight],
    ),
    (
        "step-up times out to choice",
        STEP_UP,
        Tick(31),
        Phase.CHOOSE_PAYMENT,
        [StopFaceSession, SetLight],
    ),
    ("QR wait times out to choice", QR, Tick(61), Phase.CHOOSE_PAYMENT, [StopCodeScan, SetLight]),
    ("merchant QR times out to choice", MQR, Tick(121), Phase.CHOOSE_PAYMENT, [SetLight]),
    ("recording with no answer is an error", AUTH, Tick(21), Phase.ERROR, [SetLight]),
    ("approved screen returns to idle", APPROVED, Tick(7), Phase.IDLE, [SetLight]),
    ("declined screen returns to idle", DECLINED, Tick(7), Phase.IDLE, [SetLight]),
    ("offline-limit screen returns to idle", LIMIT, Tick(7), Phase.IDLE, [SetLight]),
    ("error screen returns to idle", ERROR, Tick(11), Phase.IDLE, [SetLight]),
    (
        "camera lost in capture offers other payments",
        FACE,
        CameraLost(2, "unplugged"),
        Phase.CHOOSE_PAYMENT,
        [StopFaceSession, SetLight],
    ),
    ("camera lost while idle is remembered", IDLE, CameraLost(2, "unplugged"), Phase.IDLE, []),
    ("fault while recording is an error", AUTH, Fault(2, "disk full"), Phase.ERROR, [SetLight]),
    (
        "late face result after cancel is ignored",
        IDLE,
        FaceDecided(2, "pay", ALICE),
        Phase.IDLE,
        [],
    ),
    (
        "a smile before the amount was on screen 1 s does not pay: the face is looked at again",
        SMILE,
        FaceDecided(0.99, "pay", ALICE),
        Phase.SMILE_PROMPT,
        [StopFaceSession, StartFaceSession],
    ),
    (
        "a smile exactly 1 s after the amount appeared pays",
        SMILE,
        FaceDecided(1.0, "pay", ALICE),
        Phase.AUTHORIZING,
        [StopFaceSession, AuthorizeSale],
    ),
    (
        "an early step-up match is looked at again too",
        FACE,
        FaceDecided(0.5, "step_up", ALICE),
        Phase.FACE_CAPTURE,
        [StopFaceSession, StartFaceSession],
    ),
    (
        "a smile with no record of the amount on screen never pays",
        replace(SMILE, amount_shown_at=None),
        FaceDecided(50, "pay", ALICE),
        Phase.SMILE_PROMPT,
        [StopFaceSession, StartFaceSession],
    ),
    ("plus on a line keeps the basket", BASKET, QuantityChanged(1, 0, 1), Phase.BASKET, []),
    (
        "minus on the only line of one empties to idle",
        BASKET,
        QuantityChanged(1, 0, -1),
        Phase.IDLE,
        [SetLight],
    ),
    ("plus on a missing line is ignored", BASKET, QuantityChanged(1, 3, 1), Phase.BASKET, []),
    ("a jump of two is not a tap", BASKET, QuantityChanged(1, 0, 2), Phase.BASKET, []),
    ("back from the choice keeps the basket", CHOOSE, Back(2), Phase.BASKET, []),
    ("back from face capture", FACE, Back(2), Phase.CHOOSE_PAYMENT, [StopFaceSession, SetLight]),
    (
        "back from the smile prompt",
        SMILE,
        Back(2),
        Phase.CHOOSE_PAYMENT,
        [StopFaceSession, SetLight],
    ),
    ("back from step-up", STEP_UP, Back(2), Phase.CHOOSE_PAYMENT, [StopFaceSession, SetLight]),
    ("back from QR wait", QR, Back(2), Phase.CHOOSE_PAYMENT, [StopCodeScan, SetLight]),
    ("back from our QR", MQR, Back(2), Phase.CHOOSE_PAYMENT, [SetLight]),
    ("pay another way after a decline", DECLINED, Back(2, "s2"), Phase.CHOOSE_PAYMENT, [SetLight]),
    (
        "pay another way after an offline refusal",
        LIMIT,
        Back(2, "s2"),
        Phase.CHOOSE_PAYMENT,
        [SetLight],
    ),
    ("no other way without a new sale id", DECLINED, Back(2), Phase.DECLINED, []),
    ("back while recording is refused", AUTH, Back(2, "s2"), Phase.AUTHORIZING, []),
    ("back after approval is refused", APPROVED, Back(2, "s2"), Phase.APPROVED, []),
    (
        "back after an error is refused (the sale may yet land)",
        ERROR,
        Back(2, "s2"),
        Phase.ERROR,
        [],
    ),
    ("still here in the basket", BASKET, StillHere(100), Phase.BASKET, []),
    ("still here while recording changes nothing", AUTH, StillHere(10), Phase.AUTHORIZING, []),
    ("still here in front of the camera", FACE, StillHere(5), Phase.FACE_CAPTURE, []),
    (
        "late sale result in idle is ignored",
        IDLE,
        SaleApproved(2, "x", offline=True),
        Phase.IDLE,
        [],
    ),
]


@pytest.mark.parametrize(
    ("given", "event", "phase", "commands"),
    [row[1:] for row in TRANSITIONS],
    ids=[row[0] for row in TRANSITIONS],
)
def test_transition(given: State, event: object, phase: Phase, commands: list[type]) -> None:
    # WHEN the event arrives
    after, issued = step(given, event)  # type: ignore[arg-type]
    # THEN the machine is in the expected phase and issued exactly the expected commands
    assert after.phase == phase
    assert [type(c) for c in issued] == commands


def test_smile_payment_authorises_the_basket_for_the_matched_customer() -> None:
    # GIVEN a smiling, matched customer with a 12.50 basket
    # WHEN the face pipeline decides to pay
    _, commands = step(SMILE, FaceDecided(2, "pay", ALICE))
    # THEN the sale is authorised for that amount, that customer, with the match as evidence
    sale = commands[-1]
    assert isinstance(sale, AuthorizeSale)
    assert (sale.sale_id, sale.amount_minor, sale.customer_id) == ("sale-1", 1250, "cust-alice")
    assert dict(sale.evidence) == {"score": "0.3100", "margin": "0.2200", "step_up": False}


def test_customer_code_carries_its_customer_and_kind_as_evidence() -> None:
    # GIVEN the kiosk waits for a customer code
    # WHEN a signed customer token naming a customer is presented
    _, commands = step(QR, CodePresented(2, "token", "SPT1.x.y", customer_id="cust-bob"))
    # THEN the sale goes to that customer with the code as evidence
    sale = commands[-1]
    assert isinstance(sale, AuthorizeSale)
    assert sale.customer_id == "cust-bob"
    assert dict(sale.evidence) == {"kind": "token", "code": "SPT1.x.y"}


def test_step_up_sale_records_that_a_step_up_happened() -> None:
    _, commands = step(STEP_UP, StepUpChecked(4, True))
    sale = commands[-1]
    assert isinstance(sale, AuthorizeSale)
    assert dict(sale.evidence)["step_up"] is True


def test_approval_keeps_offline_for_the_screen() -> None:
    after, commands = step(AUTH, SaleApproved(3, "sale-1", offline=True))
    assert after.offline is True
    assert commands[-2] == SetLight(Light.APPROVED)


def test_removing_one_of_two_lines_keeps_the_other() -> None:
    two = replace(BASKET, items=(COFFEE, BasketItem("cake", 2, 300)))
    after, _ = step(two, ItemRemoved(1, 0))
    assert after.items == (BasketItem("cake", 2, 300),) and after.total_minor == 600


def test_cancel_clears_the_basket_and_sale_but_remembers_a_lost_camera() -> None:
    after, _ = step(replace(FACE, camera_ok=False), Cancel(3))
    assert after == State(camera_ok=False)


def test_camera_back_allows_smile_payment_again() -> None:
    lost, _ = step(CHOOSE, CameraLost(1, "unplugged"))
    back, _ = step(lost, CameraRestored(2))
    after, commands = step(back, PaymentChosen(3, Method.FACE))
    assert after.phase == Phase.FACE_CAPTURE and [type(c) for c in commands] == [StartFaceSession]


def test_the_same_product_at_the_same_price_merges_into_one_line() -> None:
    # GIVEN a basket with a coffee WHEN another coffee (same price) is added
    after, _ = step(BASKET, ItemAdded(2, COFFEE))
    # THEN one line of two coffees
    assert after.items == (BasketItem("coffee", 2, 1250),)
    # AND a coffee at another price is a line of its own
    after, _ = step(after, ItemAdded(3, BasketItem("coffee", 1, 999)))
    assert [i.quantity for i in after.items] == [2, 1]


def test_catalogue_items_merge_by_id() -> None:
    tea = BasketItem("Green tea", 1, 250, item_id="tea")
    after, _ = step(IDLE, ItemAdded(1, tea))
    after, _ = step(after, ItemAdded(2, BasketItem("Grüner Tee", 1, 250, item_id="tea")))
    assert len(after.items) == 1 and after.items[0].quantity == 2


def test_plus_and_minus_change_the_line_and_the_total() -> None:
    after, _ = step(BASKET, QuantityChanged(1, 0, 1))
    assert after.items[0].quantity == 2 and after.total_minor == 2500
    after, _ = step(after, QuantityChanged(2, 0, -1))
    assert after.items[0].quantity == 1 and after.total_minor == 1250


def test_still_here_restarts_the_step_clock() -> None:
    after, _ = step(BASKET, StillHere(100))
    assert after.deadline == 100 + after.timeouts.basket


def test_still_here_in_front_of_the_camera_restarts_the_walk_away_clock() -> None:
    after, _ = step(FACE, StillHere(6))
    assert after.last_face_at == 6 and after.deadline == 6 + after.timeouts.face
    assert step(after, Tick(13))[0].phase == Phase.FACE_CAPTURE  # 8 s walk-away not yet due


NEXT_TIMEOUTS = [
    ("basket", BASKET, 100.0, (20.0, Phase.IDLE)),
    ("choice", CHOOSE, 50.0, (10.0, Phase.IDLE)),
    ("face: walking away comes first", FACE, 5.0, (3.0, Phase.IDLE)),
    (
        "face: the capture time comes first",
        replace(FACE, last_face_at=20.0),
        22.0,
        (3.0, Phase.CHOOSE_PAYMENT),
    ),
    ("QR wait", QR, 55.0, (5.0, Phase.CHOOSE_PAYMENT)),
    ("recording", AUTH, 15.0, (5.0, Phase.ERROR)),
    ("past due", BASKET, 130.0, (0.0, Phase.IDLE)),
    ("idle", IDLE, 1.0, None),
]


@pytest.mark.parametrize(
    ("given", "now", "expected"), [r[1:] for r in NEXT_TIMEOUTS], ids=[r[0] for r in NEXT_TIMEOUTS]
)
def test_next_timeout_says_when_and_where_the_machine_moves_on(
    given: State, now: float, expected: tuple[float, Phase] | None
) -> None:
    from device.checkout import next_timeout

    assert next_timeout(given, now) == expected


def test_pay_another_way_uses_the_new_sale_id_and_clears_the_refusal() -> None:
    after, _ = step(DECLINED, Back(5, "sale-2"))
    assert (after.sale_id, after.notice, after.reason, after.items) == (
        "sale-2",
        None,
        None,
        (COFFEE,),
    )


def test_back_from_the_choice_forgets_the_sale_id() -> None:
    after, _ = step(CHOOSE, Back(5))
    assert after.sale_id is None and after.items == (COFFEE,)


def test_face_capture_records_when_the_amount_went_on_screen() -> None:
    after, _ = step(CHOOSE, PaymentChosen(7.5, Method.FACE))
    assert after.amount_shown_at == 7.5


REASONS = [
    ("no match", SMILE, FaceDecided(2, "no_match"), "no_match"),
    ("not live", SMILE, FaceDecided(2, "not_live", reason="blink missing"), "not_live"),
    ("no face", FACE, FaceDecided(2, "no_face"), "no_face"),
    ("smile too slow", replace(FACE, last_face_at=25.0), Tick(26), "smile_timeout"),
    ("QR wait too slow", QR, Tick(61), "timed_out"),
    ("no answer", AUTH, Tick(21), "no_answer"),
    ("camera lost", FACE, CameraLost(2, "/dev/video0 gone"), "camera_unavailable"),
    ("wrong digits", STEP_UP, StepUpChecked(4, False), "step_up_mismatch"),
    (
        "digits wrong too often",
        replace(STEP_UP, step_up_attempts=MAX_STEP_UP_ATTEMPTS - 1),
        StepUpChecked(4, False),
        "step_up_failed",
    ),
    (
        "rejected code",
        QR,
        CodeRejected(2, "WeChat Pay codes ...", "wallet_not_accepted"),
        "wallet_not_accepted",
    ),
    (
        "decline",
        AUTH,
        SaleDeclined(3, "insufficient funds", "insufficient_funds"),
        "insufficient_funds",
    ),
    (
        "offline limit",
        AUTH,
        OfflineLimitReached(3, "offline sale of 5040 is over ..."),
        "offline_limit",
    ),
    ("fault", AUTH, Fault(3, "disk full"), "fault"),
]


@pytest.mark.parametrize(
    ("given", "event", "reason"), [r[1:] for r in REASONS], ids=[r[0] for r in REASONS]
)
def test_every_notice_carries_a_reason_code(given: State, event: object, reason: str) -> None:
    # WHEN something goes wrong THEN the state names it by a code the screen translates
    after, _ = step(given, event)  # type: ignore[arg-type]
    assert after.reason == reason


def test_decline_reasons_from_the_ledger_become_codes() -> None:
    from device.checkout import decline_code

    assert decline_code("insufficient funds") == "insufficient_funds"
    assert decline_code("something new") == "declined"
    assert decline_code(None) == "declined"


EVENTS = st.one_of(
    st.builds(Tick, st.floats(0, 1000)),
    st.builds(ItemAdded, st.floats(0, 1000), st.just(COFFEE)),
    st.builds(ItemRemoved, st.floats(0, 1000), st.integers(-1, 3)),
    st.builds(CheckoutRequested, st.floats(0, 1000), st.just("sale-x")),
    st.builds(PaymentChosen, st.floats(0, 1000), st.sampled_from(list(Method))),
    st.builds(
        FaceGuidance,
        st.floats(0, 1000),
        st.sampled_from(["now_smile", "come_closer"]),
        st.booleans(),
    ),
    st.builds(
        FaceDecided,
        st.floats(0, 1000),
        st.sampled_from(["pay", "step_up", "no_match", "not_live", "no_face"]),
        st.just(ALICE),
    ),
    st.builds(KeypadEntered, st.floats(0, 1000), st.just("1234")),
    st.builds(StepUpChecked, st.floats(0, 1000), st.booleans()),
    st.builds(CodePresented, st.floats(0, 1000), st.just("wechat"), st.just("134567890123456789")),
    st.builds(SaleApproved, st.floats(0, 1000), st.just("sale-x"), st.booleans()),
    st.builds(SaleDeclined, st.floats(0, 1000), st.just("no funds")),
    st.builds(Cancel, st.floats(0, 1000)),
    st.builds(Back, st.floats(0, 1000), st.sampled_from([None, "sale-y"])),
    st.builds(StillHere, st.floats(0, 1000)),
    st.builds(QuantityChanged, st.floats(0, 1000), st.integers(-1, 3), st.sampled_from([-1, 1])),
    st.builds(CameraLost, st.floats(0, 1000), st.just("gone")),
    st.builds(Fault, st.floats(0, 1000), st.just("boom")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_any_event_sequence_keeps_the_machine_consistent(events: list[object]) -> None:
    # GIVEN any sequence of events, in any order
    state = State()
    for event in events:
        state, commands = step(state, event)  # type: ignore[arg-type]
        # THEN a sale is only ever authorised for a non-empty basket with a sale id
        for command in commands:
            if isinstance(command, AuthorizeSale):
                assert command.amount_minor > 0 and command.sale_id
                # AND a face sale only once the amount had been on screen for 1 s
                if command.method == Method.FACE:
                    assert state.amount_shown_at is not None
                    assert event.at - state.amount_shown_at >= 1.0  # type: ignore[attr-defined]
        # AND idle always means an empty basket, and a waiting phase always has a deadline
        assert state.phase != Phase.IDLE or state.items == ()
        assert state.phase == Phase.IDLE or state.deadline is not None
    # AND enough time always brings the kiosk back to idle (nothing strands a customer)
    for hour in range(1, 5):
        state, _ = step(state, Tick(1e6 * hour))
    assert state.phase == Phase.IDLE
