"""The device's durable refund queue: every refund numbered, chained, signed and fsynced before
`enqueue` returns, then sent to the ledger (exactly once: the ledger answers a refund it already
booked with the same answer, and a refund is marked done only on the ledger's answer).

Refunds live in their own file (`refunds.db` beside `device.db`) with their own chain
(base/refund_record.py), so the sales' chain and schema are untouched.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import refund_record as rr
from base.limits import OfflineLimits
from sync.queue.clock import DeviceClock, SystemClock, iso_utc
from sync.queue.errors import LimitExceeded, QueueUnavailable, SaleConflict

DB_NAME = "refunds.db"
FINAL_STATES = frozenset({"refunded", "refused"})
SCHEMA = """
CREATE TABLE IF NOT EXISTS refunds (
    seq INTEGER PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    sale_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    record TEXT NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL,          -- pending | refunded | refused
    reason TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refunds_sale ON refunds (sale_id);
CREATE INDEX IF NOT EXISTS refunds_state ON refunds (state, seq);
"""


@dataclass(frozen=True)
class RefundDraft:
    """A refund as the kiosk asks for it, before the queue numbers, chains and signs it."""

    sale_id: str
    amount_minor: int
    currency: str
    reference: str
    reason: str = ""
    refund_id: str = ""

    def with_id(self) -> RefundDraft:
        """This draft with a fresh refund id if it has none."""
        if self.refund_id:
            return self
        return RefundDraft(**{**self.__dict__, "refund_id": str(uuid.uuid4())})


@dataclass(frozen=True)
class StoredRefund:
    """One refund as stored: the signed record, and where it stands with the ledger."""

    seq: int
    refund_id: str
    sale_id: str
    amount_minor: int
    record: dict[str, Any]
    state: str
    reason: str | None


class RefundQueue:
    """Refunds on one SQLite file; thread-safe (one lock)."""

    def __init__(
        self,
        path: Path,
        device_id: str,
        key: Ed25519PrivateKey,
        limits: OfflineLimits | Callable[[], OfflineLimits],
        clock: DeviceClock | None = None,
    ) -> None:
        self.path = path
        self.device_id = device_id
        self.limits = limits
        self._key = key
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"cannot open {path}: {exc}") from exc

    @classmethod
    def open(
        cls,
        data_dir: Path,
        device_id: str,
        key: Ed25519PrivateKey,
        limits: OfflineLimits | Callable[[], OfflineLimits],
    ) -> RefundQueue:
        """Open (or create) `<data_dir>/refunds.db`. `limits` may be a function, so limits the
        ledger sends later (kept by the sale queue) apply at once."""
        return cls(data_dir / DB_NAME, device_id, key, limits)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    # --- recording -----------------------------------------------------------------------------

    def enqueue(self, draft: RefundDraft, offline: bool) -> StoredRefund:
        """Record the refund durably (one transaction, fsynced) and return it. The same refund
        id with the same content returns the stored refund; other content raises SaleConflict.
        An `offline` refund (the ledger did not answer) must fit the offline limits."""
        draft = draft.with_id()
        with self._lock, self._write():
            existing = self.get(draft.refund_id)
            if existing is not None:
                return _same_or_conflict(existing, draft)
            if offline:
                self._check_limits(draft.amount_minor)
            return self._append(draft)

    def _append(self, draft: RefundDraft) -> StoredRefund:
        seq, prev_hash = self._head()
        body = {
            "kind": rr.REFUND_KIND,
            "refund_id": draft.refund_id,
            "device_id": self.device_id,
            "seq": seq + 1,
            "sale_id": draft.sale_id,
            "amount_minor": draft.amount_minor,
            "currency": draft.currency,
            "reference": draft.reference,
            "reason": draft.reason,
            "wall_time": iso_utc(self._clock.wall_ms()),
            "prev_hash": prev_hash,
        }
        record = rr.sign_refund(body, self._key)
        self._db.execute(
            "INSERT INTO refunds VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, ?)",
            (
                seq + 1,
                draft.refund_id,
                draft.sale_id,
                draft.amount_minor,
                json.dumps(record, sort_keys=True),
                rr.refund_hash(record),
                self._clock.wall_ms(),
            ),
        )
        return StoredRefund(
            seq + 1, draft.refund_id, draft.sale_id, draft.amount_minor, record, "pending", None
        )

    def _head(self) -> tuple[int, str]:
        row = self._db.execute("SELECT seq, hash FROM refunds ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, rr.GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    def _check_limits(self, amount_minor: int) -> None:
        limits = self.limits() if callable(self.limits) else self.limits
        count, total = self._db.execute(
            "SELECT count(*), coalesce(sum(amount_minor), 0) FROM refunds WHERE state = 'pending'"
        ).fetchone()
        if amount_minor > limits.per_sale_max:
            raise LimitExceeded(f"an offline refund may be at most {limits.per_sale_max}")
        if total + amount_minor > limits.unsynced_total_max:
            raise LimitExceeded("offline refunds have reached their total limit; try when online")
        if count + 1 > limits.unsynced_count_max:
            raise LimitExceeded("too many refunds waiting to sync; try when online")

    # --- reading -------------------------------------------------------------------------------

    def get(self, refund_id: str) -> StoredRefund | None:
        """The refund with this id, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM refunds WHERE refund_id = ?", (refund_id,)
            ).fetchone()
        return None if row is None else _stored(row)

    def for_sale(self, sale_id: str) -> list[StoredRefund]:
        """Every refund of one sale, in seq order."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM refunds WHERE sale_id = ? ORDER BY seq", (sale_id,)
            ).fetchall()
        return [_stored(row) for row in rows]

    def refunded_minor(self, sale_id: str) -> int:
        """What this device has given back (or is giving back) of one sale: every refund the
        ledger has not refused."""
        return sum(r.amount_minor for r in self.for_sale(sale_id) if r.state != "refused")

    def pending(self, limit: int = 100) -> list[StoredRefund]:
        """Refunds the ledger has not answered yet, oldest first (consecutive from the first)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM refunds WHERE state = 'pending' ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [_stored(row) for row in rows]

    def recent(self, limit: int = 50) -> list[StoredRefund]:
        """The newest refunds first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM refunds ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_stored(row) for row in rows]

    # --- the ledger's answers ------------------------------------------------------------------

    def apply_result(self, refund_id: str, status: str, reason: str | None) -> None:
        """Mark a refund with the ledger's final answer ("refunded" or "refused")."""
        if status not in FINAL_STATES:
            raise ValueError(f"not a final refund status: {status!r}")
        with self._lock, self._write():
            self._db.execute(
                "UPDATE refunds SET state = ?, reason = ? "
                "WHERE refund_id = ? AND state = 'pending'",
                (status, reason, refund_id),
            )

    def _write(self) -> _Transaction:
        return _Transaction(self._db)


_COLUMNS = "seq, refund_id, sale_id, amount_minor, record, state, reason"


def _stored(row: tuple[Any, ...]) -> StoredRefund:
    seq, refund_id, sale_id, amount, record, state, reason = row
    return StoredRefund(
        int(seq), refund_id, sale_id, int(amount), json.loads(record), state, reason
    )


def _same_or_conflict(existing: StoredRefund, draft: RefundDraft) -> StoredRefund:
    record = existing.record
    same = (record["sale_id"], record["amount_minor"], record["currency"], record["reference"]) == (
        draft.sale_id,
        draft.amount_minor,
        draft.currency,
        draft.reference,
    )
    if not same:
        raise SaleConflict(f"refund {draft.refund_id} is already recorded with other content")
    return existing


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (nothing half-written)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"refunds: {exc}") from exc

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as error:
                self._db.execute("ROLLBACK")
                raise QueueUnavailable(f"refunds: {error}") from error
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
