"""Who may call the ledger: signed device requests, replay, revocation, operator tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from sync.ledger.app import create_app
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.server import serve_in_thread
from tests.ledger.conftest import LedgerUnderTest

ADMIN = "admin-token-0123456789"
REGISTRATION = "registration-token-0123456789"


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.__dict__.get("why", "") for r in caplog.records if r.msg == "device request refused"]


def test_a_replayed_request_is_refused_with_409_and_logged(
    kiosk: Kiosk, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a signed request the ledger accepted
    path = f"/v1/devices/{kiosk.device_id}/config"
    headers = wire.sign_request(kiosk.device_id, kiosk.key, "GET", path, b"")
    assert kiosk.http.get(path, headers=headers).status_code == 200
    # WHEN exactly the same request is sent again
    with caplog.at_level(logging.WARNING):
        again = kiosk.http.get(path, headers=headers)
    # THEN it is refused as a replay, with a reason, and logged
    assert again.status_code == 409
    assert again.json()["error"] == "replayed_request"
    assert "replayed_request" in refusals(caplog)


def test_a_request_signed_by_another_key_is_refused_with_401_and_logged(
    kiosk: Kiosk, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a request signed by a key that is not the device's
    impostor = Kiosk(str(kiosk.http.base_url), kiosk.device_id, key=Ed25519PrivateKey.generate())
    with caplog.at_level(logging.WARNING):
        answer = impostor.post_batch([impostor.sale(100, None)])
    # THEN it is refused before anything is read, and logged
    assert answer.status_code == 401
    assert answer.json()["reason"] == "bad signature"
    assert "bad_request_signature" in refusals(caplog)
    impostor.close()


def test_a_stale_timestamp_is_refused(kiosk: Kiosk) -> None:
    # GIVEN a request signed ten minutes ago
    path = f"/v1/devices/{kiosk.device_id}/config"
    stale = str(int(wire.time.time()) - 600)
    signature = kiosk.key.sign(wire.request_message("GET", path, stale, "n-stale", b""))
    headers = {
        wire.HEADER_DEVICE: kiosk.device_id,
        wire.HEADER_TIMESTAMP: stale,
        wire.HEADER_NONCE: "n-stale",
        wire.HEADER_SIGNATURE: wire.base64.b64encode(signature).decode(),
    }
    # THEN it is refused for its clock skew
    answer = kiosk.http.get(path, headers=headers)
    assert answer.status_code == 401
    assert "skew" in answer.json()["reason"]


def test_missing_headers_and_unknown_devices_are_refused(ledger: LedgerUnderTest) -> None:
    stranger = Kiosk(ledger.url)  # never registered
    assert stranger.get("/config").status_code == 401
    bare = httpx.get(f"{ledger.url}/v1/devices/{stranger.device_id}/config")
    assert bare.status_code == 401
    assert bare.json()["reason"]
    stranger.close()


def test_a_request_for_another_devices_path_is_refused(
    ledger: LedgerUnderTest, kiosk: Kiosk
) -> None:
    # GIVEN two kiosks; kiosk A signs a request for kiosk B's path
    other = ledger.kiosk()
    path = f"/v1/devices/{other.device_id}/config"
    headers = wire.sign_request(kiosk.device_id, kiosk.key, "GET", path, b"")
    # THEN it is refused
    assert kiosk.http.get(path, headers=headers).status_code == 401
    other.close()


def test_a_revoked_device_is_refused_with_403_and_its_sales_stay(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a kiosk with one booked sale
    customer = operator.customer(1000)
    assert kiosk.post_batch([kiosk.sale(100, customer)]).status_code == 200
    # WHEN the operator revokes it
    assert operator.http.post(f"/v1/devices/{kiosk.device_id}:revoke").status_code == 200
    # THEN its next request is refused with 403 and the booked sale stands
    answer = kiosk.post_batch([kiosk.sale(100, customer)])
    assert answer.status_code == 403
    assert operator.view(customer)["balance_minor"] == 900
    # AND it cannot register again under the same id
    assert kiosk.register().status_code == 403


def test_registration_is_idempotent_for_the_same_key_and_refused_for_another(
    ledger: LedgerUnderTest, kiosk: Kiosk
) -> None:
    assert kiosk.register().status_code == 200
    thief = Kiosk(ledger.url, kiosk.device_id)
    answer = thief.register()
    assert answer.status_code == 409
    assert answer.json()["error"] == "device_exists"
    thief.close()


def test_a_registration_with_a_bad_key_is_refused(ledger: LedgerUnderTest) -> None:
    body = {"device_id": "k-bad", "public_key": "bm90IGEga2V5", "merchant_id": "m", "store_id": "s"}
    answer = httpx.post(f"{ledger.url}/v1/devices", json=body)
    assert answer.status_code == 400
    assert "public_key" in answer.json()["reason"]


@pytest.fixture(scope="module")
def guarded(db_url: str) -> Iterator[str]:
    """A second ledger on the same database, started with operator and registration tokens."""
    app = create_app(db_url, admin_token=ADMIN, registration_token=REGISTRATION)
    server = serve_in_thread(app)
    yield server.url
    server.stop()
    app.state.ledger.engine.dispose()


def test_operator_calls_need_the_admin_token_when_one_is_set(guarded: str) -> None:
    anonymous = Operator(guarded)
    answer = anonymous.http.post("/v1/customers", json={"name": "A", "currency": "EUR"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "bad_token"
    wrong = Operator(guarded, admin_token="wrong-token-0123456789")
    assert wrong.http.get("/v1/customers/x").status_code == 401
    admin = Operator(guarded, admin_token=ADMIN)
    assert admin.customer(500)
    for client in (anonymous, wrong, admin):
        client.close()


def test_registration_needs_the_registration_token_when_one_is_set(guarded: str) -> None:
    kiosk = Kiosk(guarded)
    assert kiosk.register().status_code == 401
    assert kiosk.register(token="wrong").status_code == 401
    assert kiosk.register(token=REGISTRATION).status_code == 201
    kiosk.close()


def test_a_device_gets_default_limits_until_the_operator_sets_its_own(
    kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a new kiosk: it gets OfflineLimits' defaults and the ledger's time
    config = kiosk.get("/config").json()
    assert config["limits"]["per_sale_max"] == 5000
    assert config["ledger_time_ms"] > 0
    # WHEN the operator lowers its per-sale limit
    path = f"/v1/devices/{kiosk.device_id}/limits"
    assert operator.http.put(path, json={"per_sale_max": 1200}).status_code == 200
    # THEN the kiosk sees it; a misspelled key is refused by name
    assert kiosk.get("/config").json()["limits"]["per_sale_max"] == 1200
    bad = operator.http.put(path, json={"per_sale_maxx": 1})
    assert bad.status_code == 400
    assert "per_sale_maxx" in bad.json()["reason"]
