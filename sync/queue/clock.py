"""Where a sale's time readings come from: wall clock, monotonic clock and their boot."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


class DeviceClock(Protocol):
    """The clocks a sale reads. Swap in another object to replay a wall clock that jumps."""

    def wall_ms(self) -> int:
        """Wall clock, milliseconds since the Unix epoch (may be wrong or jump)."""
        ...

    def monotonic_ns(self) -> int:
        """Monotonic clock, nanoseconds, meaningful within one boot."""
        ...

    def boot_id(self) -> str:
        """Identifier of the current boot (the monotonic clock's epoch)."""
        ...


class SystemClock:
    """The machine's clocks; the boot id comes from the kernel."""

    def __init__(self) -> None:
        self._boot_id = read_boot_id()

    def wall_ms(self) -> int:
        """Wall clock in milliseconds."""
        return time.time_ns() // 1_000_000

    def monotonic_ns(self) -> int:
        """time.monotonic_ns()."""
        return time.monotonic_ns()

    def boot_id(self) -> str:
        """The kernel's boot id, read once."""
        return self._boot_id


def read_boot_id() -> str:
    """The kernel's boot id; off Linux, a random id for this process (still unique per boot)."""
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return f"process-{uuid.uuid4()}"


def iso_utc(wall_ms: int) -> str:
    """ISO 8601 UTC text with milliseconds, e.g. `2026-11-21T23:43:58.123Z`."""
    moment = datetime.fromtimestamp(wall_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
