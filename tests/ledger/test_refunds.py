"""Refunds at the ledger: booked back to where the sale took the money from, once per refund,
never beyond what remains of the sale, in chain order (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import select

from base import refund_record as rr
from base.limits import OfflineLimits
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.refunds import refunds
from sync.ledger.reports import reconcile
from sync.ledger.tables import transfers
from tests.ledger.conftest import LedgerUnderTest


class RefundChain:
    """The kiosk's refund records: numbered, chained and signed as sync/queue/refunds does."""

    def __init__(self, kiosk: Kiosk) -> None:
        self.kiosk = kiosk
        self.seq = 0
        self.prev_hash = rr.GENESIS_HASH

    def refund(self, sale_id: str, amount_minor: int, currency: str = "EUR") -> dict[str, Any]:
        self.seq += 1
        body = {
            "kind": "refund",
            "refund_id": str(uuid.uuid4()),
            "device_id": self.kiosk.device_id,
            "seq": self.seq,
            "sale_id": sale_id,
            "amount_minor": amount_minor,
            "currency": currency,
            "reference": f"pos-ref-{self.seq}",
            "reason": "",
            "wall_time": dt.datetime.now(dt.UTC).isoformat(),
            "prev_hash": self.prev_hash,
        }
        record = rr.sign_refund(body, self.kiosk.key)
        self.prev_hash = rr.refund_hash(record)
        return record

    def send(self, *records: dict[str, Any]) -> list[dict[str, Any]]:
        answer = self.kiosk.post_json("/refunds:batch", {"refunds": list(records)})
        assert answer.status_code == 200, answer.text
        results: list[dict[str, Any]] = answer.json()["results"]
        return results


def sold(kiosk: Kiosk, customer: str, amount: int) -> str:
    record = kiosk.sale(amount, customer)
    answer = kiosk.post_batch([record])
    assert answer.json()["results"][0]["status"] == "accepted", answer.text
    return str(record["sale_id"])


def refund_transfers(ledger: LedgerUnderTest, sale_id: str) -> list[tuple[str, str, int]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(transfers.c.kind, transfers.c.credit_account_id, transfers.c.amount_minor)
            .where(transfers.c.sale_id == sale_id, transfers.c.kind.like("refund%"))
            .order_by(transfers.c.kind)
        )
        return [tuple(row) for row in rows]


def test_a_partial_refund_goes_back_to_the_wallet_once(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a customer who paid 900 from a wallet of 1000
    customer = operator.customer(1000)
    sale_id = sold(kiosk, customer, 900)
    chain = RefundChain(kiosk)
    # WHEN the kiosk refunds 400 of it, and sends the same record again
    record = chain.refund(sale_id, 400)
    first = chain.send(record)
    second = chain.send(record)
    # THEN it is refunded once: the wallet gets 400 back, 500 remain, the answer repeats
    assert first[0]["status"] == "refunded" and first[0]["remaining_minor"] == 500
    assert second[0]["status"] == "refunded" and second[0]["remaining_minor"] == 500
    assert operator.view(customer)["balance_minor"] == 500
    assert refund_transfers(ledger, sale_id) == [("refund", f"wallet:{customer}", 400)]
    # AND the ledger says what remains
    answer = kiosk.get(f"/sales/{sale_id}/refundable")
    assert answer.json()["remaining_minor"] == 500 and answer.json()["refunded_minor"] == 400


def test_a_refund_beyond_what_remains_is_refused_and_moves_no_money(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a sale of 300 of which 200 was refunded
    customer = operator.customer(1000)
    sale_id = sold(kiosk, customer, 300)
    chain = RefundChain(kiosk)
    assert chain.send(chain.refund(sale_id, 200))[0]["status"] == "refunded"
    # WHEN a refund of 150 arrives, then one of 100
    beyond, rest = chain.refund(sale_id, 150), chain.refund(sale_id, 100)
    results = chain.send(beyond, rest)
    # THEN the first is refused with the reason, the second (exactly what remains) is booked
    assert results[0]["status"] == "refused" and "only 100" in results[0]["reason"]
    assert results[1]["status"] == "refunded" and results[1]["remaining_minor"] == 0
    assert sum(t[2] for t in refund_transfers(ledger, sale_id)) == 300
    assert operator.view(customer)["balance_minor"] == 1000


def test_a_settle_later_refund_first_cancels_the_debt(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a customer with 100 who bought for 300 offline: a settle-later debt of 300
    customer = operator.customer(100)
    sale_id = sold(kiosk, customer, 300)
    assert operator.view(customer)["settle_later_minor"] == 300
    # WHEN all 300 is refunded
    chain = RefundChain(kiosk)
    assert chain.send(chain.refund(sale_id, 300))[0]["status"] == "refunded"
    # THEN the debt is gone and the wallet is untouched
    view = operator.view(customer)
    assert view["settle_later_minor"] == 0 and view["balance_minor"] == 100
    assert refund_transfers(ledger, sale_id) == [("refund_later", f"settle_later:{customer}", 300)]


def test_a_refund_of_a_sale_not_yet_synced_waits_and_later_books(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a sale the ledger has not received yet
    customer = operator.customer(1000)
    record = kiosk.sale(500, customer)
    chain = RefundChain(kiosk)
    refund = chain.refund(record["sale_id"], 200)
    # WHEN its refund arrives first THEN it waits and nothing is stored
    assert chain.send(refund)[0]["status"] == "waiting"
    with ledger.engine.connect() as conn:
        assert (
            conn.execute(select(refunds).where(refunds.c.refund_id == refund["refund_id"])).first()
            is None
        )
    # WHEN the sale arrives and the refund is sent again THEN it is booked
    kiosk.post_batch([record])
    assert chain.send(refund)[0]["status"] == "refunded"


def test_out_of_order_tampered_and_foreign_refunds_are_refused(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    customer = operator.customer(1000)
    sale_id = sold(kiosk, customer, 500)
    chain = RefundChain(kiosk)
    # GIVEN refunds 1 and 2; WHEN 2 arrives alone THEN it is rejected as a gap
    first, second = chain.refund(sale_id, 100), chain.refund(sale_id, 100)
    assert chain.send(second)[0]["status"] == "rejected"
    # WHEN a record is altered after signing THEN the whole request is refused, naming it
    tampered = {**first, "amount_minor": 400}
    answer = kiosk.post_json("/refunds:batch", {"refunds": [tampered]})
    assert answer.status_code == 400 and "bad signature" in answer.json()["reason"]
    # WHEN another merchant's kiosk refunds this sale THEN it is refused
    other = ledger.kiosk(merchant_id="merchant-2")
    try:
        foreign = RefundChain(other)
        result = foreign.send(foreign.refund(sale_id, 100))[0]
        assert result["status"] == "refused" and "another merchant" in result["reason"]
    finally:
        other.close()
    # AND the honest records, in order, are booked
    assert [r["status"] for r in chain.send(first, second)] == ["refunded", "refunded"]


def test_reconcile_shows_refunds_and_the_ledger_stays_balanced(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator
) -> None:
    # GIVEN a sale and a refund booked
    customer = operator.customer(1000)
    sale_id = sold(kiosk, customer, 800)
    chain = RefundChain(kiosk)
    chain.send(chain.refund(sale_id, 300))
    chain.send(chain.refund(sale_id, 900))  # refused
    # WHEN the ledger is reconciled
    with ledger.engine.connect() as conn:
        report = reconcile(conn, kiosk.device_id)
    # THEN the device shows one refund of 300 matching its transfers, one refused
    refunds_seen = report["devices"][0]["refunds"]
    assert refunds_seen["refunded"] == [
        {
            "currency": "EUR",
            "count": 1,
            "amount_minor": 300,
            "transfers_minor": 300,
            "balanced": True,
        }
    ]
    assert refunds_seen["refused_count"] == 1
    assert all(total["balanced"] for total in report["ledger"])
    json.dumps(report)  # JSON-ready


def test_ledger_export_and_reconcile_commands_show_the_refund(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator, capsys: Any
) -> None:
    import argparse

    from sync.ledger.commands import export_command, reconcile_command

    # GIVEN a sale of 700 and a refund of 250 booked
    customer = operator.customer(1000)
    sale_id = sold(kiosk, customer, 700)
    chain = RefundChain(kiosk)
    refund = chain.refund(sale_id, 250)
    chain.send(refund)
    # WHEN the transfers are exported
    capsys.readouterr()
    export_command(argparse.Namespace(db=ledger.db_url, json=True))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # THEN the refund is one transfer from the merchant back to the wallet, naming the refund
    mine = [t for t in lines if t["kind"] == "refund" and t["sale_id"] == sale_id]
    assert [(t["amount_minor"], t["reference"]) for t in mine] == [(250, refund["refund_id"])]
    assert mine[0]["debit_account_id"] == "merchant:merchant-1:EUR"
    # AND reconcile (text) lists it and exits 0: everything balances
    code = reconcile_command(
        argparse.Namespace(db=ledger.db_url, device=kiosk.device_id, json=False)
    )
    assert code == 0
    assert "refunded 250 in 1 refunds balanced=True" in capsys.readouterr().out


def test_the_sync_agent_sends_pending_refunds_once_with_its_cycle(
    ledger: LedgerUnderTest, operator: Operator, tmp_path: Any
) -> None:
    from sync.agent.agent import SyncAgent
    from sync.agent.client import LedgerClient
    from sync.agent.device_identity import init_device
    from sync.queue import SaleDraft
    from sync.queue.refunds import RefundDraft, RefundQueue
    from sync.queue.sale_queue import SaleQueue

    # GIVEN a registered device with an offline sale of 600 and a refund of 200 of it, queued
    identity = init_device(tmp_path, ledger.url, merchant_id="merchant-1")
    limits = OfflineLimits()
    sales_queue = SaleQueue.open(
        tmp_path,
        device_id=identity.device_id,
        signing_key=identity.key,
        limits=limits,
        allow_tmpfs=True,
    )
    customer = operator.customer(1000)
    sale = sales_queue.enqueue_sale(SaleDraft(600, "EUR", "face", customer_id=customer))
    refund_queue = RefundQueue.open(tmp_path, identity.device_id, identity.key, limits)
    refund = refund_queue.enqueue(RefundDraft(sale["sale_id"], 200, "EUR", "r-agent"), offline=True)
    # WHEN the sync agent runs two cycles (the second sends nothing new)
    with LedgerClient(ledger.url, identity.device_id, identity.key) as client:
        agent = SyncAgent(sales_queue, client, identity.key, refunds=refund_queue)
        assert agent.cycle() is not None and agent.cycle() is not None
    # THEN the sale and then its refund are booked, the refund once, and nothing is pending
    assert refund_queue.pending() == []
    assert refund_queue.get(refund.refund_id).state == "refunded"  # type: ignore[union-attr]
    with ledger.engine.connect() as conn:
        booked = conn.execute(select(refunds).where(refunds.c.sale_id == sale["sale_id"])).all()
    assert [(row.amount_minor, row.status) for row in booked] == [(200, "refunded")]
    assert operator.view(customer)["balance_minor"] == 1000 - 600 + 200
    sales_queue.close()
    refund_queue.close()
