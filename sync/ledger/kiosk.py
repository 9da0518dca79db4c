"""A minimal kiosk-side client of the ledger (signed sales, signed requests), for the benchmark,
the tests and the demo. The real device uses sync/agent; both follow sync/PROTOCOL.md."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import keys, wire


class Kiosk:
    """One device: its key, its hash chain, and an HTTP client to the ledger."""

    def __init__(
        self,
        base_url: str,
        device_id: str | None = None,
        merchant_id: str = "merchant-1",
        key: Ed25519PrivateKey | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.device_id = device_id or f"kiosk-{uuid.uuid4().hex[:12]}"
        self.merchant_id = merchant_id
        self.key = key or Ed25519PrivateKey.generate()
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.next_seq = 1
        self.prev_hash = wire.GENESIS_HASH

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def register(self, store_id: str = "store-1", token: str | None = None) -> httpx.Response:
        """POST /v1/devices with this kiosk's public key (`token`: a registration code)."""
        headers = {"X-Smilepay-Registration-Token": token} if token else {}
        body = {
            "device_id": self.device_id,
            "public_key": keys.public_key_b64(self.key),
            "merchant_id": self.merchant_id,
            "store_id": store_id,
            "name": self.device_id,
        }
        return self.http.post("/v1/devices", json=body, headers=headers)

    def sale(
        self,
        amount_minor: int,
        customer_id: str | None,
        currency: str = "EUR",
        offline: bool = True,
        auth_id: str | None = None,
        sale_id: str | None = None,
    ) -> dict[str, Any]:
        """The next signed sale record of this kiosk's chain."""
        body = {
            "sale_id": sale_id or uuid.uuid4().hex,
            "device_id": self.device_id,
            "seq": self.next_seq,
            "amount_minor": amount_minor,
            "currency": currency,
            "method": "face",
            "customer_id": customer_id,
            "evidence": {"score": "0.3120", "margin": "0.2100", "step_up": False},
            "items": [{"name": "coffee", "quantity": 1, "amount_minor": amount_minor}],
            "offline": offline,
            "auth_id": auth_id,
            "hlc": f"{time.time_ns():020d}-0000",
            "wall_time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "monotonic_ns": time.monotonic_ns(),
            "boot_id": "boot-1",
            "prev_hash": self.prev_hash,
        }
        record = wire.sign_sale(body, self.key)
        self.next_seq += 1
        self.prev_hash = wire.sale_hash(record)
        return record

    def batch_body(self, records: list[dict[str, Any]]) -> bytes:
        """The JSON body of a batch: the records and their head signature."""
        head = wire.sign_head(self.device_id, records, self.key)
        return json.dumps({"sales": records, "head_signature": head}).encode()

    def send(self, method: str, path: str, body: bytes = b"") -> httpx.Response:
        """A signed device request (fresh timestamp and nonce)."""
        headers = wire.sign_request(self.device_id, self.key, method, path, body)
        headers["Content-Type"] = "application/json"
        return self.http.request(method, path, content=body, headers=headers)

    def post_batch(self, records: list[dict[str, Any]]) -> httpx.Response:
        """POST the records as one signed batch."""
        return self.send(
            "POST", f"/v1/devices/{self.device_id}/sales:batch", self.batch_body(records)
        )

    def post_json(self, path: str, payload: Any) -> httpx.Response:
        """POST a JSON body to a device path (relative to /v1/devices/{id})."""
        body = json.dumps(payload).encode()
        return self.send("POST", f"/v1/devices/{self.device_id}{path}", body)

    def get(self, path: str) -> httpx.Response:
        """GET a device path (relative to /v1/devices/{id}); the signature covers the query."""
        full = f"/v1/devices/{self.device_id}{path}"
        url = self.http.build_request("GET", full).url
        target = wire.signed_target(url.path, url.query)
        headers = wire.sign_request(self.device_id, self.key, "GET", target, b"")
        return self.http.get(full, headers=headers)


class Operator:
    """Operator calls: customers and top-ups (with the admin token when one is set)."""

    def __init__(self, base_url: str, admin_token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=60.0)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def __enter__(self) -> Operator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def customer(self, balance_minor: int = 0, currency: str = "EUR") -> str:
        """Create a customer, fund it with `balance_minor`, and return its id."""
        body = {"name": "Test Customer", "currency": currency}
        answer = self.http.post("/v1/customers", json=body)
        answer.raise_for_status()
        customer_id: str = answer.json()["customer_id"]
        if balance_minor:
            self.top_up(customer_id, balance_minor, currency).raise_for_status()
        return customer_id

    def top_up(
        self, customer_id: str, amount_minor: int, currency: str = "EUR", reference: str = ""
    ) -> httpx.Response:
        """POST a top-up (idempotent on reference)."""
        body = {
            "amount_minor": amount_minor,
            "currency": currency,
            "reference": reference or uuid.uuid4().hex,
        }
        return self.http.post(f"/v1/customers/{customer_id}/topups", json=body)

    def view(self, customer_id: str) -> dict[str, Any]:
        """GET the customer's balances."""
        answer = self.http.get(f"/v1/customers/{customer_id}")
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result
