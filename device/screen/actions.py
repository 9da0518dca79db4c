"""The screen's POST actions: validated request bodies turned into KioskPort calls.

The browser names catalogue items by id: it never sets a name or a price.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from device.ports import KioskPort


class BadAction(ValueError):
    """The request body is not valid JSON or has bad fields; the message says which."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NoBody(_Body):
    """An action that takes no fields."""


class AddItem(_Body):
    """Put one of a catalogue item in the basket."""

    item_id: str = Field(min_length=1, max_length=40)


class RemoveItem(_Body):
    """Remove the basket line at `index`."""

    index: int = Field(ge=0, le=10_000)


class ChangeQuantity(_Body):
    """+1 or -1 on the basket line at `index`."""

    index: int = Field(ge=0, le=10_000)
    delta: Literal[-1, 1]


class ChoosePayment(_Body):
    """How the customer pays; face payment names the consent text the customer agreed to."""

    method: Literal["face", "customer_qr", "merchant_qr"]
    consent: str | None = Field(default=None, max_length=40)


class Digits(_Body):
    """Step-up digits: phone last 4 or a PIN."""

    digits: str = Field(pattern=r"^[0-9]{4,8}$")


def _choose_payment(kiosk: KioskPort, body: ChoosePayment) -> None:
    if body.method == "face":
        if body.consent is None:
            raise BadAction("consent: face payment needs the customer's consent first")
        kiosk.record_consent(body.consent)
    kiosk.choose_payment(body.method)


# action name (the URL's last part) -> (body model, what it asks of the kiosk)
ACTIONS: dict[str, tuple[type[_Body], Callable[[KioskPort, Any], None]]] = {
    "items": (AddItem, lambda k, b: k.add_catalogue_item(b.item_id)),
    "remove_item": (RemoveItem, lambda k, b: k.remove_item(b.index)),
    "quantity": (ChangeQuantity, lambda k, b: k.change_quantity(b.index, b.delta)),
    "pay": (NoBody, lambda k, b: k.pay()),
    "payment": (ChoosePayment, _choose_payment),
    "digits": (Digits, lambda k, b: k.enter_digits(b.digits)),
    "back": (NoBody, lambda k, b: k.back()),
    "still_here": (NoBody, lambda k, b: k.still_here()),
    "cancel": (NoBody, lambda k, b: k.cancel()),
}


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object (an empty body counts as `{}`), or BadAction saying why not."""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadAction(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadAction("body must be a JSON object")
    return data


def parse_body(model: type[_Body], raw: bytes) -> _Body:
    """Parse and validate a JSON body; raise BadAction naming every bad field."""
    try:
        return model.model_validate(json_object(raw))
    except ValidationError as exc:
        raise BadAction("; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    field = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown field"
    return f"{field}: {error['msg']}"


class RepeatFilter:
    """Repeated taps on the same control within `window_s` count once (a double tap on a
    product adds one, a double tap on Remove removes one line)."""

    def __init__(self, clock: Callable[[], float], window_s: float = 0.3) -> None:
        self.clock = clock
        self.window_s = window_s
        self._last: tuple[str, bytes, float] | None = None

    def repeated(self, name: str, raw: bytes) -> bool:
        """Whether this action is a repeat of the previous one within the window."""
        now = self.clock()
        last, self._last = self._last, (name, raw, now)
        return last is not None and last[:2] == (name, raw) and now - last[2] < self.window_s
