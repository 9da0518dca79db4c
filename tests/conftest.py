"""Shared fixtures: the shared test data folder, read in place (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """The shared test data folder: $SMILEPAY_TEST_DATA, default ../shared/data."""
    return Path(os.environ.get("SMILEPAY_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips when absent, fails when CI requires it."""
    path = shared_data_dir()
    if not path.is_dir():
        message = f"shared test data not found at {path} (set SMILEPAY_TEST_DATA)"
        if os.environ.get("SMILEPAY_REQUIRE_TEST_DATA"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A PostgreSQL URL the tests may use to create and drop databases of their own."""
    return os.environ.get(
        "SMILEPAY_TEST_PG_URL",
        "postgresql+psycopg://smilepay_test:smilepay_test@127.0.0.1:5432/postgres",
    )
