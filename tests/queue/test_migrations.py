"""Migrations run at start-up on a database holding unsynced sales, and never touch them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from sync.queue import migrate
from sync.queue.db import create_sqlite_engine
from sync.queue.migrate import HEAD_REVISION
from sync.queue.sale_queue import SaleQueue
from tests.queue.conftest import DEVICE_ID, ROOMY, draft


def write_sales_at_revision_0001(path: Path, key: Ed25519PrivateKey, count: int) -> None:
    """What a device on the first schema left behind: `count` unsynced signed sales."""
    engine = create_sqlite_engine(path)
    with engine.connect() as connection:
        migrate.upgrade(connection, "0001")
    engine.dispose()
    prev_hash = wire.GENESIS_HASH
    with sqlite3.connect(path) as db:
        for seq in range(1, count + 1):
            body = {
                "sale_id": f"00000000-0000-4000-8000-{seq:012d}",
                "device_id": DEVICE_ID,
                "seq": seq,
                "amount_minor": 100 * seq,
                "currency": "EUR",
                "method": "face",
                "customer_id": "cust",
                "evidence": {"score": "0.3"},
                "items": [],
                "offline": True,
                "auth_id": None,
                "hlc": f"{1_700_000_000_000 + seq:015d}-000000",
                "wall_time": "2023-11-14T22:13:20.000Z",
                "monotonic_ns": seq,
                "boot_id": "old",
                "prev_hash": prev_hash,
            }
            record = wire.sign_sale(body, key)
            prev_hash = wire.sale_hash(record)
            db.execute(
                "INSERT INTO sales VALUES (?, ?, ?, ?, ?, 'EUR', 'cust', 1, ?)",
                (
                    seq,
                    body["sale_id"],
                    json.dumps(record, sort_keys=True),
                    prev_hash,
                    100 * seq,
                    1_700_000_000.0 + seq,
                ),
            )
            db.execute("INSERT INTO outbox VALUES (?, 'pending', 0)", (seq,))
        db.execute(
            "UPDATE chain_head SET last_seq = ?, last_hash = ?, hlc = ?",
            (count, prev_hash, body["hlc"]),
        )


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM sales ORDER BY seq").fetchall()


def test_upgrade_keeps_every_unsynced_sale_unchanged(tmp_path: Path) -> None:
    # GIVEN a database at the first revision holding 20 unsynced sales
    key = Ed25519PrivateKey.generate()
    data = tmp_path / "data"
    data.mkdir()
    write_sales_at_revision_0001(data / "device.db", key, 20)
    before = rows(data / "device.db")
    # WHEN the queue opens it (migrating to the newest revision)
    queue = SaleQueue.open(data, device_id=DEVICE_ID, signing_key=key, limits=ROOMY)
    # THEN it is at head, every sale row is byte-for-byte as it was, and all are still pending
    with queue:
        assert rows(data / "device.db") == before
        assert queue.verify_chain() == []
        assert [r["seq"] for r in queue.pending_batch(100, 10**7)] == list(range(1, 21))
        # AND the next sale continues the old chain
        assert queue.enqueue_sale(draft(100))["seq"] == 21
        assert queue.verify_chain() == []
    with sqlite3.connect(data / "device.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]


def test_declared_head_revision_is_alembics_head() -> None:
    # The start-up fast path compares with HEAD_REVISION: it must name the newest script.
    assert migrate.head_revision() == migrate.HEAD_REVISION


def test_migrations_load_from_the_installed_package_path() -> None:
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert any((migrate.MIGRATIONS_DIR / "versions").glob("0001_*.py"))
