"""Request bodies the ledger accepts (strict: unknown keys and wrong types are refused)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from base.token import DEFAULT_TTL_S as DEFAULT_TOKEN_TTL_S
from base.token import MAX_TTL_S as MAX_TOKEN_TTL_S
from sync.ledger.errors import BadRequest

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[int, Field(gt=0, lt=10**12)]
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # no NUL, newline or other control characters
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL)]
TokenText = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9._-]+$")]
TEMPLATE_BYTES = 128 * 4  # 128 little-endian float32
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base of every request body."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DeviceRegistration(Body):
    device_id: Id
    public_key: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]
    merchant_id: Id
    store_id: Id
    name: Annotated[str, Field(max_length=200, pattern=NO_CONTROL)] = ""


class CustomerCreate(Body):
    customer_id: Id | None = None
    name: Text
    currency: Currency


class TopUp(Body):
    amount_minor: Amount
    currency: Currency
    reference: Text


class AuthorizationRequest(Body):
    sale_id: Id
    customer_id: Id
    amount_minor: Amount
    currency: Currency
    method: Literal["face", "customer_qr", "merchant_qr"]
    # The customer's token (customer_qr): checked and spent here, never stored.
    token: (
        Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9._-]+$")] | None
    ) = None


class Consent(Body):
    text_version: Text
    accepted_at: Annotated[str, Field(min_length=1, max_length=40, pattern=NO_CONTROL)]
    kiosk_id: Id


class Enrollment(Body):
    customer_id: Id
    enrolment_id: Id | None = None  # made by the kiosk: a re-send is answered "duplicate"
    name: Text
    template_b64: str
    step_up_salt: Annotated[str, Field(max_length=200, pattern=NO_CONTROL)] | None = None
    step_up_hash: Annotated[str, Field(max_length=200, pattern=NO_CONTROL)] | None = None
    consent: Consent
    currency: Currency | None = None  # for a customer the ledger does not know yet

    @field_validator("template_b64")
    @classmethod
    def _is_a_template(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("template_b64 is not base64") from None
        if len(raw) != TEMPLATE_BYTES:
            raise ValueError(f"template_b64 must decode to {TEMPLATE_BYTES} bytes, not {len(raw)}")
        return value


Digits = Annotated[str, Field(pattern=r"^[0-9]{4,12}$")]


class StepUpCheck(Body):
    customer_id: Id
    digits: Digits


class FaceDeletion(Body):
    customer_id: Id
    step_up_digits: Digits | None = None
    token: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    # When the kiosk checked the token, for a request it queued while the ledger was away.
    proven_at_ms: Annotated[int, Field(ge=0)] | None = None


class TokenRequest(Body):
    ttl_s: Annotated[int, Field(gt=0, le=MAX_TOKEN_TTL_S)] = DEFAULT_TOKEN_TTL_S


class RegistrationCodeRequest(Body):
    merchant_id: Id | None = None
    store_id: Id | None = None
    expires_in_s: Annotated[int, Field(gt=0, le=30 * 24 * 3600)] = 3600


class GalleryAck(Body):
    cursor: Annotated[int, Field(ge=0, lt=2**62)]
    deleted_customer_ids: Annotated[list[Id], Field(max_length=10000)] = []


def parse_body(model: type[M], raw: bytes) -> M:
    """Validate a JSON body; BadRequest naming the first wrong field."""
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise BadRequest("invalid_body", f"{where}: {error['msg']}") from None
