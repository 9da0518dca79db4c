"""Enrolment on the kiosk's screen as a pure state machine: consent, guided capture, an
optional step-up secret, confirmation. No camera, model or database here: the screen's service
(device/screen/enrol.py) feeds it observations and carries out what it decides.

Steps: consent -> capture -> step_up -> confirm -> done (or cancelled from any step).
Consent is recorded (with the version of the text shown) before the first capture is taken.
A capture counts only if it passed every quality gate and shows the same person as the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

Step = Literal["consent", "capture", "step_up", "confirm", "done", "cancelled"]
CONSENT_TEXT_VERSION = "face-consent-v1"
CAPTURES_NEEDED = 3
STEP_UP_DIGITS = (4, 8)  # length range of a step-up secret


class EnrolmentRefused(ValueError):
    """The action does not fit the current step, or its input is invalid (message says why)."""


@dataclass(frozen=True)
class EnrolmentState:
    """Where an enrolment stands. `captures` holds descriptors; never shown on the screen."""

    step: Step = "consent"
    customer_id: str | None = None
    consent_version: str | None = None
    consent_at: str | None = None
    captures: tuple[tuple[float, ...], ...] = ()
    guidance: str | None = None
    step_up: str | None = None
    name: str | None = None


def _expect(state: EnrolmentState, step: Step) -> None:
    if state.step != step:
        raise EnrolmentRefused(f"enrolment is at {state.step!r}, not {step!r}")


def accept_consent(
    state: EnrolmentState, customer_id: str, version: str, accepted_at: str
) -> EnrolmentState:
    """The customer accepted the consent text `version`: capture may begin."""
    _expect(state, "consent")
    if version != CONSENT_TEXT_VERSION:
        raise EnrolmentRefused(
            f"consent text {version!r} is not the current {CONSENT_TEXT_VERSION}"
        )
    return replace(
        state,
        step="capture",
        customer_id=customer_id,
        consent_version=version,
        consent_at=accepted_at,
        guidance="look_at_screen",
    )


def add_capture(
    state: EnrolmentState,
    descriptor: tuple[float, ...] | None,
    guidance: str,
    same_person_below: float,
) -> EnrolmentState:
    """A frame was checked: `descriptor` when it passed the gates (else None and the reason in
    `guidance`). A descriptor far from the first capture is another person: not kept."""
    _expect(state, "capture")
    if descriptor is None:
        return replace(state, guidance=guidance)
    if state.captures and math.dist(state.captures[0], descriptor) >= same_person_below:
        return replace(state, guidance="different_person")
    captures = (*state.captures, descriptor)
    step: Step = "step_up" if len(captures) >= CAPTURES_NEEDED else "capture"
    return replace(state, captures=captures, step=step, guidance="hold_still")


def set_step_up(state: EnrolmentState, digits: str | None) -> EnrolmentState:
    """The optional step-up secret (None: skipped)."""
    _expect(state, "step_up")
    low, high = STEP_UP_DIGITS
    if digits is not None and not (
        digits.isascii() and digits.isdigit() and low <= len(digits) <= high
    ):
        raise EnrolmentRefused(f"a step-up secret is {low} to {high} digits")
    return replace(state, step="confirm", step_up=digits)


def confirm(state: EnrolmentState, name: str) -> EnrolmentState:
    """The customer (or operator) confirmed, naming the customer: the template may be stored."""
    _expect(state, "confirm")
    if not name.strip() or len(name) > 200:
        raise EnrolmentRefused("a name of 1 to 200 characters is needed")
    return replace(state, step="done", name=name.strip(), step_up=None)


def cancel(state: EnrolmentState) -> EnrolmentState:
    """Stop: every capture and the step-up are dropped."""
    return EnrolmentState(step="cancelled", customer_id=state.customer_id)


def view(state: EnrolmentState) -> dict[str, Any]:
    """What the screen shows (no descriptor, no digits)."""
    return {
        "step": state.step,
        "consent_version": CONSENT_TEXT_VERSION,
        "captures": len(state.captures),
        "captures_needed": CAPTURES_NEEDED,
        "guidance": state.guidance,
        "customer_id": state.customer_id if state.step == "done" else None,
    }
