"""The POS's request bodies (validated: a bad field is answered 422 naming the field and why)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from base.errors import SmilepayError

REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
MAX_MINOR = 10**9


class ApiError(SmilepayError):
    """A refusal: HTTP status, a stable code, the field at fault (if any) and the reason."""

    def __init__(self, status: int, code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason, self.field = status, code, reason, field

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"error": self.code, "field": self.field, "reason": self.reason}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def fingerprint(self) -> str:
        """sha256 of the canonical request: a reference reused with other content differs."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class Line(_Body):
    """One basket line the POS sends (shown on the screen, printed on the receipt)."""

    name: str = Field(min_length=1, max_length=80)
    quantity: int = Field(ge=1, le=10_000)
    unit_minor: int = Field(ge=0, le=MAX_MINOR)


class PaymentRequest(_Body):
    """`POST /v1/payments`."""

    reference: str = Field(pattern=REFERENCE)
    amount_minor: int = Field(gt=0, le=MAX_MINOR)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[Line] = Field(default=[], max_length=200)
    methods: list[Literal["face", "customer_qr", "merchant_qr"]] | None = Field(
        default=None, min_length=1
    )

    @model_validator(mode="after")
    def _lines_add_up(self) -> PaymentRequest:
        total = sum(line.quantity * line.unit_minor for line in self.lines)
        if self.lines and total != self.amount_minor:
            raise ValueError(f"lines add up to {total}, not amount_minor {self.amount_minor}")
        return self


class RefundRequest(_Body):
    """`POST /v1/refunds`."""

    reference: str = Field(pattern=REFERENCE)
    sale_id: str = Field(min_length=1, max_length=64)
    amount_minor: int = Field(gt=0, le=MAX_MINOR)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    reason: str = Field(default="", max_length=200)


def parse(model: type[_Body], body: bytes) -> Any:
    """The validated body, or ApiError 400 (not JSON) / 422 (the first bad field and why)."""
    try:
        document = json.loads(body or b"null")
    except ValueError as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        raise ApiError(422, "invalid_field", str(error["msg"]), field) from None
