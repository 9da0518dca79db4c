"""The kiosk's enrolment outbox: one row per enrolment still to send to the ledger.

It lives in the gallery's own SQLite file and is written by `record_enrolment` inside the
transaction that stores the template (see `models.gallery.Gallery.enroll(within=...)`), so a
template never exists locally without its outbox row, nor the row without the template. The row
holds what the ledger needs besides the template (name, consent, the step-up salt and hash); the
template itself is read from the gallery when the row is sent, so a customer deleted before the
push is never uploaded. A sent row is deleted with `secure_delete` (it held the step-up hash).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrolment_outbox (
    id INTEGER PRIMARY KEY, enrolment_id TEXT NOT NULL UNIQUE, customer_id TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL, refused_reason TEXT)
"""


@dataclass(frozen=True)
class OutboxEntry:
    """One enrolment to send: its id (the ledger's idempotency key), customer and body."""

    enrolment_id: str
    customer_id: str
    body: dict[str, Any]


def record_enrolment(
    conn: sqlite3.Connection,
    customer_id: str,
    name: str,
    consent: dict[str, str],
    step_up: tuple[str, str] | None = None,
    created_at: str = "",
) -> str:
    """Add an enrolment row in the caller's open transaction; returns its enrolment id."""
    conn.execute(SCHEMA)  # one statement: runs inside the caller's transaction
    enrolment_id = uuid.uuid4().hex
    body: dict[str, Any] = {"name": name, "consent": consent}
    if step_up is not None:
        body["step_up_salt"], body["step_up_hash"] = step_up
    conn.execute(
        "INSERT INTO enrolment_outbox (enrolment_id, customer_id, body, created_at)"
        " VALUES (?, ?, ?, ?)",
        (enrolment_id, customer_id, json.dumps(body), created_at or consent["accepted_at"]),
    )
    return enrolment_id


def connect_gallery_file(gallery_path: Path) -> sqlite3.Connection:
    """A connection to the gallery's SQLite file (created 0600 if absent), as the outboxes in it
    need it: autocommit, WAL, fsync on commit, and deleted rows overwritten."""
    gallery_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(gallery_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(gallery_path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the outbox table if absent."""
    conn.execute(SCHEMA)


class EnrolmentOutbox:
    """The sync agent's view of the outbox: pending rows, and marking them sent or refused."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    @classmethod
    def open(cls, gallery_path: Path) -> EnrolmentOutbox:
        """Open the outbox in the gallery file (created 0600 if absent)."""
        conn = connect_gallery_file(gallery_path)
        ensure_schema(conn)
        return cls(conn)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def pending(self, limit: int = 100) -> list[OutboxEntry]:
        """The oldest rows not yet sent and not refused."""
        rows = self._db.execute(
            "SELECT enrolment_id, customer_id, body FROM enrolment_outbox"
            " WHERE refused_reason IS NULL ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [OutboxEntry(row[0], row[1], json.loads(row[2])) for row in rows]

    def sent(self, enrolment_id: str) -> None:
        """The ledger has it: delete the row, and the WAL's copies of it."""
        self._db.execute("DELETE FROM enrolment_outbox WHERE enrolment_id = ?", (enrolment_id,))
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def refused(self, enrolment_id: str, reason: str) -> None:
        """The ledger will never take it: keep it for the operator, drop its step-up hash."""
        row = self._db.execute(
            "SELECT body FROM enrolment_outbox WHERE enrolment_id = ?", (enrolment_id,)
        ).fetchone()
        if row is None:
            return
        body = {k: v for k, v in json.loads(row[0]).items() if not k.startswith("step_up")}
        self._db.execute(
            "UPDATE enrolment_outbox SET body = ?, refused_reason = ? WHERE enrolment_id = ?",
            (json.dumps(body), reason[:300], enrolment_id),
        )

    def counts(self) -> dict[str, int]:
        """How many rows wait to be sent, and how many the ledger refused."""
        pending, refused = self._db.execute(
            "SELECT COUNT(*) - COUNT(refused_reason), COUNT(refused_reason) FROM enrolment_outbox"
        ).fetchone()
        return {"pending": int(pending), "refused": int(refused)}
