"""The queue's connection to SQLite: a tiny runner interface, so the same SQL statements run on
the production path (SQLAlchemy over the stdlib `sqlite3`) and on an `apsw` connection (the
power-loss test's fault-injecting file layer lives in apsw's own SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sync.queue.errors import QueueUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

Row = tuple[Any, ...]

# Per-connection settings; journal_mode=WAL is stored in the file, synchronous is not.
PRAGMAS = (
    "PRAGMA busy_timeout=5000",  # first: switching to WAL waits for another process's lock
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)
SYNCHRONOUS_FULL = 2


class SqlRunner(Protocol):
    """Runs one SQL statement with `:name` parameters on one connection in autocommit mode
    (the queue issues BEGIN IMMEDIATE / COMMIT itself). Storage failures (disk full, read-only,
    I/O error) are raised as QueueUnavailable."""

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Execute `sql`; return its rows (empty for statements without rows)."""
        ...

    def in_transaction(self) -> bool:
        """True while a transaction is open on the connection."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


def apply_pragmas(runner: SqlRunner) -> None:
    """Set WAL + synchronous=FULL and check they took; refuse to run without them."""
    for statement in PRAGMAS:
        runner.run(statement)
    journal_mode = str(runner.run("PRAGMA journal_mode")[0][0]).lower()
    synchronous = int(runner.run("PRAGMA synchronous")[0][0])
    if journal_mode != "wal":
        raise QueueUnavailable(
            f"SQLite refused journal_mode=WAL (got {journal_mode}); not starting"
        )
    if synchronous != SYNCHRONOUS_FULL:
        raise QueueUnavailable(f"SQLite refused synchronous=FULL (got {synchronous}); not starting")


def storage_reason(exc: BaseException) -> str:
    """A one-line reason for a storage failure, for the screen and the log."""
    text = str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__
    lowered = text.lower()
    if "full" in lowered:
        return f"storage full: {text}; new sales refused, queued sales kept"
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return f"storage is read-only: {text}; new sales refused, queued sales kept"
    return f"storage error: {text}; new sales refused, queued sales kept"


class SqlAlchemyRunner:
    """A SqlRunner on one SQLAlchemy connection (AUTOCOMMIT: transactions are explicit SQL).

    Statements go to the DBAPI connection SQLAlchemy manages: SQLAlchemy's per-statement result
    machinery cost about 25 µs a statement, which halved durable sales per second."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._dbapi: Any = connection.connection.dbapi_connection

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Execute `sql` on sqlite3; storage errors become QueueUnavailable."""
        try:
            cursor = self._dbapi.execute(sql, params or {})
            return cursor.fetchall() if cursor.description else []
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise QueueUnavailable(storage_reason(exc)) from exc

    def in_transaction(self) -> bool:
        """Asks sqlite3 itself (SQLAlchemy's own bookkeeping is off in AUTOCOMMIT)."""
        return bool(self._dbapi.in_transaction)

    def close(self) -> None:
        """Return the connection to its engine and close the engine's pool."""
        engine = self._connection.engine
        self._connection.close()
        engine.dispose()


def create_sqlite_engine(path: Path) -> Engine:
    """An SQLAlchemy engine on `path` in AUTOCOMMIT mode, every connection with PRAGMAS."""
    from sqlalchemy import create_engine, event

    engine = create_engine(
        f"sqlite:///{path}",
        isolation_level="AUTOCOMMIT",
        connect_args={"check_same_thread": False},  # the queue serialises access with a lock
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in PRAGMAS:
                cursor.execute(statement)
        finally:
            cursor.close()

    return engine


def open_migrated(path: Path) -> SqlAlchemyRunner:
    """A runner on `path` with verified pragmas, after running the migrations up to head."""
    from base.private_files import private_db_file
    from sync.queue.migrate import upgrade

    private_db_file(path)  # sales and the used-nonce store: 0600 in a 0700 directory
    engine = create_sqlite_engine(path)
    try:
        with engine.connect() as connection:
            apply_pragmas(SqlAlchemyRunner(connection))
            upgrade(connection)
        return SqlAlchemyRunner(engine.connect())
    except QueueUnavailable:
        engine.dispose()
        raise
    except Exception as exc:
        engine.dispose()
        raise QueueUnavailable(f"cannot open {path}: {exc}") from exc
