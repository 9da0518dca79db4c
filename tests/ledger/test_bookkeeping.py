"""Double-entry bookkeeping: settle-later debts, suspense, two-phase holds, and the property
that debits equal credits after any sequence of operations."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select

from base import wire
from sync.ledger import bookkeeping as bk
from sync.ledger import customers, devices, holds
from sync.ledger.app import create_app
from sync.ledger.errors import Conflict
from sync.ledger.ingestion import check_signatures, ingest, load_batch_json, parse_batch
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.server import serve_in_thread
from sync.ledger.tables import accounts, transfers
from tests.ledger.conftest import LedgerUnderTest


def authorize(kiosk: Kiosk, customer: str, amount: int, sale_id: str | None = None) -> Any:
    body = {
        "sale_id": sale_id or uuid.uuid4().hex,
        "customer_id": customer,
        "amount_minor": amount,
        "currency": "EUR",
        "method": "face",
    }
    answer = kiosk.post_json("/authorizations", body)
    assert answer.status_code == 200, answer.text
    return {**answer.json(), "sale_id": body["sale_id"]}


def only_result(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    assert len(results) == 1
    return results[0]


def test_an_uncovered_offline_sale_becomes_a_visible_settle_later_debt(
    kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a customer with 300 in the wallet
    customer = operator.customer(300)
    # WHEN an offline sale of 500 arrives (already approved on the kiosk)
    result = only_result(kiosk.post_batch([kiosk.sale(500, customer)]))
    # THEN it is accepted as settle-later: the wallet is untouched, the debt is visible
    assert (result["status"], result["settle_later"]) == ("accepted", True)
    view = operator.view(customer)
    assert (view["balance_minor"], view["settle_later_minor"]) == (300, 500)
    # AND a later top-up pays the debt first, with a new transfer
    assert operator.top_up(customer, 1000).status_code == 201
    view = operator.view(customer)
    assert (view["balance_minor"], view["settle_later_minor"]) == (800, 0)


def test_a_sale_without_a_usable_customer_is_declined_to_suspense(
    kiosk: Kiosk, operator: Operator
) -> None:
    dollars = operator.customer(1000, currency="USD")
    sales = [
        kiosk.sale(100, None),
        kiosk.sale(100, "nobody-" + uuid.uuid4().hex),
        kiosk.sale(100, dollars),
    ]
    answer = kiosk.post_batch(sales)
    reasons = [r["reason"] for r in answer.json()["results"]]
    assert [r["status"] for r in answer.json()["results"]] == ["declined"] * 3
    assert "no customer" in reasons[0] and "unknown" in reasons[1] and "USD" in reasons[2]
    # AND a repeat of a declined sale is a duplicate, not a second booking
    assert {r["status"] for r in kiosk.post_batch(sales).json()["results"]} == {"duplicate"}
    assert operator.view(dollars)["balance_minor"] == 1000


def test_an_online_sale_holds_then_posts_when_the_sale_arrives(
    kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN an approved authorisation of 400 on a wallet of 1000
    customer = operator.customer(1000)
    auth = authorize(kiosk, customer, 400)
    assert auth["status"] == "approved"
    view = operator.view(customer)
    assert (view["held_minor"], view["available_minor"]) == (400, 600)
    # WHEN the sale arrives with the auth id
    sale = kiosk.sale(
        400, customer, offline=False, auth_id=auth["auth_id"], sale_id=auth["sale_id"]
    )
    assert only_result(kiosk.post_batch([sale]))["status"] == "accepted"
    # THEN the hold became a posted debit
    view = operator.view(customer)
    assert (view["balance_minor"], view["held_minor"]) == (600, 0)
    # AND voiding it now is refused: the money already moved
    void = kiosk.post_json(f"/authorizations/{auth['auth_id']}:void", {})
    assert void.status_code == 409


def test_an_offline_sale_posts_the_hold_whose_approval_was_lost_in_transit(
    kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a hold the ledger placed, whose approval never reached the kiosk
    customer = operator.customer(1000)
    auth = authorize(kiosk, customer, 300)
    # WHEN the kiosk, having fallen back offline, sends the sale under the same sale id
    sale = kiosk.sale(300, customer, offline=True, auth_id=None, sale_id=auth["sale_id"])
    assert only_result(kiosk.post_batch([sale]))["status"] == "accepted"
    # THEN the hold itself was posted: charged once, nothing left held
    view = operator.view(customer)
    assert (view["balance_minor"], view["held_minor"]) == (700, 0)


def test_authorisation_is_idempotent_on_sale_id(kiosk: Kiosk, operator: Operator) -> None:
    customer = operator.customer(1000)
    first = authorize(kiosk, customer, 300, sale_id="sale-" + uuid.uuid4().hex)
    again = authorize(kiosk, customer, 300, sale_id=first["sale_id"])
    assert again["auth_id"] == first["auth_id"]
    assert operator.view(customer)["held_minor"] == 300
    changed = {
        "sale_id": first["sale_id"],
        "customer_id": customer,
        "amount_minor": 999,
        "currency": "EUR",
        "method": "face",
    }
    other = kiosk.post_json("/authorizations", changed)
    assert other.status_code == 409


def test_a_voided_hold_is_released_and_a_late_sale_books_normally(
    kiosk: Kiosk, operator: Operator
) -> None:
    customer = operator.customer(1000)
    auth = authorize(kiosk, customer, 700)
    # WHEN the kiosk voids it (customer walked away), twice
    path = f"/authorizations/{auth['auth_id']}:void"
    assert kiosk.post_json(path, {}).json()["status"] == "voided"
    assert kiosk.post_json(path, {}).status_code == 200
    # THEN the money is available again
    assert operator.view(customer)["available_minor"] == 1000
    # AND if the sale arrives anyway it is booked from the wallet, once
    sale = kiosk.sale(700, customer, offline=False, auth_id=auth["auth_id"])
    assert only_result(kiosk.post_batch([sale]))["status"] == "accepted"
    assert operator.view(customer)["balance_minor"] == 300


def test_an_authorisation_beyond_the_wallet_is_declined(kiosk: Kiosk, operator: Operator) -> None:
    customer = operator.customer(100)
    assert authorize(kiosk, customer, 101)["reason"] == "insufficient funds"
    assert authorize(kiosk, "ghost-" + uuid.uuid4().hex, 1)["status"] == "declined"


def authorize_at(kiosk: Kiosk, now: float, customer: str, amount: int) -> dict[str, Any]:
    """An authorisation request signed with timestamp `now` (the kiosk's corrected clock)."""
    path = f"/v1/devices/{kiosk.device_id}/authorizations"
    body = json.dumps(
        {
            "sale_id": uuid.uuid4().hex,
            "customer_id": customer,
            "amount_minor": amount,
            "currency": "EUR",
            "method": "face",
        }
    ).encode()
    timestamp, nonce = str(int(now)), uuid.uuid4().hex
    signature = kiosk.key.sign(wire.request_message("POST", path, timestamp, nonce, body))
    headers = {
        wire.HEADER_DEVICE: kiosk.device_id,
        wire.HEADER_TIMESTAMP: timestamp,
        wire.HEADER_NONCE: nonce,
        wire.HEADER_SIGNATURE: base64.b64encode(signature).decode(),
    }
    answer = kiosk.http.post(path, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clocked(db_url: str) -> Iterator[tuple[str, ManualClock]]:
    clock = ManualClock()
    app = create_app(db_url, clock=clock)
    server = serve_in_thread(app)
    yield server.url, clock
    server.stop()
    app.state.ledger.engine.dispose()


def test_an_expired_hold_is_voided_and_frees_the_wallet(
    clocked: tuple[str, ManualClock], ledger: LedgerUnderTest
) -> None:
    url, clock = clocked
    kiosk, operator = Kiosk(url), Operator(url)
    assert kiosk.register().status_code == 201
    customer = operator.customer(1000)
    assert authorize_at(kiosk, clock.now, customer, 1000)["status"] == "approved"
    assert authorize_at(kiosk, clock.now, customer, 1)["status"] == "declined"
    # WHEN the hold's lifetime passes on the ledger's clock (the kiosk signs with that time too)
    clock.now += holds.HOLD_TTL_MS / 1000 + 1
    # THEN the next authorisation finds the wallet free again
    assert authorize_at(kiosk, clock.now, customer, 500)["status"] == "approved"
    assert operator.view(customer)["held_minor"] == 500
    kiosk.close()
    operator.close()


# --- the property: debits equal credits after any sequence of operations ----------------------

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), st.integers(0, 2), st.integers(1, 5000)),
        st.tuples(st.just("sale"), st.integers(0, 3), st.integers(1, 5000)),  # 3: unknown
        st.tuples(st.just("authorize"), st.integers(0, 2), st.integers(1, 5000)),
        st.tuples(st.just("void"), st.integers(0, 9), st.just(0)),
        st.tuples(st.just("post"), st.integers(0, 9), st.just(0)),
        st.tuples(st.just("expire"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


class World:
    """A device, three customers and the ledger's functions, without HTTP in between."""

    def __init__(self, ledger: LedgerUnderTest) -> None:
        self.ledger = ledger
        self.kiosk = Kiosk(ledger.url, merchant_id="prop-merchant")
        self.customers = [f"prop-{uuid.uuid4().hex[:10]}" for _ in range(3)]
        self.auths: list[dict[str, Any]] = []
        self.now = 1_000_000
        self.run(lambda c: devices.register(c, json.loads(self._registration()), self.now))
        for customer in self.customers:
            self.run(
                lambda c, cid=customer: customers.create_customer(
                    c, {"customer_id": cid, "name": "P", "currency": "EUR"}, self.now
                )
            )

    def _registration(self) -> str:
        from base import keys

        return json.dumps(
            {
                "device_id": self.kiosk.device_id,
                "merchant_id": "prop-merchant",
                "public_key": keys.public_key_b64(self.kiosk.key),
                "store_id": "s",
                "name": "prop",
            }
        )

    def run(self, work: Any) -> Any:
        return self.ledger.ledger.transaction(work)

    def apply(self, op: str, who: int, amount: int) -> None:
        self.now += 1000
        handler = getattr(self, f"_{op}")
        handler(who, amount)

    def _topup(self, who: int, amount: int) -> None:
        request = {"amount_minor": amount, "currency": "EUR", "reference": uuid.uuid4().hex}
        self.run(lambda c: customers.top_up(c, self.customers[who], request, self.now))

    def _sale(self, who: int, amount: int, auth: dict[str, Any] | None = None) -> None:
        customer = self.customers[who] if who < 3 else "unknown-customer"
        record = self.kiosk.sale(
            amount,
            auth["customer_id"] if auth else customer,
            offline=auth is None,
            auth_id=auth["auth_id"] if auth else None,
            sale_id=auth["sale_id"] if auth else None,
        )
        body = json.loads(self.kiosk.batch_body([record]))
        parsed, head = parse_batch(self.kiosk.device_id, load_batch_json(json.dumps(body).encode()))
        checked = check_signatures(self.kiosk.device_id, parsed, head, self.kiosk.key.public_key())

        def work(c: Connection) -> Any:
            return ingest(
                c, devices.device_row(c, self.kiosk.device_id, lock=True), checked, self.now
            )

        assert self.run(work)[0]["status"] in ("accepted", "declined")

    def _authorize(self, who: int, amount: int) -> None:
        request = {
            "sale_id": uuid.uuid4().hex,
            "customer_id": self.customers[who],
            "amount_minor": amount,
            "currency": "EUR",
            "method": "face",
        }
        device = self.run(lambda c: devices.device_row(c, self.kiosk.device_id))
        answer = self.run(lambda c: holds.authorize(c, device, request, self.now))
        if answer["status"] == "approved":
            self.auths.append({**request, **answer})

    def _void(self, index: int, _: int) -> None:
        if index < len(self.auths):
            device = self.run(lambda c: devices.device_row(c, self.kiosk.device_id))
            auth_id = self.auths[index]["auth_id"]
            with contextlib.suppress(Conflict):  # already posted: refusing is the right answer
                self.run(lambda c: holds.void(c, device, auth_id, self.now))

    def _post(self, index: int, _: int) -> None:
        if index < len(self.auths) and not self.auths[index].get("posted"):
            self.auths[index]["posted"] = True
            self._sale(0, self.auths[index]["amount_minor"], self.auths[index])

    def _expire(self, _: int, __: int) -> None:
        self.now += holds.HOLD_TTL_MS + 1
        self.run(lambda c: holds.expire_holds(c, self.now))


def assert_books_balance(conn: Connection) -> None:
    """Debits equal credits in total, every account equals the sum of its transfers, and no
    wallet is overdrawn."""
    totals = conn.execute(
        select(
            accounts.c.currency,
            func.sum(accounts.c.debits_posted),
            func.sum(accounts.c.credits_posted),
            func.sum(accounts.c.debits_pending),
            func.sum(accounts.c.credits_pending),
        ).group_by(accounts.c.currency)
    )
    for _currency, debits, credits, debits_pending, credits_pending in totals:
        assert debits == credits and debits_pending == credits_pending
    journal = [
        bk.Transfer(
            r.kind, r.debit_account_id, r.credit_account_id, r.amount_minor, r.currency, r.phase
        )
        for r in conn.execute(select(transfers))
    ]
    expected = bk.counter_deltas(journal)
    for row in conn.execute(select(accounts)):
        assert {name: row._mapping[name] for name in bk.COUNTERS} == expected[row.account_id]
        if row.kind == "wallet":
            assert row.credits_posted - row.debits_posted - row.debits_pending >= 0
    # What is still held is exactly the holds nobody posted or voided.
    resolved = select(transfers.c.pending_id).where(transfers.c.pending_id.is_not(None))
    open_holds = conn.scalar(
        select(func.coalesce(func.sum(transfers.c.amount_minor), 0)).where(
            transfers.c.phase == "pending", transfers.c.transfer_id.not_in(resolved)
        )
    )
    held = conn.scalar(select(func.coalesce(func.sum(accounts.c.debits_pending), 0)))
    assert held == open_holds


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(operations=OPERATIONS)
def test_debits_equal_credits_after_any_sequence_of_operations(
    ledger: LedgerUnderTest, operations: list[tuple[str, int, int]]
) -> None:
    # GIVEN a device and three customers; WHEN any sequence of operations is applied
    world = World(ledger)
    for op, who, amount in operations:
        world.apply(op, who, amount)
    # THEN the books balance, account by account
    with ledger.engine.connect() as conn:
        assert_books_balance(conn)
    world.kiosk.close()
