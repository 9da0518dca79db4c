"""A customer deletes their face data on the kiosk's screen, as a pure state machine. No camera,
model or ledger here: the screen's service (device/screen/forget.py) feeds it what it saw and
what the ledger answered.

Steps: identify -> prove -> done (or refused, or cancelled from any step).
- identify: the customer faces the camera (matched against this kiosk's gallery) or holds up
  their payment code (a customer token: that is identity and proof at once);
- prove: after a face match, the step-up digits on the keypad (checked by the ledger);
- done: deleted (everywhere through the ledger, or queued while it is away) and gone from this
  kiosk; refused: nothing was deleted, with the reason.
The screen never shows who was matched: a lookalike must not learn a name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

Step = Literal["identify", "prove", "done", "refused", "cancelled"]


class ForgetRefused(ValueError):
    """The action does not fit the current step (message says which)."""


@dataclass(frozen=True)
class ForgetState:
    """Where a deletion stands; `customer_id` stays on the kiosk, never on the screen."""

    step: Step = "cancelled"
    customer_id: str | None = None
    guidance: str | None = None
    outcome: str | None = None  # "deleted", "queued", or why it was refused


def _expect(state: ForgetState, step: Step) -> None:
    if state.step != step:
        raise ForgetRefused(f"deletion is at {state.step!r}, not {step!r}")


def start() -> ForgetState:
    """A new deletion: the customer is asked to face the camera or show their payment code."""
    return ForgetState(step="identify", guidance="look_at_screen")


def not_identified(state: ForgetState, guidance: str) -> ForgetState:
    """A frame showed no enrolled face and no payment code."""
    _expect(state, "identify")
    return replace(state, guidance=guidance)


def face_matched(state: ForgetState, customer_id: str) -> ForgetState:
    """A face of this kiosk's gallery: the step-up digits must prove it is theirs."""
    _expect(state, "identify")
    return replace(state, step="prove", customer_id=customer_id, guidance="enter_digits")


def finished(state: ForgetState, customer_id: str, queued: bool) -> ForgetState:
    """The ledger took the deletion (or it is queued while the ledger is away)."""
    if state.step not in ("identify", "prove"):
        raise ForgetRefused(f"deletion is at {state.step!r}")
    outcome = "queued" if queued else "deleted"
    return ForgetState(step="done", customer_id=customer_id, outcome=outcome)


def refused(state: ForgetState, reason: str) -> ForgetState:
    """Nothing was deleted: the proof failed or could not be checked."""
    return ForgetState(step="refused", outcome=reason)


def cancel(state: ForgetState) -> ForgetState:
    """Stop; nothing is kept."""
    return ForgetState(step="cancelled")


def view(state: ForgetState) -> dict[str, Any]:
    """What the screen shows (never the customer id or name)."""
    return {"step": state.step, "guidance": state.guidance, "outcome": state.outcome}
