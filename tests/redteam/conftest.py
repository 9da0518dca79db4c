"""The red-team suite: each attack of issue 13 over HTTP against a real, secured ledger (an
operator token, a token issuer key, registration by single-use codes), on SQLite and on
PostgreSQL (the `db_url` fixture of tests/ledger/conftest.py: one fresh database per module)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from sync.ledger.app import Ledger, create_app
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.server import RunningServer, serve_in_thread
from tests.ledger.conftest import db_url  # noqa: F401  (the SQLite/PostgreSQL fixture)

ADMIN = "redteam-admin-token-0123456789abcdef"


@dataclass
class Secured:
    """A running secured ledger and what its operator holds."""

    url: str
    ledger: Ledger
    issuer: Ed25519PrivateKey
    server: RunningServer

    def operator(self) -> Operator:
        return Operator(self.url, admin_token=ADMIN)

    def code(self, **scope: Any) -> str:
        """A fresh single-use registration code."""
        with self.operator() as op:
            answer = op.http.post("/v1/registration-codes", json=scope)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["code"])

    def kiosk(self, merchant_id: str = "merchant-1", key: Ed25519PrivateKey | None = None) -> Kiosk:
        """A kiosk registered with its own code."""
        kiosk = Kiosk(self.url, merchant_id=merchant_id, key=key)
        answer = kiosk.register(token=self.code())
        assert answer.status_code == 201, answer.text
        return kiosk

    def customer(self, balance_minor: int) -> str:
        with self.operator() as op:
            return op.customer(balance_minor)

    def view(self, customer_id: str) -> dict[str, Any]:
        with self.operator() as op:
            return op.view(customer_id)

    def token(self, customer_id: str, ttl_s: int = 60) -> str:
        with self.operator() as op:
            answer = op.http.post(f"/v1/customers/{customer_id}/tokens", json={"ttl_s": ttl_s})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])


@pytest.fixture(scope="module")
def secured(db_url: str) -> Iterator[Secured]:  # noqa: F811
    issuer = Ed25519PrivateKey.generate()
    app = create_app(db_url, admin_token=ADMIN, issuer_key=issuer)
    server = serve_in_thread(app)
    yield Secured(server.url, app.state.ledger, issuer, server)
    server.stop()
    app.state.ledger.engine.dispose()


def signed_sale(kiosk: Kiosk, amount: int, customer: str | None, **changes: Any) -> dict[str, Any]:
    """The kiosk's next record with some fields changed, re-signed (the kiosk's own key: what a
    thief holding a kiosk key, or a buggy kiosk, could send)."""
    record = kiosk.sale(amount, customer)
    body = {k: v for k, v in record.items() if k != "signature"}
    body.update(changes)
    signed = wire.sign_sale(body, kiosk.key)
    kiosk.prev_hash = wire.sale_hash(signed)
    return signed


def statuses(answer: httpx.Response) -> list[tuple[str, str | None]]:
    assert answer.status_code == 200, answer.text
    return [(r["status"], r["reason"]) for r in answer.json()["results"]]


def refused(answer: httpx.Response, status: int, error: str | None = None) -> str:
    """Assert the answer is the refusal expected; returns its reason."""
    assert answer.status_code == status, answer.text[:300]
    body = answer.json()
    assert body["error"] and body["reason"], body
    if error is not None:
        assert body["error"] == error, body
    return str(body["reason"])


def token_sale(kiosk: Kiosk, customer: str, token: str, amount: int = 300) -> dict[str, Any]:
    """An offline customer-token sale as the kiosk's queue records it (nonce hash, no token)."""
    from sync.queue.used_nonces import split_token

    evidence, _ = split_token({"kind": "token", "code": token})
    return signed_sale(kiosk, amount, customer, method="customer_qr", evidence=evidence)


def raw_batch(kiosk: Kiosk, payload: bytes) -> httpx.Response:
    return kiosk.send("POST", f"/v1/devices/{kiosk.device_id}/sales:batch", payload)


def new_id() -> str:
    return uuid.uuid4().hex


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
