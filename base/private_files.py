"""Data files nobody else on the machine may read: files 0600 in a 0700 directory.

SQLite creates a database's -wal and -shm files with the database file's own mode, so making
the database file 0600 before SQLite first opens it keeps all three private."""

from __future__ import annotations

import os
from pathlib import Path

SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_db_file(path: Path) -> Path:
    """Make a SQLite database file (created empty if absent) and its companions 0600, in a
    0700 directory."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in SUFFIXES:
        companion = path.with_name(path.name + suffix)
        if companion.exists() and companion.stat().st_mode & 0o077:
            companion.chmod(0o600)
    return path
