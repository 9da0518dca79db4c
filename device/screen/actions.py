"""The screen's POST actions: validated request bodies turned into KioskPort calls."""

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
    """Put an item in the basket."""

    name: str = Field(min_length=1, max_length=80)
    quantity: int = Field(ge=1, le=999)
    unit_minor: int = Field(ge=0, le=100_000_000)


class RemoveItem(_Body):
    """Remove the basket line at `index`."""

    index: int = Field(ge=0, le=10_000)


class ChoosePayment(_Body):
    """How the customer pays."""

    method: Literal["face", "customer_qr", "merchant_qr"]


class Digits(_Body):
    """Step-up digits: phone last 4 or a PIN."""

    digits: str = Field(pattern=r"^[0-9]{4,8}$")


def _add_item(kiosk: KioskPort, body: AddItem) -> None:
    kiosk.add_item(body.name, body.quantity, body.unit_minor)


def _remove_item(kiosk: KioskPort, body: RemoveItem) -> None:
    kiosk.remove_item(body.index)


def _pay(kiosk: KioskPort, body: NoBody) -> None:
    kiosk.pay()


def _choose_payment(kiosk: KioskPort, body: ChoosePayment) -> None:
    kiosk.choose_payment(body.method)


def _enter_digits(kiosk: KioskPort, body: Digits) -> None:
    kiosk.enter_digits(body.digits)


def _cancel(kiosk: KioskPort, body: NoBody) -> None:
    kiosk.cancel()


# action name (the URL's last part) -> (body model, what it asks of the kiosk)
ACTIONS: dict[str, tuple[type[_Body], Callable[[KioskPort, Any], None]]] = {
    "items": (AddItem, _add_item),
    "remove_item": (RemoveItem, _remove_item),
    "pay": (NoBody, _pay),
    "payment": (ChoosePayment, _choose_payment),
    "digits": (Digits, _enter_digits),
    "cancel": (NoBody, _cancel),
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
