"""The queue's API: signed chained records, seq, limits, the outbox for the agent, state."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from base.limits import OfflineLimits
from sync.queue.errors import (
    IdentityMismatch,
    InvalidResult,
    LimitExceeded,
    SaleConflict,
)
from sync.queue.sale_queue import SaleQueue
from tests.queue.conftest import ManualClock, OpenQueue, draft


def test_enqueued_sale_is_a_signed_record_linked_to_the_previous_one(
    queue: SaleQueue, key: Ed25519PrivateKey
) -> None:
    # GIVEN an empty queue
    # WHEN two sales are enqueued
    first = queue.enqueue_sale(draft(250))
    second = queue.enqueue_sale(draft(300))
    # THEN each is signed by the device key, numbered 1, 2 and chained by hash
    assert [first["seq"], second["seq"]] == [1, 2]
    assert first["prev_hash"] == wire.GENESIS_HASH
    assert second["prev_hash"] == wire.sale_hash(first)
    assert wire.verify_sale_signature(second, key.public_key())
    assert wire.chain_breaks([first, second]) == []
    assert second["device_id"] == "test-device-1" and second["boot_id"] == "boot-test"
    assert queue.verify_chain() == []


def test_caller_made_sale_id_is_kept_and_a_retry_returns_the_same_record(queue: SaleQueue) -> None:
    # GIVEN a sale id made before asking for online authorisation
    sale_id = str(uuid.uuid4())
    # WHEN the same sale is enqueued twice (a retry after a crash)
    first = queue.enqueue_sale(draft(250, sale_id=sale_id))
    again = queue.enqueue_sale(draft(250, sale_id=sale_id))
    # THEN it is recorded once, under that id
    assert first == again and first["sale_id"] == sale_id
    assert queue.status().last_seq == 1


def test_same_sale_id_with_different_content_is_refused(queue: SaleQueue) -> None:
    sale_id = str(uuid.uuid4())
    queue.enqueue_sale(draft(250, sale_id=sale_id))
    with pytest.raises(SaleConflict, match=sale_id):
        queue.enqueue_sale(draft(999, sale_id=sale_id))
    assert queue.status().last_seq == 1


def test_a_refused_sale_does_not_burn_a_seq(open_queue: OpenQueue) -> None:
    # GIVEN a per-sale offline limit of 1000
    queue = open_queue(OfflineLimits(per_sale_max=1000))
    queue.enqueue_sale(draft(500))
    # WHEN a sale over it is refused, then a good one is enqueued
    with pytest.raises(LimitExceeded):
        queue.enqueue_sale(draft(5000))
    record = queue.enqueue_sale(draft(600))
    # THEN the good one gets the next seq, with no gap
    assert record["seq"] == 2
    assert queue.verify_chain() == []


@pytest.mark.parametrize(
    ("limits", "sales", "refused", "reason"),
    [
        (OfflineLimits(per_sale_max=1000), [], draft(1001), "per-sale limit of 1000"),
        (OfflineLimits(unsynced_count_max=2), [draft(1), draft(1)], draft(1), "limit 2"),
        (OfflineLimits(unsynced_total_max=900), [draft(500)], draft(401), "limit 900"),
        (
            OfflineLimits(per_customer_unsynced_max=700),
            [draft(400, customer="ann"), draft(400, customer="bob")],
            draft(301, customer="ann"),
            "customer's unsynced offline total would reach 701",
        ),
    ],
)
def test_offline_sale_over_a_limit_is_refused_with_the_reason(
    open_queue: OpenQueue,
    limits: OfflineLimits,
    sales: list,
    refused: object,
    reason: str,
) -> None:
    queue = open_queue(limits)
    for sale in sales:
        queue.enqueue_sale(sale)
    assert reason in (queue.check_offline_limits(refused) or "")  # type: ignore[arg-type]
    with pytest.raises(LimitExceeded, match=reason):
        queue.enqueue_sale(refused)  # type: ignore[arg-type]
    assert queue.status().last_seq == len(sales)


def test_oldest_unsynced_age_limit_refuses_offline_sales(
    open_queue: OpenQueue, clock: ManualClock
) -> None:
    queue = open_queue(OfflineLimits(oldest_unsynced_max_s=3600))
    queue.enqueue_sale(draft(100))
    clock.wall += 3601 * 1000
    with pytest.raises(LimitExceeded, match="oldest unsynced offline sale"):
        queue.enqueue_sale(draft(100))


def test_online_sales_are_not_subject_to_offline_limits(open_queue: OpenQueue) -> None:
    queue = open_queue(OfflineLimits(per_sale_max=10, unsynced_count_max=1))
    queue.enqueue_sale(draft(5))
    record = queue.enqueue_sale(draft(10_000, offline=False, auth_id="auth-1"))
    assert record["offline"] is False and record["auth_id"] == "auth-1"


def test_synced_sales_free_the_offline_limits(open_queue: OpenQueue) -> None:
    queue = open_queue(OfflineLimits(unsynced_count_max=1))
    first = queue.enqueue_sale(draft(100))
    queue.apply_results([wire.SaleResult(first["sale_id"], first["seq"], "accepted")])
    assert queue.enqueue_sale(draft(100))["seq"] == 2


def test_limits_from_the_ledger_are_persisted_across_restarts(open_queue: OpenQueue) -> None:
    # GIVEN limits set by the sync agent
    queue = open_queue()
    queue.set_limits(OfflineLimits(per_sale_max=123))
    queue.close()
    # WHEN the kiosk restarts with its config's limits
    reopened = open_queue(OfflineLimits(per_sale_max=5000))
    # THEN the ledger's limits are the ones in force
    assert reopened.limits.per_sale_max == 123
    with pytest.raises(LimitExceeded):
        reopened.enqueue_sale(draft(124))


def test_pending_batch_is_in_seq_order_and_bounded_by_count_and_bytes(queue: SaleQueue) -> None:
    records = [queue.enqueue_sale(draft(100 + i)) for i in range(5)]
    assert queue.pending_batch(3, 10**6) == records[:3]
    one_size = len(str(records[0])) + 50
    assert len(queue.pending_batch(5, one_size)) == 1
    assert queue.pending_batch(5, 1) == records[:1]  # always at least one


def test_apply_results_marks_synced_and_flags_rejected_without_dropping(queue: SaleQueue) -> None:
    # GIVEN four queued sales
    records = [queue.enqueue_sale(draft(100)) for _ in range(4)]
    # WHEN the ledger accepts, dedups and declines the first three and rejects the fourth
    statuses = ["accepted", "duplicate", "declined", "rejected"]
    queue.apply_results(
        [
            wire.SaleResult(
                r["sale_id"], r["seq"], cast(Any, s), "bad signature" if s == "rejected" else None
            )
            for r, s in zip(records, statuses, strict=True)
        ]
    )
    # THEN only the rejected one is unsynced; it is kept, flagged, and blocks the batch
    status = queue.status()
    assert (status.backlog_count, status.rejected_count) == (1, 1)
    assert status.last_sync_ok_at is not None
    listed = {s.seq: (s.state, s.reason) for s in queue.records()}
    assert listed[4] == ("rejected", "bad signature") and listed[1] == ("synced", None)
    assert queue.pending_batch(10, 10**6) == []
    # AND after the operator requeues it, it is sent again
    assert queue.requeue_rejected() == 1
    assert queue.pending_batch(10, 10**6) == [records[3]]


def test_a_rejected_sale_blocks_the_sales_after_it(queue: SaleQueue) -> None:
    records = [queue.enqueue_sale(draft(100)) for _ in range(3)]
    queue.apply_results([wire.SaleResult(records[1]["sale_id"], 2, "rejected", "chain break")])
    assert queue.pending_batch(10, 10**6) == records[:1]


def test_an_answer_for_an_unknown_sale_applies_nothing(queue: SaleQueue) -> None:
    record = queue.enqueue_sale(draft(100))
    results = [
        wire.SaleResult(record["sale_id"], 1, "accepted"),
        wire.SaleResult(str(uuid.uuid4()), 2, "accepted"),
    ]
    with pytest.raises(InvalidResult, match="no such sale"):
        queue.apply_results(results)
    assert queue.status().backlog_count == 1


def test_status_reports_backlog_amount_and_age(queue: SaleQueue, clock: ManualClock) -> None:
    queue.enqueue_sale(draft(250))
    clock.wall += 90_000
    queue.enqueue_sale(draft(300))
    queue.put_state("last_error", "ledger unreachable")
    status = queue.status()
    assert (status.backlog_count, status.backlog_amount_minor) == (2, 550)
    assert status.oldest_unsynced_age_s == pytest.approx(90.0)
    assert status.last_error == "ledger unreachable"


def test_state_values_round_trip_and_queue_keys_are_reserved(queue: SaleQueue) -> None:
    queue.put_state("gallery_cursor", {"cursor": 17})
    assert queue.get_state("gallery_cursor") == {"cursor": 17}
    assert queue.get_state("missing") is None
    with pytest.raises(ValueError, match="reserved"):
        queue.put_state("queue.device_id", "other")


def test_hlc_never_goes_backwards_even_when_the_wall_clock_does(
    open_queue: OpenQueue, clock: ManualClock
) -> None:
    # GIVEN sales taken, then the kiosk restarted with its wall clock an hour behind
    queue = open_queue()
    stamps = [queue.enqueue_sale(draft(100))["hlc"] for _ in range(2)]
    queue.close()
    clock.wall -= 3_600_000
    reopened = open_queue()
    stamps += [reopened.enqueue_sale(draft(100))["hlc"] for _ in range(2)]
    # THEN every timestamp is after the one before it
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    # AND the wall time recorded is the (wrong) wall clock, kept as it was read
    assert reopened.get_record(reopened.pending_batch(4, 10**6)[3]["sale_id"]) is not None


def test_ledger_time_moves_the_hlc_forward(queue: SaleQueue, clock: ManualClock) -> None:
    queue.observe_ledger_time(clock.wall + 60_000)
    assert queue.enqueue_sale(draft(100))["hlc"].startswith(f"{clock.wall + 60_000:015d}")


def test_database_of_another_device_is_refused(open_queue: OpenQueue) -> None:
    open_queue().close()
    with pytest.raises(IdentityMismatch, match="device_id"):
        open_queue(device_id="someone-else")
    with pytest.raises(IdentityMismatch, match="public_key"):
        open_queue(signing_key=Ed25519PrivateKey.generate())


def test_queued_sales_cannot_be_updated_or_deleted_through_sql(
    queue: SaleQueue, tmp_path: Path
) -> None:
    queue.enqueue_sale(draft(100))
    with sqlite3.connect(tmp_path / "data" / "device.db") as connection:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE sales SET amount_minor = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM sales")
    assert queue.verify_chain() == []


def test_sales_synced_by_another_process_free_the_offline_limits(open_queue: OpenQueue) -> None:
    # GIVEN the kiosk's queue at its offline count limit, and the agent's own connection
    kiosk = open_queue(OfflineLimits(unsynced_count_max=2))
    agent = open_queue(OfflineLimits(unsynced_count_max=2))
    sold = [kiosk.enqueue_sale(draft(100)) for _ in range(2)]
    with pytest.raises(LimitExceeded):
        kiosk.enqueue_sale(draft(100))
    # WHEN the agent marks them synced
    agent.apply_results([wire.SaleResult(r["sale_id"], r["seq"], "accepted") for r in sold])
    # THEN the kiosk sees the room at once
    assert kiosk.enqueue_sale(draft(100))["seq"] == 3
    # AND sales the agent's connection queues count against the kiosk's limits too
    agent.enqueue_sale(draft(100))
    with pytest.raises(LimitExceeded):
        kiosk.enqueue_sale(draft(100))
