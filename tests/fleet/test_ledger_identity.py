"""The ledger's fleet identity API against a real ledger: retention expiry, deletion by the
customer's token at a kiosk, the kiosk's step-up through the ledger, and the operator's
customer CLI (create, topup, token --qr, list)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from base.keys import create_key_file
from device.cli import main as smilepay
from sync.agent.client import LedgerClient
from sync.agent.step_up import LedgerStepUp
from sync.ledger.app import create_app
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.server import RunningServer, serve_in_thread
from tests.fleet.conftest import FleetLedger, last_json

DAY_S = 24 * 3600
DAY_MS = DAY_S * 1000


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clocked(tmp_path: Path) -> Iterator[tuple[RunningServer, Clock, Any]]:
    clock = Clock()
    app = create_app(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        clock=clock,
        issuer_key=create_key_file(tmp_path / "issuer.key"),
        template_key_file=tmp_path / "template.key",
        retention_days=30,
    )
    server = serve_in_thread(app)
    yield server, clock, app.state.ledger
    server.stop()


def enrolment(customer_id: str, **extra: Any) -> dict[str, Any]:
    vector = np.random.default_rng(1).standard_normal(128).astype("<f4")
    return {
        "customer_id": customer_id,
        "name": "Ada",
        "template_b64": base64.b64encode(vector.tobytes()).decode(),
        "consent": {"text_version": "v1", "accepted_at": "2026-12-01T00:00:00Z", "kiosk_id": "k"},
        **extra,
    }


def registered(url: str) -> Kiosk:
    kiosk = Kiosk(url, merchant_id="shop-1")
    assert kiosk.register().status_code == 201
    return kiosk


def test_a_template_unused_past_retention_is_deleted_and_confirmed_like_any_deletion(
    clocked: tuple[RunningServer, Clock, Any],
) -> None:
    from sync.ledger.enrolments import expire_unused

    server, clock, ledger = clocked
    kiosk = registered(server.url)
    customer = "old-" + uuid.uuid4().hex
    assert kiosk.post_json("/enrollments", enrolment(customer)).status_code == 201
    now_ms = int(clock.now * 1000)
    # WHEN the retention sweep runs 29 days later THEN nothing expires
    assert ledger.transaction(lambda conn: expire_unused(conn, now_ms + 29 * DAY_MS, 30)) == []
    # WHEN it runs 31 days later, with no sale in between
    expired = ledger.transaction(lambda conn: expire_unused(conn, now_ms + 31 * DAY_MS, 30))
    # THEN the template is deleted and the merchant's kiosk is asked to confirm
    assert expired == [customer]
    changes = kiosk.get("/gallery?cursor=0").json()["changes"]
    assert [c["action"] for c in changes if c["customer_id"] == customer] == ["delete"]
    view = Operator(server.url).view(customer)
    assert view["deletion"]["pending"] == [kiosk.device_id]
    assert view["deletion"]["reason"].startswith("retention")
    kiosk.close()


def test_a_customer_deletes_with_their_token_at_a_kiosk_and_a_stranger_kiosk_cannot(
    clocked: tuple[RunningServer, Clock, Any],
) -> None:
    server, _, _ = clocked
    kiosk = registered(server.url)
    customer = "tok-" + uuid.uuid4().hex
    assert kiosk.post_json("/enrollments", enrolment(customer)).status_code == 201
    operator = Operator(server.url)
    token = operator.http.post(f"/v1/customers/{customer}/tokens", json={"ttl_s": 60}).json()
    other_customer = operator.customer()
    other_token = operator.http.post(f"/v1/customers/{other_customer}/tokens", json={}).json()
    # WHEN a kiosk of another merchant tries THEN it does not even learn the customer exists
    stranger = Kiosk(server.url, merchant_id="shop-2")
    assert stranger.register().status_code == 201
    body = {"customer_id": customer, "token": token["token"]}
    assert stranger.post_json("/face-deletions", body).status_code == 404
    # WHEN another customer's token is shown THEN refused
    wrong = {"customer_id": customer, "token": other_token["token"]}
    refused = kiosk.post_json("/face-deletions", wrong)
    assert refused.status_code == 403 and "another customer" in refused.json()["reason"]
    # WHEN the customer's own token THEN deleted, and the wallet stays
    answer = kiosk.post_json("/face-deletions", body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["deletion"]["pending"] == [kiosk.device_id]
    assert operator.view(customer)["deleted"] is False
    kiosk.close()
    stranger.close()


def test_a_queued_deletion_counts_the_token_when_the_kiosk_checked_it_within_30_days(
    clocked: tuple[RunningServer, Clock, Any],
) -> None:
    server, clock, _ = clocked
    kiosk = registered(server.url)
    customer = "late-" + uuid.uuid4().hex
    assert kiosk.post_json("/enrollments", enrolment(customer)).status_code == 201
    operator = Operator(server.url)
    token = operator.http.post(f"/v1/customers/{customer}/tokens", json={"ttl_s": 30}).json()
    checked_ms = int(clock.now * 1000)
    body = {"customer_id": customer, "token": token["token"], "proven_at_ms": checked_ms}
    # GIVEN the kiosk checked the token while offline and sends the request after it expired
    # (two minutes later: within the signed requests' clock window)
    clock.now += 120
    # WHEN the request claims a time in the future, or one over 30 days old THEN refused
    future = {**body, "proven_at_ms": int(clock.now * 1000) + 3600_000}
    assert kiosk.post_json("/face-deletions", future).status_code == 403
    ancient = {**body, "proven_at_ms": checked_ms - 31 * DAY_MS}
    assert kiosk.post_json("/face-deletions", ancient).status_code == 403
    # AND without the time the expired token is refused
    refused = kiosk.post_json(
        "/face-deletions", {k: v for k, v in body.items() if k != "proven_at_ms"}
    )
    assert refused.status_code == 403 and "expired" in refused.json()["reason"]
    # WHEN it says when it checked the token THEN the deletion is taken
    answer = kiosk.post_json("/face-deletions", body)
    assert answer.status_code == 202, answer.text
    kiosk.close()


def test_the_kiosk_asks_the_ledger_for_the_step_up_and_declines_when_it_cannot(
    clocked: tuple[RunningServer, Clock, Any], tmp_path: Path
) -> None:
    import hashlib

    from base.keys import public_key_b64

    server, _, _ = clocked
    key = create_key_file(tmp_path / "kiosk.key")
    device_id = "kiosk-" + uuid.uuid4().hex[:8]
    with LedgerClient(server.url, device_id, key) as client:
        client.register(public_key_b64(key), "shop-1", "s", "k")
        salt = b"0123456789abcdef"
        digest = hashlib.scrypt(b"4711", salt=salt, n=2**14, r=8, p=1, dklen=32).hex()
        customer = "su-" + uuid.uuid4().hex
        client.enroll(enrolment(customer, step_up_salt=salt.hex(), step_up_hash=digest))

    class NoLocalSecret:
        def check_step_up(self, customer_id: str, digits: str) -> bool:
            return False

    online = LedgerStepUp(NoLocalSecret(), lambda: LedgerClient(server.url, device_id, key))
    assert online.check_step_up(customer, "4711") is True
    assert online.check_step_up(customer, "1234") is False
    offline = LedgerStepUp(
        NoLocalSecret(), lambda: LedgerClient("http://127.0.0.1:9", device_id, key)
    )
    assert offline.check_step_up(customer, "4711") is False


def test_the_operator_customer_cli_creates_funds_lists_and_shows_a_token_as_qr(
    fleet_ledger: FleetLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = fleet_ledger.operator_args()
    assert smilepay(["ledger", "customer", "create", "--name", "Grace", *auth, "--json"]) == 0
    customer = last_json(capsys.readouterr().out)["customer_id"]
    topup = ["ledger", "customer", "topup", customer, "--amount-minor", "2500", *auth, "--json"]
    assert smilepay(topup) == 0
    capsys.readouterr()
    assert smilepay(["ledger", "customer", "show", customer, *auth, "--json"]) == 0
    assert last_json(capsys.readouterr().out)["balance_minor"] == 2500
    assert smilepay(["ledger", "customer", "list", *auth, "--json"]) == 0
    listed = last_json(capsys.readouterr().out)["customers"]
    assert customer in [c["customer_id"] for c in listed]
    assert smilepay(["ledger", "customer", "token", customer, *auth, "--qr"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SPT1") and "█" in out  # the token, then the drawn QR code
    # AND without the operator token the ledger refuses, with the reason
    unauthorised = ["ledger", "customer", "show", customer, "--ledger-url", fleet_ledger.url]
    assert smilepay(unauthorised) != 0
    assert "401 bad_token" in capsys.readouterr().err
