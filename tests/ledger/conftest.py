"""Ledger fixtures: every test module runs on SQLite and on PostgreSQL (a fresh database with a
random name per module, dropped afterwards), against a real uvicorn server on an ephemeral port."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from sync.ledger.app import Ledger, create_app
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.server import RunningServer, serve_in_thread

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, pg_admin_url: str) -> Iterator[str]:
    """A URL to an empty ledger database of this module's own."""
    if request.param == "sqlite":
        yield from _sqlite_database()
        return
    yield from _postgres_database(pg_admin_url)


# Test databases skip the wait for the disk (fsync here costs ~7 ms per commit and the tests
# commit thousands of times): tmpfs for SQLite, synchronous_commit=off for the PostgreSQL test
# database. These tests check what the ledger decides, not the disk's durability; the service
# itself always runs with SQLite synchronous=FULL and PostgreSQL's own settings.
FAST_DIR = Path("/dev/shm")


def _sqlite_database() -> Iterator[str]:
    base = FAST_DIR if FAST_DIR.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="smilepay-ledger-", dir=base) as folder:
        yield f"sqlite:///{Path(folder) / 'ledger.db'}"


def _postgres_database(admin_url: str) -> Iterator[str]:
    name = f"smilepay_ledger_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    except Exception as exc:  # no server: say so instead of erroring every test
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {exc}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class LedgerUnderTest:
    """A running ledger: its URL, its service object and database."""

    url: str
    ledger: Ledger
    db_url: str
    server: RunningServer

    @property
    def engine(self) -> Engine:
        return self.ledger.engine

    def kiosk(self, merchant_id: str = "merchant-1") -> Kiosk:
        """A new registered kiosk with a fresh key."""
        kiosk = Kiosk(self.url, merchant_id=merchant_id)
        assert kiosk.register().status_code == 201
        return kiosk

    def operator(self) -> Operator:
        return Operator(self.url)


@pytest.fixture(scope="module")
def ledger(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerUnderTest]:
    """The ledger app on this module's database, served by uvicorn on a free port, with a
    template key file outside the database."""
    key_file = tmp_path_factory.mktemp("ledger-keys") / "template.key"
    app = create_app(db_url, template_key_file=key_file)
    server = serve_in_thread(app)
    yield LedgerUnderTest(server.url, app.state.ledger, db_url, server)
    server.stop()
    app.state.ledger.engine.dispose()


@pytest.fixture
def kiosk(ledger: LedgerUnderTest) -> Iterator[Kiosk]:
    """A registered kiosk of its own for one test."""
    kiosk = ledger.kiosk()
    yield kiosk
    kiosk.close()


@pytest.fixture
def operator(ledger: LedgerUnderTest) -> Iterator[Operator]:
    """Operator calls on the running ledger."""
    operator = ledger.operator()
    yield operator
    operator.close()


def sqlite_path(db_url: str) -> Path:
    """The file behind a sqlite:/// URL."""
    return Path(make_url(db_url).database or "")
