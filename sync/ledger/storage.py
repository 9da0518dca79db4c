"""Opening the ledger database, migrating it, and running retryable transactions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from base.errors import SmilepayError

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# PostgreSQL: serialization failure, deadlock. Both mean "run the transaction again".
RETRYABLE_SQLSTATES = {"40001", "40P01"}


class StorageError(SmilepayError):
    """The ledger database URL is unusable or the database cannot be reached."""


def open_engine(url: str) -> Engine:
    """An engine for `sqlite:///path` or `postgresql+psycopg://...` (plain postgresql:// too)."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StorageError(f"--db {url!r} is not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() != "postgresql":
        raise StorageError(f"--db {url!r}: only sqlite:/// and postgresql:// are supported")
    return create_engine(parsed, pool_size=8, max_overflow=8, pool_pre_ping=True)


def _sqlite_engine(url: Any) -> Engine:
    if not url.database or url.database == ":memory:":
        raise StorageError("the ledger needs a SQLite file (sqlite:///path), not an in-memory db")
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads and then writes
        # fails with SQLITE_BUSY when another writer got in between.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")  # branches of parallel work apply side by side
    except OperationalError as exc:
        raise StorageError(f"cannot reach the ledger database: {exc.orig}") from None


def is_retryable(exc: Exception) -> bool:
    """A unique-key race, deadlock, serialization failure or a busy SQLite file."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        return sqlstate in RETRYABLE_SQLSTATES or "database is locked" in str(exc.orig)
    return False


def in_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 4) -> T:
    """Run `work` in one transaction; on a race (see is_retryable) run it again from scratch.

    Re-running is what turns a concurrent duplicate insert into "duplicate": the second run
    sees the rows the winner committed."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            log.info("transaction retried", extra={"attempt": attempt, "why": str(exc.orig)[:200]})
            time.sleep(0.005 * attempt)
    raise AssertionError("unreachable")


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the current transaction: COPY on PostgreSQL (about twice as fast as
    executemany, and spoken by the PostgreSQL-protocol distributed engines too), executemany
    elsewhere. Unique keys are enforced the same way either way."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    names = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    except conn.dialect.dbapi.IntegrityError as exc:  # type: ignore[union-attr]
        # Wrapped like SQLAlchemy's own statements, so in_transaction retries the race.
        raise IntegrityError(statement, None, exc) from exc
    except conn.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
        raise DBAPIError(statement, None, exc) from exc
