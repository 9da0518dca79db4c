"""A power-loss simulator under SQLite, the way SQLite's own crash tests do it.

`VolatileDisk` is an apsw VFS whose files live in memory in two versions: what the process sees
(the page cache) and what is durable (the platter). A write changes only the first; `xSync`
copies it to the second. At a "power cut" (after a chosen number of writes and syncs) every
later call fails, and `durable_image` keeps the durable content plus a random subset of the
writes that were never synced (the OS may have written back any of them, in any order).

apsw links its own SQLite, so the queue's SQL runs here on an apsw connection (`ApswRunner`),
the same statements the production sqlite3 connection runs. A Python VFS has no shared-memory
methods, so the connection uses `locking_mode=EXCLUSIVE` (WAL index in heap memory); that
changes locking, not what SQLite writes or when it syncs.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

from sync.queue.db import Row, storage_reason
from sync.queue.errors import QueueUnavailable

ROOT = "/volatile"


class PowerCut(Exception):
    """The power went out: every file operation from now on fails."""


@dataclass
class VolatileFileState:
    """One file: its durable bytes (None: never synced, may not exist after a cut), what the
    process sees, and the writes/truncates since the last sync."""

    durable: bytearray | None
    current: bytearray
    unsynced: list[tuple[str, int, bytes]] = field(default_factory=list)


def _write(data: bytearray, offset: int, chunk: bytes) -> None:
    if len(data) < offset:
        data.extend(bytes(offset - len(data)))
    data[offset : offset + len(chunk)] = chunk


class VolatileFile:
    """A file of the volatile disk, as SQLite's VFS file methods."""

    def __init__(self, disk: VolatileDisk, name: str) -> None:
        self.disk = disk
        self.name = name

    @property
    def state(self) -> VolatileFileState:
        return self.disk.files[self.name]

    def xRead(self, amount: int, offset: int) -> bytes:
        self.disk.tick(counts=False)
        # A short read: apsw tells SQLite, which zero-fills the rest.
        return bytes(self.state.current[offset : offset + amount])

    def xWrite(self, data: bytes, offset: int) -> None:
        self.disk.tick()
        _write(self.state.current, offset, bytes(data))
        self.state.unsynced.append(("write", offset, bytes(data)))

    def xTruncate(self, size: int) -> None:
        self.disk.tick()
        del self.state.current[size:]
        self.state.unsynced.append(("truncate", size, b""))

    def xSync(self, flags: int) -> None:
        self.disk.tick()
        self.disk.syncs += 1
        self.state.durable = bytearray(self.state.current)
        self.state.unsynced.clear()

    def xFileSize(self) -> int:
        return len(self.state.current)

    def xLock(self, level: int) -> None:
        pass

    def xUnlock(self, level: int) -> None:
        pass

    def xCheckReservedLock(self) -> bool:
        return False

    def xFileControl(self, op: int, pointer: int) -> bool:
        return False

    def xSectorSize(self) -> int:
        return 4096

    def xDeviceCharacteristics(self) -> int:
        return int(apsw.SQLITE_IOCAP_POWERSAFE_OVERWRITE)

    def xClose(self) -> None:
        pass


class VolatileDisk(apsw.VFS):
    """An in-memory disk with a power switch. Load files, open `path(name)` through
    `vfs=disk.name`, set `cut_after`, and read `durable_image` after the cut."""

    def __init__(self) -> None:
        self.name = f"volatile-{uuid.uuid4().hex}"
        self.files: dict[str, VolatileFileState] = {}
        self.cut_after: int | None = None
        self.operations = 0
        self.syncs = 0
        self.powered = True
        super().__init__(self.name, "")

    def load(self, files: Mapping[str, bytes]) -> None:
        """Start from these durable files (name -> bytes), power on."""
        self.files = {
            self.path(name): VolatileFileState(bytearray(data), bytearray(data))
            for name, data in files.items()
        }
        self.operations = 0
        self.powered = True

    @staticmethod
    def path(name: str) -> str:
        """Where a file named `name` lives on this disk."""
        return f"{ROOT}/{name}"

    def tick(self, counts: bool = True) -> None:
        """Count one write, truncate or sync; cut the power when `cut_after` is reached."""
        if not self.powered:
            raise PowerCut("no power")
        if counts:
            self.operations += 1
            if self.cut_after is not None and self.operations >= self.cut_after:
                self.powered = False
                raise PowerCut(f"power cut at operation {self.operations}")

    def unsynced_writes(self) -> int:
        """How many writes and truncates no sync has made durable yet."""
        return sum(len(state.unsynced) for state in self.files.values())

    def durable_image(self, rng: random.Random) -> dict[str, bytes]:
        """What is on the disk after the cut: the durable bytes plus, for each file, a random
        subset of its unsynced writes (all, none, or each kept with a random probability)."""
        keep = rng.choice([0.0, 1.0, rng.random()])
        image = {}
        for path, state in self.files.items():
            data = None if state.durable is None else bytearray(state.durable)
            for kind, offset, chunk in state.unsynced:
                if rng.random() >= keep:
                    continue
                data = data if data is not None else bytearray()
                if kind == "write":
                    _write(data, offset, chunk)
                else:
                    del data[offset:]
            if data is not None:
                image[path.removeprefix(ROOT + "/")] = bytes(data)
        return image

    # --- VFS methods -----------------------------------------------------------------------

    def xOpen(self, name: Any, flags: list[int]) -> Any:
        path = name if isinstance(name, str) else name.filename() if name else None
        path = path or self.path(f"temp-{uuid.uuid4().hex}")
        if path not in self.files:
            self.files[path] = VolatileFileState(None, bytearray())
        return VolatileFile(self, path)

    def xDelete(self, name: str, syncdir: bool) -> None:
        self.tick()
        self.files.pop(name, None)

    def xAccess(self, name: str, flags: int) -> bool:
        return name in self.files

    def xFullPathname(self, name: str) -> str:
        return name if name.startswith(ROOT) else self.path(Path(name).name)


class ApswRunner:
    """The queue's SqlRunner on an apsw connection (same SQL as the sqlite3 runner)."""

    def __init__(self, connection: apsw.Connection) -> None:
        self.connection = connection

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        try:
            return list(self.connection.execute(sql, dict(params or {})))
        except apsw.ConstraintError:
            raise
        except apsw.Error as exc:
            raise QueueUnavailable(storage_reason(exc)) from exc

    def in_transaction(self) -> bool:
        return bool(self.connection.in_transaction)

    def close(self) -> None:
        self.connection.close()


def read_files(directory: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The named files of `directory` that exist."""
    return {name: (directory / name).read_bytes() for name in names if (directory / name).exists()}


def write_files(directory: Path, files: Mapping[str, bytes], names: tuple[str, ...]) -> None:
    """Make `directory` hold exactly `files` among `names` (a disk after the power came back)."""
    for name in names:
        target = directory / name
        if name in files:
            target.write_bytes(files[name])
        elif target.exists():
            target.unlink()
