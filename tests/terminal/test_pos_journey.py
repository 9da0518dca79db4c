"""The issue's journey: a POS plays against a running kiosk and a real ledger."""

from __future__ import annotations

import threading
import time

import pytest

from device.terminal.auth import PosKey
from device.terminal.pos_client import PosClient, PosError
from tests.terminal.conftest import Rig
from tests.timing import slow


class StatusCounting(PosClient):
    """The reference client, counting how often it had to ask for a payment's status."""

    status_calls = 0

    def status(self, reference: str, wait_s: float = 0.0) -> dict:
        self.status_calls += 1
        return super().status(reference, wait_s)


def ledger_view(rig: Rig) -> dict:
    from sqlalchemy import select

    from sync.ledger.refunds import refunds
    from sync.ledger.reports import reconcile
    from sync.ledger.storage import open_engine
    from sync.ledger.tables import sales, transfers

    engine = open_engine(rig.setup.ledger_db_url)
    try:
        with engine.connect() as conn:
            return {
                "sales": [dict(r._mapping) for r in conn.execute(select(sales))],
                "refunds": [dict(r._mapping) for r in conn.execute(select(refunds))],
                "transfers": [dict(r._mapping) for r in conn.execute(select(transfers))],
                "reconcile": reconcile(conn, rig.setup.device_id),
            }
    finally:
        engine.dispose()


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + slow(timeout_s)
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.timeout(slow(300))
def test_pay_retry_status_abort_refund_cut_and_a_balanced_ledger(rig: Rig) -> None:
    pos = rig.pos()
    # GIVEN a kiosk in terminal mode, idle
    # WHEN the POS asks for a payment paid by a smile
    paid = pos.pay(
        900,
        "EUR",
        "sale-1",
        methods=["face"],
        lines=[
            {"name": "Flat white", "quantity": 1, "unit_minor": 350},
            {"name": "Croissant", "quantity": 2, "unit_minor": 275},
        ],
        wait_s=slow(90),
    )
    # THEN it is approved with a sale id and the receipt the printer got
    assert paid["status"] == "approved", paid
    sale_id = paid["sale_id"]
    assert paid["amount_minor"] == 900 and paid["reference"] == "sale-1"
    assert paid["receipt"]["total_minor"] == 900 and paid["receipt"]["sale_id"] == sale_id
    assert [line["name"] for line in paid["receipt"]["lines"]] == ["Flat white", "Croissant"]

    # WHEN the POS sends the same reference again THEN it gets the same sale, not a second one
    again = pos.pay(
        900,
        "EUR",
        "sale-1",
        methods=["face"],
        lines=[
            {"name": "Flat white", "quantity": 1, "unit_minor": 350},
            {"name": "Croissant", "quantity": 2, "unit_minor": 275},
        ],
        wait_s=slow(30),
    )
    assert again == paid
    # AND status by reference says the same
    assert pos.status("sale-1") == paid
    # AND an approved payment cannot be aborted
    with pytest.raises(PosError) as refused:
        pos.abort("sale-1")
    assert refused.value.status == 409 and refused.value.answer["error"] == "already_approved"

    # WHEN the POS starts a payment and aborts it while the customer is choosing
    started = threading.Thread(
        target=lambda: results.append(pos_two.pay(500, "EUR", "sale-2", wait_s=slow(60)))
    )
    results: list[dict] = []
    pos_two = rig.pos()
    started.start()
    wait_for(lambda: rig.kiosk.view()["phase"] == "choose_payment", 20, "the choice screen")
    aborted = pos.abort("sale-2")
    started.join(slow(30))
    # THEN it ends aborted, on both answers, and the kiosk is idle again
    assert aborted["status"] == "aborted" and results[0]["status"] == "aborted", (aborted, results)
    wait_for(lambda: rig.kiosk.view()["phase"] == "idle", 10, "idle")

    # GIVEN a payment waiting for the customer to choose how to pay
    cut_pos = StatusCounting(rig.link.url, rig.key, timeout_s=2.0, poll_s=3.0)
    answers: list[dict] = []
    runner = threading.Thread(
        target=lambda: answers.append(
            cut_pos.pay(700, "EUR", "sale-3", methods=["face", "customer_qr"], wait_s=slow(120))
        )
    )
    runner.start()
    wait_for(lambda: rig.kiosk.view()["phase"] == "choose_payment", 20, "the choice screen")
    # WHEN the network between POS and kiosk is cut, and meanwhile the customer pays
    rig.link.down()
    rig.kiosk.choose_payment("customer_qr")
    wait_for(lambda: rig.kiosk.view()["phase"] == "approved", 30, "the payment to be approved")
    time.sleep(3)  # the POS's waiting request times out into the cut; it keeps asking
    assert not answers and runner.is_alive()
    rig.link.up()
    runner.join(slow(60))
    # THEN the POS learns the outcome by status: the one sale the kiosk recorded
    assert answers and answers[0]["status"] == "approved", answers
    assert cut_pos.status_calls >= 1
    assert rig.kiosk.sale_record(answers[0]["sale_id"]) is not None
    assert pos.status("sale-3") == answers[0]
    cut_pos.close()

    # WHEN the POS refunds part of the first sale
    refund = pos.refund(sale_id, 400, "refund-1", reason="one croissant returned")
    # THEN it is refunded, and 500 remain
    assert refund["status"] == "refunded", refund
    # AND the printer printed the refund receipt
    printer = rig.kiosk.drivers.printer
    wait_for(lambda: any(r.refund_of == sale_id for r in printer.printed), 10, "the receipt")
    printed = [r for r in printer.printed if r.refund_of == sale_id]
    assert printed[0].total_minor == 400 and printed[0].sale_id == refund["refund_id"]
    # WHEN the same refund is sent again THEN the answer is the same (one refund)
    assert pos.refund(sale_id, 400, "refund-1", reason="one croissant returned") == refund
    # WHEN a refund asks for more than remains THEN it is refused, naming the field
    with pytest.raises(PosError) as beyond:
        pos.refund(sale_id, 600, "refund-2")
    assert beyond.value.status == 422 and beyond.value.answer["field"] == "amount_minor"

    # WHEN a POS signs with a key the kiosk does not hold THEN it is refused, with the reason
    wrong = PosKey(rig.key.pos_id, bytes(32))
    with PosClient(rig.link.url, wrong) as intruder, pytest.raises(PosError) as refused_key:
        intruder.refund(sale_id, 100, "refund-3")
    assert refused_key.value.status == 401 and "bad signature" in str(refused_key.value)

    # THEN, once synced, the ledger holds the sale and the refund, booked once, balanced
    wait_for(
        lambda: (
            len(ledger_view(rig)["refunds"]) == 1
            and any(s["sale_id"] == sale_id for s in ledger_view(rig)["sales"])
        ),
        60,
        "the ledger to book the sale and the refund",
    )
    view = ledger_view(rig)
    assert [r["amount_minor"] for r in view["refunds"]] == [400]
    assert view["refunds"][0]["status"] == "refunded"
    refund_transfers = [t for t in view["transfers"] if t["kind"] in ("refund", "refund_later")]
    assert sum(t["amount_minor"] for t in refund_transfers) == 400
    assert all(t["sale_id"] == sale_id for t in refund_transfers)
    device = view["reconcile"]["devices"][0]
    assert device["refunds"]["refunded"][0]["balanced"] is True
    assert all(total["balanced"] for total in view["reconcile"]["ledger"])
    # AND exactly one sale for reference sale-1, none for the aborted sale-2
    booked = {s["sale_id"] for s in view["sales"]}
    assert sale_id in booked and results[0]["sale_id"] not in booked
