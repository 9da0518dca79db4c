"""The kiosk's deletion outbox: a customer's request to delete their face data, made while the
ledger was unreachable, waiting to be sent.

A customer who deletes their face data at a kiosk expects it gone from that kiosk at once. When
the ledger cannot be asked, the kiosk checks the proof it can check by itself (the customer's
token: signature and expiry, against the ledger's token-issuer public key), records the request
here, and only then removes its own copy; the sync agent sends the request (with the time the
proof was checked, so an expired-by-then token still counts) before its next gallery pull, and
the ledger has every other holder delete it. The row is deleted with `secure_delete` once the
ledger answered (it holds a customer token). It lives in the gallery's SQLite file, beside the
enrolment outbox.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.queue.enrolment_outbox import connect_gallery_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS deletion_outbox (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, customer_id TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL, refused_reason TEXT)
"""


@dataclass(frozen=True)
class DeletionRequest:
    """One queued deletion: its id, the customer, and the body for the ledger."""

    request_id: str
    customer_id: str
    body: dict[str, Any]


class DeletionOutbox:
    """Queued deletion requests: add one, list the pending, mark one sent or refused."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    @classmethod
    def open(cls, gallery_path: Path) -> DeletionOutbox:
        """Open the outbox in the gallery file (created 0600 if absent)."""
        conn = connect_gallery_file(gallery_path)
        conn.execute(SCHEMA)
        return cls(conn)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def add(self, customer_id: str, token: str, proven_at_ms: int, created_at: str) -> str:
        """Queue a deletion proven by `token` (checked here at `proven_at_ms`); returns its id."""
        request_id = uuid.uuid4().hex
        body = {"customer_id": customer_id, "token": token, "proven_at_ms": proven_at_ms}
        self._db.execute(
            "INSERT INTO deletion_outbox (request_id, customer_id, body, created_at)"
            " VALUES (?, ?, ?, ?)",
            (request_id, customer_id, json.dumps(body), created_at),
        )
        return request_id

    def pending(self, limit: int = 100) -> list[DeletionRequest]:
        """The oldest requests not yet sent and not refused."""
        rows = self._db.execute(
            "SELECT request_id, customer_id, body FROM deletion_outbox"
            " WHERE refused_reason IS NULL ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [DeletionRequest(row[0], row[1], json.loads(row[2])) for row in rows]

    def sent(self, request_id: str) -> None:
        """The ledger has it: delete the row (it held a token), and the WAL's copies of it."""
        self._db.execute("DELETE FROM deletion_outbox WHERE request_id = ?", (request_id,))
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def refused(self, request_id: str, reason: str) -> None:
        """The ledger will not take it: keep the customer id and reason, drop the token."""
        self._db.execute(
            "UPDATE deletion_outbox SET body = json_remove(body, '$.token'), refused_reason = ?"
            " WHERE request_id = ?",
            (reason[:300], request_id),
        )

    def counts(self) -> dict[str, int]:
        """How many requests wait to be sent, and how many the ledger refused."""
        pending, refused = self._db.execute(
            "SELECT COUNT(*) - COUNT(refused_reason), COUNT(refused_reason) FROM deletion_outbox"
        ).fetchone()
        return {"pending": int(pending), "refused": int(refused)}
