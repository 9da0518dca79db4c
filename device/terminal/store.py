"""The terminal's own durable memory (`terminal.db` in the data directory): every POS request
by (POS, reference), so a retry gets the same answer and never starts a second sale, and the
POS nonces already seen."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_NAME = "terminal.db"
NONCE_KEEP_S = 2 * 300
SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    pos_id TEXT NOT NULL,
    kind TEXT NOT NULL,              -- payment | refund
    reference TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    subject_id TEXT NOT NULL,        -- the sale id (payment) or refund id (refund)
    status TEXT NOT NULL,            -- in_progress, then the final status
    outcome TEXT NOT NULL,           -- the JSON answer
    created_s REAL NOT NULL,
    PRIMARY KEY (pos_id, kind, reference)
);
CREATE TABLE IF NOT EXISTS nonces (
    pos_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_s REAL NOT NULL,
    PRIMARY KEY (pos_id, nonce)
);
"""


@dataclass(frozen=True)
class StoredRequest:
    """One POS request and where it stands."""

    pos_id: str
    kind: str
    reference: str
    request_hash: str
    subject_id: str
    status: str
    outcome: dict[str, Any]


class TerminalStore:
    """SQLite, WAL, synchronous=FULL; one lock."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(SCHEMA)

    @classmethod
    def open(cls, data_dir: Path) -> TerminalStore:
        """Open (or create) `<data_dir>/terminal.db`."""
        return cls(data_dir / DB_NAME)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def get(self, pos_id: str, kind: str, reference: str) -> StoredRequest | None:
        """The request with this reference, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM requests WHERE pos_id = ? AND kind = ? AND reference = ?",
                (pos_id, kind, reference),
            ).fetchone()
        return None if row is None else _stored(row)

    def begin(self, request: StoredRequest) -> bool:
        """Record a new in-progress request; False if the reference is already taken."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        request.pos_id,
                        request.kind,
                        request.reference,
                        request.request_hash,
                        request.subject_id,
                        request.status,
                        json.dumps(request.outcome),
                        time.time(),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def finish(self, pos_id: str, kind: str, reference: str, outcome: dict[str, Any]) -> None:
        """Store the final outcome (only once: a final request is never changed)."""
        with self._lock:
            self._db.execute(
                "UPDATE requests SET status = ?, outcome = ? WHERE pos_id = ? AND kind = ? "
                "AND reference = ? AND status = 'in_progress'",
                (outcome["status"], json.dumps(outcome), pos_id, kind, reference),
            )

    def unfinished(self) -> list[StoredRequest]:
        """Requests left in progress (by a kiosk that stopped in the middle)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM requests WHERE status = 'in_progress'"
            ).fetchall()
        return [_stored(row) for row in rows]

    def spend_nonce(self, pos_id: str, nonce: str, now: float) -> bool:
        """Remember a nonce; False if it was seen before (a replay)."""
        with self._lock:
            try:
                self._db.execute("INSERT INTO nonces VALUES (?, ?, ?)", (pos_id, nonce, now))
            except sqlite3.IntegrityError:
                return False
            self._db.execute("DELETE FROM nonces WHERE seen_s < ?", (now - NONCE_KEEP_S,))
        return True


def _stored(row: tuple[Any, ...]) -> StoredRequest:
    pos_id, kind, reference, request_hash, subject_id, status, outcome, _ = row
    return StoredRequest(
        pos_id, kind, reference, request_hash, subject_id, status, json.loads(outcome)
    )
