"""The device's HTTP client for the ledger: signed requests, bounded time, optional TLS pinning.

Every outcome falls in one of two errors besides success, because the caller must act
differently on them:
- `LedgerUnavailable`: no trustworthy answer (connect/read failure, timeout, 5xx, replayed
  nonce, garbled body, TLS pin mismatch). The request may or may not have taken effect, so it is
  retried later; every device endpoint is idempotent, which makes that safe.
- `LedgerRefused`: the ledger answered 4xx with a reason; sending the same thing again won't help.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from base.errors import SmilepayError
from sync.agent.clock import ClockSample, device_time_ms
from sync.agent.config import SyncConfig

REGISTRATION_HEADER = "X-Smilepay-Registration-Token"
TEMPLATE_BYTES = 128 * 4  # 128 little-endian float32


class LedgerError(SmilepayError):
    """Something went wrong talking to the ledger."""


class LedgerUnavailable(LedgerError):
    """No trustworthy answer: the request may or may not have taken effect; retry later."""


class PinMismatch(LedgerUnavailable):
    """The ledger's TLS certificate is not the pinned one: nothing was sent."""


class LedgerRefused(LedgerError):
    """The ledger answered 4xx: this request, as sent, will not succeed."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(f"ledger refused ({status} {code}): {reason}")
        self.status = status
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class BatchAnswer:
    """The ledger's per-sale answers to one batch."""

    results: list[wire.SaleResult]
    ledger_time_ms: int | None


@dataclass(frozen=True)
class Authorization:
    """The ledger's answer to an online authorisation request."""

    auth_id: str | None
    status: str  # "approved" | "declined" | "voided"
    reason: str | None


@dataclass(frozen=True)
class GalleryChange:
    """One change to the face gallery: a template to upsert (sealed to this kiosk's key) or a
    customer to delete."""

    change_id: int
    customer_id: str
    action: str  # "upsert" | "delete"
    box_b64: str | None = None

    def open(self, key: Ed25519PrivateKey) -> tuple[str, np.ndarray]:
        """(name, 128-d float32 template) from the box the ledger sealed to this kiosk."""
        from base.sealed import SealError, open_box, x25519_private_from_ed25519

        try:
            plain = open_box(
                x25519_private_from_ed25519(key), self.box_b64 or "", self.customer_id.encode()
            )
            name = plain[TEMPLATE_BYTES:].decode()
        except (SealError, UnicodeDecodeError) as exc:
            raise LedgerUnavailable(f"gallery change {self.change_id}: {exc}") from None
        if len(plain) < TEMPLATE_BYTES:
            raise LedgerUnavailable(f"gallery change {self.change_id}: template too short")
        return name, np.frombuffer(plain[:TEMPLATE_BYTES], dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class GalleryPage:
    """Changes after a cursor, and the cursor to ask from next."""

    changes: list[GalleryChange]
    cursor: int


@dataclass(frozen=True)
class LedgerConfig:
    """What the ledger says this device should use: offline limits, and its clock."""

    limits: dict[str, Any]
    ledger_time_ms: int | None


def cert_sha256(der: bytes) -> str:
    """The pin format: sha256 of the DER certificate, lowercase hex."""
    return hashlib.sha256(der).hexdigest()


def _normalise_pin(pin: str) -> str:
    return pin.replace(":", "").strip().lower()


class LedgerClient:
    """Talks to one ledger as one device. Not thread-safe: give each thread its own client."""

    def __init__(
        self,
        base_url: str,
        device_id: str,
        key: Ed25519PrivateKey,
        config: SyncConfig | None = None,
    ) -> None:
        self.config = config or SyncConfig()
        self.device_id = device_id
        self._key = key
        self._pin = _normalise_pin(self.config.pinned_cert_sha256 or "") or None
        self._http = httpx.Client(base_url=base_url.rstrip("/"), verify=self._tls_verify())
        self.last_clock_sample: ClockSample | None = None

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- device endpoints ----------------------------------------------------------------------

    def register(
        self,
        public_key_b64: str,
        merchant_id: str,
        store_id: str,
        name: str,
        registration_token: str | None = None,
    ) -> int:
        """Register this device's public key; returns 201 (new) or 200 (already registered)."""
        body = {
            "device_id": self.device_id,
            "public_key": public_key_b64,
            "merchant_id": merchant_id,
            "store_id": store_id,
            "name": name,
        }
        headers = {REGISTRATION_HEADER: registration_token} if registration_token else {}
        status, _ = self._call("POST", "/v1/devices", body, signed=False, headers=headers)
        return status

    def send_batch(
        self, records: list[dict[str, Any]], head_signature: str, backlog_after: int | None = None
    ) -> BatchAnswer:
        """Send consecutive signed sale records; return the ledger's answer for each.
        `backlog_after` (sales still queued behind this batch) goes along as unsigned telemetry
        for the ledger's fleet view."""
        body = {"sales": records, "head_signature": head_signature}
        headers = {wire.HEADER_BACKLOG: str(backlog_after)} if backlog_after is not None else {}
        _, answer = self._call("POST", self._device_path("/sales:batch"), body, headers=headers)
        return BatchAnswer(_parse_results(answer), answer.get("ledger_time_ms"))

    def authorize(
        self,
        sale_id: str,
        customer_id: str | None,
        amount_minor: int,
        currency: str,
        method: str,
        timeout_s: float | None = None,
        token: str | None = None,
    ) -> Authorization:
        """Ask for an online authorisation (a hold keyed by sale_id), within `timeout_s`. A
        customer-token sale sends its token: the ledger checks it and spends it."""
        body: dict[str, Any] = {
            "sale_id": sale_id,
            "customer_id": customer_id,
            "amount_minor": amount_minor,
            "currency": currency,
            "method": method,
        }
        if token is not None:
            body["token"] = token
        limit = timeout_s or self.config.online_auth_timeout_s
        _, answer = self._call("POST", self._device_path("/authorizations"), body, total_s=limit)
        return _parse_authorization(answer)

    def send_refunds(self, records: list[dict[str, Any]], timeout_s: float | None = None) -> Any:
        """Send consecutive signed refund records (sync/queue/refunds.py); the ledger's answer
        per record is in `results` (refunded, refused, waiting or rejected)."""
        path = self._device_path("/refunds:batch")
        _, answer = self._call("POST", path, {"refunds": records}, total_s=timeout_s)
        return answer

    def refundable(self, sale_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        """What the ledger says remains to refund of a booked sale (LedgerRefused 404 if the
        ledger has not booked it)."""
        path = self._device_path(f"/sales/{sale_id}/refundable")
        _, answer = self._call("GET", path, None, total_s=timeout_s)
        return answer

    def void_authorization(self, auth_id: str) -> Authorization:
        """Release a hold that will not become a sale."""
        _, answer = self._call("POST", self._device_path(f"/authorizations/{auth_id}:void"), {})
        return _parse_authorization(answer)

    def gallery_changes(self, cursor: int, limit: int | None = None) -> GalleryPage:
        """Gallery changes after `cursor` (at most `limit`)."""
        query = {"cursor": cursor, "limit": limit or self.config.gallery_page_size}
        _, answer = self._call("GET", self._device_path("/gallery"), None, query=query)
        try:
            changes = [_parse_change(change) for change in answer["changes"]]
            return GalleryPage(changes, int(answer["cursor"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise LedgerUnavailable(f"gallery answer malformed: {exc!r}") from None

    def ack_gallery(self, cursor: int, deleted_customer_ids: list[str]) -> None:
        """Confirm that changes up to `cursor` are applied, deletions included."""
        body = {"cursor": cursor, "deleted_customer_ids": deleted_customer_ids}
        self._call("POST", self._device_path("/gallery:ack"), body)

    def enroll(self, enrollment: dict[str, Any]) -> dict[str, Any]:
        """Send a customer enrolled on this kiosk (template, step-up hash, consent); idempotent
        on its `enrolment_id`."""
        return self._call("POST", self._device_path("/enrollments"), enrollment)[1]

    def check_step_up(self, customer_id: str, digits: str) -> dict[str, Any]:
        """Ask the ledger whether the digits are the customer's step-up secret (attempt-limited
        there: the kiosk never holds the secret)."""
        body = {"customer_id": customer_id, "digits": digits}
        limit = self.config.online_auth_timeout_s
        return self._call("POST", self._device_path("/step-up:check"), body, total_s=limit)[1]

    def delete_face(
        self,
        customer_id: str,
        step_up_digits: str | None = None,
        token: str | None = None,
        proven_at_ms: int | None = None,
    ) -> dict[str, Any]:
        """A customer at this kiosk asks to delete their face data, proving it with their
        step-up digits or a customer token; the ledger then has every holder delete it.
        `proven_at_ms`: when this kiosk checked the token, for a request queued offline."""
        body: dict[str, Any] = {"customer_id": customer_id}
        if step_up_digits:
            body["step_up_digits"] = step_up_digits
        if token:
            body["token"] = token
        if proven_at_ms is not None:
            body["proven_at_ms"] = proven_at_ms
        return self._call("POST", self._device_path("/face-deletions"), body)[1]

    def get_config(self) -> LedgerConfig:
        """Offline limits for this device and the ledger's time."""
        _, answer = self._call("GET", self._device_path("/config"), None)
        if not isinstance(answer.get("limits"), dict):
            raise LedgerUnavailable("config answer has no limits object")
        return LedgerConfig(answer["limits"], answer.get("ledger_time_ms"))

    def ledger_time(self) -> ClockSample:
        """One clock exchange with the ledger."""
        self._call("GET", "/v1/time", None, signed=False)
        assert self.last_clock_sample is not None
        return self.last_clock_sample

    # --- transport -----------------------------------------------------------------------------

    def _device_path(self, suffix: str) -> str:
        return f"/v1/devices/{self.device_id}{suffix}"

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        signed: bool = True,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        total_s: float | None = None,
    ) -> tuple[int, dict[str, Any]]:
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        request = self._build(method, path, content, query, headers or {}, total_s)
        if signed:
            target = wire.signed_target(request.url.path, request.url.query)
            request.headers.update(
                wire.sign_request(self.device_id, self._key, method, target, content)
            )
        sent_ms = device_time_ms()
        status, raw = self._exchange(request, total_s or self.config.request_timeout_s)
        answer = _decode(status, raw, signed)
        if "ledger_time_ms" in answer:
            self._note_clock(sent_ms, answer["ledger_time_ms"])
        return status, answer

    def _build(
        self,
        method: str,
        path: str,
        content: bytes,
        query: dict[str, Any] | None,
        headers: dict[str, str],
        total_s: float | None,
    ) -> httpx.Request:
        total = total_s or self.config.request_timeout_s
        timeout = httpx.Timeout(
            connect=min(self.config.connect_timeout_s, total),
            read=min(self.config.read_timeout_s, total),
            write=min(self.config.read_timeout_s, total),
            pool=min(self.config.connect_timeout_s, total),
        )
        if content:
            headers = {**headers, "Content-Type": "application/json"}
        extensions = {"trace": self._check_pin} if self._pin else None
        return self._http.build_request(
            method,
            path,
            content=content or None,
            params=query,
            headers=headers,
            timeout=timeout,
            extensions=extensions,
        )

    def _exchange(self, request: httpx.Request, total_s: float) -> tuple[int, bytes]:
        """Send and read the whole answer, giving up once `total_s` has passed."""
        deadline = time.monotonic() + total_s
        try:
            response = self._http.send(request, stream=True)
            try:
                chunks = []
                for chunk in response.iter_raw():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise LedgerUnavailable(f"{request.url.path}: no full answer in {total_s}s")
                return response.status_code, b"".join(chunks)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            what = type(exc).__name__
            raise LedgerUnavailable(f"{request.url.path}: timed out ({what})") from None
        except httpx.HTTPError as exc:
            raise LedgerUnavailable(f"{request.url.path}: {type(exc).__name__}: {exc}") from None

    def _note_clock(self, sent_ms: int, ledger_ms: Any) -> None:
        if isinstance(ledger_ms, int):
            self.last_clock_sample = ClockSample(sent_ms, ledger_ms, device_time_ms())

    def _tls_verify(self) -> ssl.SSLContext | bool | str:
        if self._pin:
            # The pin replaces CA validation (a kiosk fleet usually has a self-signed ledger cert).
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if self.config.ca_file is not None:
            return ssl.create_default_context(cafile=str(self.config.ca_file))
        return True

    def _check_pin(self, event: str, info: dict[str, Any]) -> None:
        """httpcore trace hook: runs right after the TLS handshake, before any byte is sent."""
        if event != "connection.start_tls.complete":
            return
        ssl_object = info["return_value"].get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object else None
        if der is None or cert_sha256(der) != self._pin:
            seen = cert_sha256(der) if der else "none"
            raise PinMismatch(f"ledger TLS certificate sha256 {seen} is not the pinned one")


# 409 codes on a signed request that are the ledger's final word on an enrolment, not a replay.
ENROLMENT_CONFLICTS = frozenset(
    {"enrolments_disabled", "enrolment_id_taken", "other_merchant", "customer_erased"}
)


def _decode(status: int, raw: bytes, signed: bool) -> dict[str, Any]:
    """Turn an HTTP answer into a JSON object or the right error."""
    if signed and status == 409 and _error_code(raw) in ENROLMENT_CONFLICTS:
        answer = json.loads(raw)
        raise LedgerRefused(status, str(answer["error"]), str(answer.get("reason")))
    if status >= 500 or status in (408, 429) or (signed and status == 409):
        # 409 on a signed request is a replayed nonce: our earlier copy may have landed.
        raise LedgerUnavailable(f"ledger answered {status}: {raw[:200]!r}")
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if status >= 400:
            raise LedgerRefused(status, "unknown", raw[:200].decode(errors="replace"))
        raise LedgerUnavailable(f"ledger answered {status} with a body that is not a JSON object")
    if status >= 400:
        raise LedgerRefused(status, str(answer.get("error")), str(answer.get("reason")))
    return answer


def _error_code(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    return str(answer.get("error")) if isinstance(answer, dict) else None


def _parse_results(answer: dict[str, Any]) -> list[wire.SaleResult]:
    try:
        return [
            wire.SaleResult(
                sale_id=str(item["sale_id"]),
                seq=int(item["seq"]),
                status=item["status"],
                reason=item.get("reason"),
                settle_later=bool(item.get("settle_later", False)),
            )
            for item in answer["results"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerUnavailable(f"batch answer malformed: {exc!r}") from None


def _parse_change(item: dict[str, Any]) -> GalleryChange:
    return GalleryChange(
        change_id=int(item["change_id"]),
        customer_id=str(item["customer_id"]),
        action=str(item["action"]),
        box_b64=item.get("box_b64"),
    )


def _parse_authorization(answer: dict[str, Any]) -> Authorization:
    status = answer.get("status")
    if status not in ("approved", "declined", "voided"):
        raise LedgerUnavailable(f"authorisation answer has status {status!r}")
    return Authorization(answer.get("auth_id"), str(status), answer.get("reason"))
