"""Customers: top-ups, kiosk enrolment with consent, the gallery feed, and erasure."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from base.sealed import SealError, open_box, x25519_private_from_ed25519
from base.token import verify_token
from sync.ledger.app import create_app
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.server import serve_in_thread
from sync.ledger.tables import consents, enrolments
from tests.ledger.conftest import LedgerUnderTest

TEMPLATE = base64.b64encode(struct.pack("<128f", *[i / 128 for i in range(128)])).decode()


def enrollment(customer_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "name": "Ada",
        "template_b64": TEMPLATE,
        "step_up_salt": "73616c74",
        "step_up_hash": "68617368",
        "consent": {
            "text_version": "v1",
            "accepted_at": "2026-11-21T10:00:00Z",
            "kiosk_id": "kiosk-1",
        },
        **changes,
    }


def changes_for(kiosk: Kiosk, customer_id: str, cursor: int = 0) -> list[dict[str, Any]]:
    answer = kiosk.get(f"/gallery?cursor={cursor}&limit=1000")
    assert answer.status_code == 200, answer.text
    return [c for c in answer.json()["changes"] if c["customer_id"] == customer_id]


def test_a_top_up_is_idempotent_on_its_reference(operator: Operator) -> None:
    customer = operator.customer()
    reference = "till-7-receipt-" + uuid.uuid4().hex
    assert operator.top_up(customer, 500, reference=reference).status_code == 201
    assert operator.top_up(customer, 500, reference=reference).status_code == 200
    assert operator.view(customer)["balance_minor"] == 500
    # The same reference for a different amount is refused, not booked.
    clash = operator.top_up(customer, 900, reference=reference)
    assert clash.status_code == 409
    assert operator.view(customer)["balance_minor"] == 500


def test_bad_operator_input_is_refused_with_the_field_named(operator: Operator) -> None:
    customer = operator.customer()
    cases = [
        ("/v1/customers", {"name": "A", "currency": "euro"}, "currency"),
        ("/v1/customers", {"name": "A", "currency": "EUR", "x": 1}, "x"),
        (
            f"/v1/customers/{customer}/topups",
            {"amount_minor": -1, "currency": "EUR", "reference": "r"},
            "amount_minor",
        ),
        (
            f"/v1/customers/{customer}/topups",
            {"amount_minor": "5", "currency": "EUR", "reference": "r"},
            "amount_minor",
        ),
        (
            f"/v1/customers/{customer}/topups",
            {"amount_minor": 5, "currency": "USD", "reference": "r"},
            "EUR",
        ),
    ]
    for path, body, word in cases:
        answer = operator.http.post(path, json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
        assert word in answer.json()["reason"], answer.json()
    assert operator.http.get("/v1/customers/nobody").status_code == 404


def test_a_kiosk_enrolment_creates_the_customer_records_consent_and_feeds_the_gallery(
    ledger: LedgerUnderTest, kiosk: Kiosk
) -> None:
    # GIVEN a face enrolled on a kiosk for a customer the ledger has not seen
    customer = "enrolled-" + uuid.uuid4().hex
    answer = kiosk.post_json("/enrollments", enrollment(customer, currency="EUR"))
    assert answer.status_code == 201, answer.text
    # THEN the consent is on record
    with ledger.engine.connect() as conn:
        recorded = conn.execute(select(consents).where(consents.c.customer_id == customer)).all()
        stored = conn.execute(select(enrolments).where(enrolments.c.customer_id == customer)).one()
    assert [(c.text_version, c.device_id) for c in recorded] == [("v1", kiosk.device_id)]
    # AND the template is sealed at rest (the clear bytes are not in the row)
    assert base64.b64decode(TEMPLATE) not in base64.b64decode(stored.template_sealed)
    # AND another kiosk of the merchant gets it sealed to its own key, with no step-up hash
    other = ledger.kiosk()
    [change] = changes_for(other, customer)
    assert change["action"] == "upsert" and set(change) == {
        "change_id",
        "customer_id",
        "action",
        "box_b64",
    }
    plain = open_box(x25519_private_from_ed25519(other.key), change["box_b64"], customer.encode())
    assert plain == base64.b64decode(TEMPLATE) + b"Ada"
    with pytest.raises(SealError):
        open_box(x25519_private_from_ed25519(kiosk.key), change["box_b64"], customer.encode())
    # AND a kiosk of another merchant never sees it
    stranger = ledger.kiosk("merchant-2")
    assert changes_for(stranger, customer) == []
    # AND a cursor after the change returns nothing more for it
    assert changes_for(other, customer, cursor=change["change_id"]) == []
    other.close()
    stranger.close()


def test_an_enrolment_sent_twice_is_stored_once(ledger: LedgerUnderTest, kiosk: Kiosk) -> None:
    # GIVEN an enrolment with its id WHEN the kiosk sends it twice (a lost answer)
    customer = "twice-" + uuid.uuid4().hex
    body = enrollment(customer, enrolment_id="enr-" + uuid.uuid4().hex)
    first = kiosk.post_json("/enrollments", body)
    again = kiosk.post_json("/enrollments", body)
    # THEN the second is a duplicate and the gallery carries one change
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "duplicate"
    assert len(changes_for(ledger.kiosk(), customer)) == 1


def test_the_step_up_is_checked_online_and_locks_after_five_wrong_tries(
    ledger: LedgerUnderTest, kiosk: Kiosk
) -> None:
    # GIVEN a customer enrolled with a step-up secret (salt and scrypt hash made on the kiosk)
    customer = "step-" + uuid.uuid4().hex
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"4711", salt=salt, n=2**14, r=8, p=1, dklen=32).hex()
    body = enrollment(customer, step_up_salt=salt.hex(), step_up_hash=digest)
    assert kiosk.post_json("/enrollments", body).status_code == 201

    def check(digits: str) -> dict[str, Any]:
        answer = kiosk.post_json("/step-up:check", {"customer_id": customer, "digits": digits})
        assert answer.status_code == 200, answer.text
        return answer.json()

    # WHEN the right digits THEN ok; WHEN five wrong tries THEN even the right digits are locked
    assert check("4711")["ok"] is True
    assert [check("0000")["attempts_left"] for _ in range(5)] == [4, 3, 2, 1, 0]
    assert check("4711") == {
        "customer_id": customer,
        "ok": False,
        "reason": "locked",
        "attempts_left": 0,
    }
    # AND a kiosk of another merchant cannot even ask
    stranger = ledger.kiosk("merchant-2")
    asked = stranger.post_json("/step-up:check", {"customer_id": customer, "digits": "4711"})
    assert asked.status_code == 404
    stranger.close()


def test_an_enrolment_with_a_wrong_template_is_refused(kiosk: Kiosk) -> None:
    short = base64.b64encode(b"\0" * 100).decode()
    answer = kiosk.post_json(
        "/enrollments", enrollment("e-" + uuid.uuid4().hex, template_b64=short)
    )
    assert answer.status_code == 400
    assert "512 bytes" in answer.json()["reason"]


def test_erasure_wipes_the_template_and_is_confirmed_kiosk_by_kiosk(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN an enrolled customer and two active kiosks
    customer = "erase-" + uuid.uuid4().hex
    assert kiosk.post_json("/enrollments", enrollment(customer)).status_code == 201
    second = ledger.kiosk()
    # WHEN the operator erases the customer
    answer = operator.http.delete(f"/v1/customers/{customer}")
    assert answer.status_code == 202
    assert {kiosk.device_id, second.device_id} <= set(answer.json()["deletion"]["pending"])
    # THEN the gallery no longer carries the template, only the deletion
    changes = changes_for(second, customer)
    assert [c["action"] for c in changes] == ["delete"]
    assert all("box_b64" not in c for c in changes)
    # AND each kiosk's ack confirms it for that kiosk only
    ack = second.post_json(
        "/gallery:ack", {"cursor": changes[0]["change_id"], "deleted_customer_ids": [customer]}
    )
    assert ack.status_code == 200
    deletion = operator.view(customer)["deletion"]
    assert second.device_id in deletion["confirmed_by"]
    assert kiosk.device_id in deletion["pending"]
    # AND a sale for the erased customer arriving later is declined, not lost
    result = kiosk.post_batch([kiosk.sale(100, customer)]).json()["results"][0]
    assert (result["status"], result["reason"]) == ("declined", "unknown or deleted customer")
    # AND erasing twice is harmless
    assert operator.http.delete(f"/v1/customers/{customer}").status_code == 202
    second.close()


def test_gallery_query_parameters_are_checked(kiosk: Kiosk) -> None:
    for query in ("cursor=-1", "cursor=abc", "limit=0", "limit=5000"):
        answer = kiosk.get(f"/gallery?{query}")
        assert answer.status_code == 400, query
        assert answer.json()["reason"]


@pytest.fixture(scope="module")
def issuing(db_url: str) -> Iterator[tuple[str, Ed25519PrivateKey]]:
    """A ledger on this module's database that issues customer tokens."""
    key = Ed25519PrivateKey.generate()
    app = create_app(db_url, issuer_key=key)
    server = serve_in_thread(app)
    yield server.url, key
    server.stop()
    app.state.ledger.engine.dispose()


def test_a_customer_token_is_signed_by_the_ledgers_issuer_key(
    issuing: tuple[str, Ed25519PrivateKey],
) -> None:
    url, key = issuing
    operator = Operator(url)
    customer = operator.customer()
    answer = operator.http.post(f"/v1/customers/{customer}/tokens", json={"ttl_s": 120})
    assert answer.status_code == 201, answer.text
    claims = verify_token(answer.json()["token"], key.public_key(), time.time())
    assert claims.customer_id == customer
    assert operator.http.post("/v1/customers/nobody/tokens", json={}).status_code == 404
    assert (
        operator.http.post(f"/v1/customers/{customer}/tokens", json={"ttl_s": 0}).status_code == 400
    )
    operator.close()


def test_a_ledger_without_an_issuer_key_refuses_tokens(operator: Operator) -> None:
    customer = operator.customer()
    answer = operator.http.post(f"/v1/customers/{customer}/tokens", json={})
    assert answer.status_code == 409
    assert "issuer-key-file" in answer.json()["reason"]
