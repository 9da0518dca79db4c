"""The reference POS client (`smilepay pos ...`): what an integrator's cash register does.

Every request is signed with the POS key file and every answer's signature is checked, so a
forged "approved" is refused. A payment is safe to retry: when the answer is lost (a timeout,
a dropped connection), the client asks for the payment's status by its reference until the
outcome is final, and never sends a second payment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from typing import Any

import httpx

from base.errors import SmilepayError
from device.terminal import auth

FINAL_PAYMENT = {"approved", "declined", "aborted", "timed_out"}
RETRY_PAUSE_S = 0.5
REFUND_ATTEMPTS = 4


class PosError(SmilepayError):
    """The kiosk refused the request (with its reason) or could not be reached."""

    def __init__(self, message: str, status: int | None = None, answer: Any = None) -> None:
        super().__init__(message)
        self.status, self.answer = status, answer


class PosUnreachable(PosError):
    """No answer (connect, read or TLS failure): the request may or may not have taken effect."""


class PosClient:
    """One POS talking to one kiosk's terminal API."""

    def __init__(
        self,
        url: str,
        key: auth.PosKey,
        pin_sha256: str | None = None,
        timeout_s: float = 10.0,
        poll_s: float = 25.0,
    ) -> None:
        """`timeout_s` bounds a plain request; a waiting one (payment, status) waits up to
        `poll_s` for the outcome plus `timeout_s`, then asks again."""
        self.key = key
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._pin = (pin_sha256 or "").replace(":", "").lower() or None
        verify: ssl.SSLContext | bool = True
        if self._pin:  # the pin replaces CA validation (the kiosk's certificate is self-signed)
            verify = ssl.create_default_context()
            verify.check_hostname, verify.verify_mode = False, ssl.CERT_NONE
        self._http = httpx.Client(base_url=url.rstrip("/"), verify=verify)

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> PosClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the messages --------------------------------------------------------------------------

    def pay(
        self,
        amount_minor: int,
        currency: str,
        reference: str,
        methods: list[str] | None = None,
        lines: list[dict[str, Any]] | None = None,
        wait_s: float = 120.0,
    ) -> dict[str, Any]:
        """Ask for a payment and wait for its final outcome. After a lost answer it asks the
        status by reference; if the kiosk never got the request (404), it sends it again
        (safe: the reference makes it the same payment)."""
        body: dict[str, Any] = {
            "reference": reference,
            "amount_minor": amount_minor,
            "currency": currency,
        }
        if methods:
            body["methods"] = methods
        if lines:
            body["lines"] = lines
        deadline = time.monotonic() + wait_s
        answer: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            try:
                answer = self._pay_or_status(body, answer, deadline)
            except PosUnreachable:
                # The answer is lost, not the payment: ask its status next (TransactionStatus).
                answer = answer or {"status": "unknown", "reference": reference}
                time.sleep(RETRY_PAUSE_S)
                continue
            except PosError as exc:
                if exc.status != 404:
                    raise
                answer = None  # the request never arrived: send it again
                continue
            if answer.get("status") in FINAL_PAYMENT:
                return answer
        if answer is None or answer.get("status") == "unknown":
            return {"status": "in_progress", "reference": reference}
        return answer

    def _pay_or_status(
        self, body: dict[str, Any], answer: dict[str, Any] | None, deadline: float
    ) -> dict[str, Any]:
        wait = min(_wait(deadline), self.poll_s)
        if answer is None:
            query = {"wait_s": wait}
            timeout = wait + self.timeout_s
            return dict(self.call("POST", "/v1/payments", body, query, timeout_s=timeout))
        return self.status(body["reference"], wait_s=wait)

    def status(self, reference: str, wait_s: float = 0.0) -> dict[str, Any]:
        """The payment's outcome (or in_progress with its stage)."""
        return self.call(
            "GET",
            f"/v1/payments/{reference}",
            None,
            {"wait_s": wait_s},
            timeout_s=wait_s + self.timeout_s,
        )

    def abort(self, reference: str) -> dict[str, Any]:
        """Abort the payment in progress."""
        return self.call("POST", f"/v1/payments/{reference}/abort", {})

    def refund(
        self,
        sale_id: str,
        amount_minor: int,
        reference: str,
        reason: str = "",
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Refund part or all of a sale (safe to repeat with the same reference)."""
        body: dict[str, Any] = {
            "reference": reference,
            "sale_id": sale_id,
            "amount_minor": amount_minor,
            "reason": reason,
        }
        if currency:
            body["currency"] = currency
        for _ in range(REFUND_ATTEMPTS - 1):
            try:
                return dict(self.call("POST", "/v1/refunds", body))
            except PosUnreachable:
                time.sleep(RETRY_PAUSE_S)  # safe to send again: the reference is the refund
        return dict(self.call("POST", "/v1/refunds", body))

    def info(self) -> dict[str, Any]:
        """The kiosk's application info."""
        return self.call("GET", "/v1/info", None)

    def events(self, after: int = 0, wait_s: float = 25.0) -> dict[str, Any]:
        """Events after number `after` (long-poll)."""
        return self.call(
            "GET",
            "/v1/events",
            None,
            {"after": after, "wait_s": wait_s},
            timeout_s=wait_s + self.timeout_s,
        )

    # --- the wire ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        query: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """One signed request; the answer's signature checked; 4xx/5xx raised as PosError."""
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        request = self._http.build_request(
            method,
            path,
            content=content or None,
            params=query,
            timeout=timeout_s or self.timeout_s,
            extensions={"trace": self._check_pin} if self._pin else None,
        )
        if content:
            request.headers["Content-Type"] = "application/json"
        headers = auth.sign_request(
            self.key, method, request.url.path, request.url.query.decode(), content
        )
        request.headers.update(headers)
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise PosUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        return _answer(response, self.key, headers[auth.HEADER_NONCE])

    def _check_pin(self, event: str, info: dict[str, Any]) -> None:
        if event != "connection.start_tls.complete":
            return
        ssl_object = info["return_value"].get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object else None
        seen = hashlib.sha256(der).hexdigest() if der else "none"
        if seen != self._pin:
            raise PosUnreachable(f"the kiosk's TLS certificate sha256 {seen} is not the pinned one")


def _answer(response: httpx.Response, key: auth.PosKey, nonce: str) -> Any:
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": "not_json", "reason": response.text[:200]}
    if response.status_code == 401:
        raise PosError(f"refused (401 {answer.get('error')}): {answer.get('reason')}", 401, answer)
    expected = auth.mac(
        key.secret, auth.response_message(nonce, response.status_code, response.content)
    )
    if not hmac.compare_digest(expected, response.headers.get(auth.HEADER_SIGNATURE, "")):
        raise PosUnreachable(f"answer {response.status_code} is not signed by the kiosk: ignored")
    if response.status_code >= 400:
        field = f" [{answer.get('field')}]" if answer.get("field") else ""
        raise PosError(
            f"refused ({response.status_code} {answer.get('error')}){field}: "
            f"{answer.get('reason')}",
            response.status_code,
            answer,
        )
    return answer


def _wait(deadline: float) -> float:
    return round(max(0.0, min(deadline - time.monotonic(), 300.0)), 1)
