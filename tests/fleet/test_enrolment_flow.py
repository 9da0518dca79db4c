"""The screen's enrolment state machine (pure): order of steps, gates, what the screen sees."""

from __future__ import annotations

import pytest

from device import enrolment as flow

AT = "2026-12-01T10:00:00+00:00"


def near(base: float) -> tuple[float, ...]:
    return tuple([base] + [0.0] * 127)


def consented() -> flow.EnrolmentState:
    return flow.accept_consent(flow.EnrolmentState(), "cust-1", flow.CONSENT_TEXT_VERSION, AT)


def test_capture_waits_for_consent_and_an_old_consent_text_is_refused() -> None:
    # GIVEN a fresh enrolment WHEN a frame arrives before consent THEN refused
    with pytest.raises(flow.EnrolmentRefused, match="consent"):
        flow.add_capture(flow.EnrolmentState(), near(0.1), "ok", 0.6)
    # WHEN the customer accepted an outdated text THEN refused
    with pytest.raises(flow.EnrolmentRefused, match="not the current"):
        flow.accept_consent(flow.EnrolmentState(), "c", "face-consent-v0", AT)
    # WHEN the current text THEN capture begins, with the consent on record
    state = consented()
    assert (state.step, state.consent_version, state.consent_at) == (
        "capture",
        flow.CONSENT_TEXT_VERSION,
        AT,
    )


def test_only_gated_frames_of_one_person_count_towards_the_captures() -> None:
    state = consented()
    # WHEN a frame fails a gate THEN its reason is shown and nothing is kept
    state = flow.add_capture(state, None, "too_dark", 0.6)
    assert (state.guidance, len(state.captures)) == ("too_dark", 0)
    # WHEN a good frame, then someone else THEN the other person is not kept
    state = flow.add_capture(state, near(0.1), "ok", 0.6)
    state = flow.add_capture(state, near(0.9), "ok", 0.6)
    assert (state.guidance, len(state.captures)) == ("different_person", 1)
    # WHEN two more good frames THEN the step-up keypad follows
    state = flow.add_capture(state, near(0.12), "ok", 0.6)
    state = flow.add_capture(state, near(0.11), "ok", 0.6)
    assert state.step == "step_up" and len(state.captures) == flow.CAPTURES_NEEDED


def test_step_up_confirm_and_what_the_screen_sees() -> None:
    state = consented()
    for base in (0.1, 0.11, 0.12):
        state = flow.add_capture(state, near(base), "ok", 0.6)
    with pytest.raises(flow.EnrolmentRefused, match="4 to 8 digits"):
        flow.set_step_up(state, "12")
    with pytest.raises(flow.EnrolmentRefused, match="4 to 8 digits"):
        flow.set_step_up(state, "١٢٣٤")  # non-ASCII digits
    state = flow.set_step_up(state, "4711")
    with pytest.raises(flow.EnrolmentRefused, match="name"):
        flow.confirm(state, "  ")
    done = flow.confirm(state, "Ada")
    # THEN the digits are dropped once used, and the screen never sees descriptors or digits
    assert done.step == "done" and done.step_up is None
    shown = flow.view(done)
    assert shown["customer_id"] == "cust-1" and shown["captures"] == 3
    assert "4711" not in str(shown) and "0.1" not in str(shown)


def test_cancel_drops_every_capture() -> None:
    state = flow.add_capture(consented(), near(0.1), "ok", 0.6)
    cancelled = flow.cancel(state)
    assert cancelled.step == "cancelled" and cancelled.captures == ()
