"""The device's refund queue: signed, chained, durable, idempotent, within offline limits."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import refund_record as rr
from base.limits import OfflineLimits
from sync.queue.errors import LimitExceeded, SaleConflict
from sync.queue.refunds import RefundDraft, RefundQueue

KEY = Ed25519PrivateKey.generate()


def open_queue(folder: Path, **limits: int) -> RefundQueue:
    return RefundQueue.open(folder, "kiosk-1", KEY, OfflineLimits(**limits))


def draft(amount: int = 100, reference: str = "r-1", refund_id: str = "") -> RefundDraft:
    return RefundDraft("sale-1", amount, "EUR", reference, "", refund_id)


def test_refunds_are_numbered_chained_and_signed(tmp_path: Path) -> None:
    # GIVEN an empty refund queue; WHEN three refunds are recorded
    queue = open_queue(tmp_path)
    stored = [queue.enqueue(draft(reference=f"r-{n}"), offline=False) for n in range(3)]
    # THEN they are seq 1..3, each linked to the one before, each signed by the device key
    assert [s.seq for s in stored] == [1, 2, 3]
    assert stored[0].record["prev_hash"] == rr.GENESIS_HASH
    for before, after in itertools.pairwise(stored):
        assert after.record["prev_hash"] == rr.refund_hash(before.record)
    assert all(rr.verify_refund_signature(s.record, KEY.public_key()) for s in stored)
    queue.close()


def test_a_refund_survives_reopening_and_a_retry_returns_the_same_record(tmp_path: Path) -> None:
    # GIVEN a recorded refund
    queue = open_queue(tmp_path)
    first = queue.enqueue(draft(refund_id="refund-a"), offline=False)
    queue.close()
    # WHEN the queue is reopened and the same refund is recorded again
    reopened = open_queue(tmp_path)
    again = reopened.enqueue(draft(refund_id="refund-a"), offline=False)
    # THEN it is the same record, still pending, and nothing new was numbered
    assert again == first and [r.refund_id for r in reopened.pending()] == ["refund-a"]
    # AND the same id with other content is a conflict
    with pytest.raises(SaleConflict):
        reopened.enqueue(draft(amount=999, refund_id="refund-a"), offline=False)
    reopened.close()


def test_the_ledgers_answer_settles_a_refund_and_refused_ones_do_not_count(tmp_path: Path) -> None:
    queue = open_queue(tmp_path)
    booked = queue.enqueue(draft(300, "r-1"), offline=False)
    refused = queue.enqueue(draft(500, "r-2"), offline=False)
    # WHEN the ledger books one and refuses the other
    queue.apply_result(booked.refund_id, "refunded", None)
    queue.apply_result(refused.refund_id, "refused", "only 200 remains")
    # THEN nothing is pending and only the booked one counts as refunded
    assert queue.pending() == [] and queue.refunded_minor("sale-1") == 300
    assert queue.get(refused.refund_id).reason == "only 200 remains"  # type: ignore[union-attr]
    # AND a final answer is never changed
    queue.apply_result(refused.refund_id, "refunded", None)
    assert queue.get(refused.refund_id).state == "refused"  # type: ignore[union-attr]
    queue.close()


def test_offline_refunds_must_fit_the_offline_limits(tmp_path: Path) -> None:
    # GIVEN offline limits of 500 a refund and 800 unsynced in all
    queue = open_queue(tmp_path, per_sale_max=500, unsynced_total_max=800)
    # WHEN a refund over the single limit is asked offline THEN it is refused, nothing recorded
    with pytest.raises(LimitExceeded):
        queue.enqueue(draft(600, "r-1"), offline=True)
    queue.enqueue(draft(500, "r-2"), offline=True)
    # WHEN the next one would pass the total THEN it is refused too
    with pytest.raises(LimitExceeded):
        queue.enqueue(draft(400, "r-3"), offline=True)
    # AND online (the ledger answers) the limits do not apply
    queue.enqueue(draft(600, "r-4"), offline=False)
    assert [r.seq for r in queue.pending()] == [1, 2]
    queue.close()
