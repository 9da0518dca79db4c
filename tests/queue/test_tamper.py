"""Tampering with queued rows (bypassing the append-only triggers) is caught by verify_chain."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.queue.sale_queue import SaleQueue
from tests.queue.conftest import draft

Tamper = Callable[[sqlite3.Connection], None]


def edit_amount(db: sqlite3.Connection) -> None:
    record = json.loads(db.execute("SELECT record FROM sales WHERE seq = 3").fetchone()[0])
    record["amount_minor"] = 1
    db.execute("UPDATE sales SET record = ? WHERE seq = 3", (json.dumps(record),))


def edit_amount_column(db: sqlite3.Connection) -> None:
    db.execute("UPDATE sales SET amount_minor = 1 WHERE seq = 3")


def delete_middle(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM outbox WHERE seq = 3")
    db.execute("DELETE FROM sales WHERE seq = 3")


def delete_tail(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM outbox WHERE seq = 5")
    db.execute("DELETE FROM sales WHERE seq = 5")


def swap_records(db: sqlite3.Connection) -> None:
    two, three = (
        db.execute(f"SELECT record, hash FROM sales WHERE seq = {s}").fetchone() for s in (2, 3)
    )
    db.execute("UPDATE sales SET record = ?, hash = ? WHERE seq = 2", three)
    db.execute("UPDATE sales SET record = ?, hash = ? WHERE seq = 3", two)


def renumber_reordered(db: sqlite3.Connection) -> None:
    # Reorder by renumbering rows 2 and 3 (records untouched).
    db.execute("PRAGMA foreign_keys = OFF")
    for old, new in ((2, 102), (3, 2), (102, 3)):
        db.execute("UPDATE sales SET seq = ? WHERE seq = ?", (new, old))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (edit_amount, "seq 3: content does not match its stored hash"),
        (edit_amount_column, "seq 3: indexed columns differ"),
        (delete_middle, "seq 3..3 missing"),
        (delete_tail, "chain head is seq 5 but the last sale is seq 4"),
        (swap_records, "seq 2: row holds the record of seq 3"),
        (renumber_reordered, "seq 3: prev_hash does not match"),
    ],
    ids=["edit-record", "edit-column", "delete-middle", "delete-tail", "swap", "reorder"],
)
def test_tampered_rows_are_reported_by_verify_chain(
    queue: SaleQueue, tmp_path: Path, tamper: Tamper, expected: str
) -> None:
    # GIVEN five queued sales, verified intact
    for index in range(5):
        queue.enqueue_sale(draft(100 + index))
    assert queue.verify_chain() == []
    # WHEN someone with the file drops the triggers and edits, deletes or reorders rows
    with sqlite3.connect(tmp_path / "data" / "device.db") as db:
        db.execute("DROP TRIGGER sales_no_update")
        db.execute("DROP TRIGGER sales_no_delete")
        tamper(db)
    # THEN verify_chain names the damage
    problems = queue.verify_chain()
    assert any(expected in problem for problem in problems), problems


def test_a_forged_signature_is_reported(queue: SaleQueue, tmp_path: Path) -> None:
    queue.enqueue_sale(draft(100))
    with sqlite3.connect(tmp_path / "data" / "device.db") as db:
        db.execute("DROP TRIGGER sales_no_update")
        record = json.loads(db.execute("SELECT record FROM sales WHERE seq = 1").fetchone()[0])
        record["signature"] = base64.b64encode(bytes(64)).decode()
        db.execute("UPDATE sales SET record = ? WHERE seq = 1", (json.dumps(record),))
    assert any("signature does not verify" in p for p in queue.verify_chain())
