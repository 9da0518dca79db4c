"""Attacks on money: an offline sale beyond the limits the ledger handed out, settle-later debt
run up across kiosks, and one customer token paying many times. Each is refused (online) or
booked to the review account with its reason (offline), never to the customer."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from sync.ledger.kiosk import Kiosk
from sync.ledger.reports import reconcile
from tests.redteam.conftest import Secured, signed_sale, statuses, token_sale


def review_of(secured: Secured) -> list[dict[str, object]]:
    with secured.operator() as op:
        answer = op.http.get("/v1/review")
    assert answer.status_code == 200
    return list(answer.json()["review"])


def test_an_offline_sale_over_the_per_sale_limit_goes_to_review(secured: Secured) -> None:
    # GIVEN a 1,000 wallet and a kiosk whose per-sale limit is the default 5,000
    customer = secured.customer(1000)
    kiosk = secured.kiosk()
    # WHEN the kiosk's word says it sold 999,999,999,999 offline
    answer = kiosk.post_batch([kiosk.sale(999_999_999_999, customer)])
    # THEN it is declined to review with the reason; the customer owes nothing
    [(status, reason)] = statuses(answer)
    assert status == "declined" and (reason or "").startswith("review: ")
    assert "per-sale limit of 5000" in (reason or "")
    view = secured.view(customer)
    assert (view["balance_minor"], view["settle_later_minor"]) == (1000, 0)
    # AND the operator sees it at /v1/review and in reconcile
    assert any(item["amount_minor"] == 999_999_999_999 for item in review_of(secured))
    with secured.ledger.engine.connect() as conn:
        report = reconcile(conn, kiosk.device_id)["devices"][0]
    assert [item["amount_minor"] for item in report["review"]] == [999_999_999_999]
    assert report["totals"][0]["by_kind"]["review"]["amount_minor"] == 999_999_999_999


def test_offline_sales_beyond_the_customer_and_device_totals_go_to_review(
    secured: Secured,
) -> None:
    # GIVEN a funded customer and a kiosk with the default limits (10,000 per customer)
    customer = secured.customer(100_000)
    kiosk = secured.kiosk()
    # WHEN one batch carries three offline sales of 4,000 to the customer
    answer = kiosk.post_batch([kiosk.sale(4000, customer) for _ in range(3)])
    # THEN the third is over the per-customer unsynced total: review, not the wallet
    result = statuses(answer)
    assert [s for s, _ in result] == ["accepted", "accepted", "declined"]
    assert "customer's unsynced offline total 12000" in (result[2][1] or "")
    assert secured.view(customer)["balance_minor"] == 100_000 - 8000
    # AND the device's own unsynced total (50,000) binds across customers
    others = [secured.customer(100_000) for _ in range(12)]
    answer = kiosk.post_batch([kiosk.sale(4500, c) for c in others])
    reasons = [reason for status, reason in statuses(answer) if status == "declined"]
    assert len(reasons) == 1 and "device's limit of 50000" in (reasons[0] or "")


def test_settle_later_debt_is_capped_across_kiosks(secured: Secured) -> None:
    # GIVEN an empty wallet and three kiosks, each selling offline within its own limits
    customer = secured.customer(0)
    kiosks = [secured.kiosk() for _ in range(3)]
    results = [statuses(k.post_batch([k.sale(4000, customer)]))[0] for k in kiosks]
    # THEN two are settle-later debt (8,000), the third would pass the 10,000 cap: review
    assert [status for status, _ in results] == ["accepted", "accepted", "declined"]
    assert "settle-later debt would reach 12000" in (results[2][1] or "")
    assert secured.view(customer)["settle_later_minor"] == 8000


def test_a_token_pays_once_online(secured: Secured) -> None:
    # GIVEN a customer token (a screenshot of the customer's payment code)
    customer = secured.customer(10_000)
    token = secured.token(customer)
    kiosk = secured.kiosk()

    def authorise() -> dict[str, object]:
        body = {
            "sale_id": str(uuid.uuid4()),
            "customer_id": customer,
            "amount_minor": 1000,
            "currency": "EUR",
            "method": "customer_qr",
            "token": token,
        }
        answer = kiosk.post_json("/authorizations", body)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    # WHEN it pays once, and is shown again
    assert authorise()["status"] == "approved"
    second = authorise()
    # THEN the second use is declined with a reason the screen translates
    assert second["status"] == "declined"
    assert str(second["reason"]).startswith("token_already_used")
    # AND a customer-token authorisation without the token, or another customer's, is declined
    other = secured.customer(10_000)
    body = {
        "sale_id": str(uuid.uuid4()),
        "customer_id": other,
        "amount_minor": 100,
        "currency": "EUR",
        "method": "customer_qr",
    }
    assert kiosk.post_json("/authorizations", body).json()["reason"].startswith("token_required")
    stolen = kiosk.post_json("/authorizations", {**body, "token": secured.token(customer)})
    assert "another customer" in stolen.json()["reason"]
    assert secured.view(customer)["held_minor"] == 1000


def test_the_same_token_offline_at_two_kiosks_pays_once(secured: Secured) -> None:
    # GIVEN one token, used offline at two kiosks (each kiosk's own store cannot know)
    customer = secured.customer(6000)
    token = secured.token(customer)
    first, second = secured.kiosk(), secured.kiosk()
    # WHEN both sync
    one = statuses(first.post_batch([token_sale(first, customer, token, 3000)]))
    two = statuses(second.post_batch([token_sale(second, customer, token, 3000)]))
    # THEN the first pays, the second goes to review as token_already_used
    assert one == [("accepted", None)]
    assert two[0][0] == "declined" and "token_already_used" in (two[0][1] or "")
    assert secured.view(customer)["balance_minor"] == 3000


def test_a_token_sale_needs_a_token_the_ledger_issued_to_that_customer(
    secured: Secured,
) -> None:
    customer, other = secured.customer(5000), secured.customer(5000)
    kiosk = secured.kiosk()
    forged = {"kind": "token", "token_nonce_sha256": "0" * 64, "token_expires_at": 1}
    answers = statuses(
        kiosk.post_batch(
            [
                signed_sale(kiosk, 100, customer, method="customer_qr", evidence={}),
                signed_sale(kiosk, 100, customer, method="customer_qr", evidence=forged),
                token_sale(kiosk, customer, secured.token(other), 100),
            ]
        )
    )
    assert [status for status, _ in answers] == ["declined"] * 3
    assert "without a token" in (answers[0][1] or "")
    assert "never issued" in (answers[1][1] or "")
    assert "another customer" in (answers[2][1] or "")
    assert secured.view(customer)["balance_minor"] == 5000


def test_token_lifetimes_are_minutes_and_no_token_is_stored(secured: Secured) -> None:
    customer = secured.customer(1000)
    with secured.operator() as op:
        month = op.http.post(f"/v1/customers/{customer}/tokens", json={"ttl_s": 30 * 86400})
        default = op.http.post(f"/v1/customers/{customer}/tokens", json={})
    assert month.status_code == 400 and "ttl_s" in month.json()["reason"]
    assert default.json()["expires_at"] - secured.ledger.clock() <= 61
    # AND a token-paid sale's stored record keeps the nonce hash, not the token
    kiosk = secured.kiosk()
    token = default.json()["token"]
    assert statuses(kiosk.post_batch([token_sale(kiosk, customer, token, 100)]))[0][0] == (
        "accepted"
    )
    with secured.ledger.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT record_json FROM sales").scalars().all()
    assert not any("SPT1." in text for text in stored)
    assert not any(token.split(".")[1] in text for text in stored)


def test_an_online_hold_and_its_sale_spend_the_token_once(secured: Secured) -> None:
    # GIVEN a token-paid sale approved online, then arriving in a batch under the same sale id
    customer = secured.customer(5000)
    token = secured.token(customer)
    kiosk = secured.kiosk()
    sale_id = str(uuid.uuid4())
    body = {
        "sale_id": sale_id,
        "customer_id": customer,
        "amount_minor": 700,
        "currency": "EUR",
        "method": "customer_qr",
        "token": token,
    }
    auth = kiosk.post_json("/authorizations", body).json()
    assert auth["status"] == "approved"
    record = token_sale(kiosk, customer, token, 700)
    record = signed_sale_replacing(
        kiosk, record, sale_id=sale_id, offline=False, auth_id=auth["auth_id"]
    )
    # THEN it posts the hold (not review), and the balance is charged once
    assert statuses(kiosk.post_batch([record])) == [("accepted", None)]
    assert secured.view(customer)["balance_minor"] == 4300


def signed_sale_replacing(kiosk: Kiosk, record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Re-sign the kiosk's last record with some fields changed (rewinds its chain by one)."""
    from base import wire

    kiosk.next_seq -= 1
    kiosk.prev_hash = record["prev_hash"]
    body = {k: v for k, v in record.items() if k != "signature"} | changes
    signed = wire.sign_sale(body, kiosk.key)
    kiosk.next_seq += 1
    kiosk.prev_hash = wire.sale_hash(signed)
    return signed


def test_review_listing_needs_the_operator(secured: Secured) -> None:
    assert httpx.get(f"{secured.url}/v1/review").status_code == 401
