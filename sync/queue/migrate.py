"""Run the device database's Alembic migrations at start-up, in one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions (a test checks it against Alembic's own head).
# Comparing with it first spares the kiosk importing Alembic at every start when nothing changes.
HEAD_REVISION = "0003"


def _alembic_config(connection: Connection) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this package."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for a new file)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def stamped_revision(connection: Connection) -> str | None:
    """The revision in `alembic_version`, read with plain SQL (None for a new file)."""
    has_table = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchall()
    if not has_table:
        return None
    rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    return str(rows[0][0]) if rows else None


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade to `revision` inside one BEGIN IMMEDIATE transaction: all of it or none of it.

    `connection` must be in AUTOCOMMIT mode (see db.create_sqlite_engine)."""
    if revision == "head" and stamped_revision(connection) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = _alembic_config(connection)
    assert isinstance(config, Config)
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        command.upgrade(config, revision)
        connection.exec_driver_sql("COMMIT")
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
