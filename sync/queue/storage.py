"""Checks on the data directory before the queue trusts it with sales."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from base.private_files import private_dir
from sync.queue.errors import QueueUnavailable

VOLATILE_FS_TYPES = frozenset({"tmpfs", "ramfs"})
PROC_MOUNTS = Path("/proc/mounts")


@dataclass(frozen=True)
class Mount:
    """One line of /proc/mounts."""

    point: str
    fs_type: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def read_mounts(text: str) -> list[Mount]:
    """Parse /proc/mounts text."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            mounts.append(Mount(_unescape(parts[1]), parts[2], tuple(parts[3].split(","))))
    return mounts


def mount_of(path: Path, mounts: list[Mount]) -> Mount | None:
    """The mount holding `path` (the last-mounted one with the longest matching mount point)."""
    text = str(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.point.rstrip("/") or "/"
        inside = text == point or text.startswith(point + "/") or point == "/"
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def volatile_reason(path: Path, mounts: list[Mount]) -> str | None:
    """Why `path` would not survive a power cut (tmpfs, or an overlay whose upper layer is tmpfs,
    as with Raspberry Pi OS's overlay root), or None if it is on persistent storage."""
    mount = mount_of(path, mounts)
    if mount is None:
        return None
    if mount.fs_type in VOLATILE_FS_TYPES:
        return f"{path} is on {mount.fs_type} ({mount.point}): lost at power-off"
    if mount.fs_type == "overlay":
        upper = [o.removeprefix("upperdir=") for o in mount.options if o.startswith("upperdir=")]
        under = mount_of(Path(upper[0]), [m for m in mounts if m is not mount]) if upper else None
        if under is not None and under.fs_type in VOLATILE_FS_TYPES:
            return f"{path} is on an overlay whose writes go to {under.fs_type}: lost at power-off"
    return None


def check_data_dir(data_dir: Path, *, allow_tmpfs: bool) -> Path:
    """Create the data directory if needed and check it is persistent and writable.

    Returns its resolved path; raises QueueUnavailable with the reason otherwise."""
    try:
        private_dir(data_dir)
    except OSError as exc:
        raise QueueUnavailable(f"cannot create data directory {data_dir}: {exc}") from None
    resolved = data_dir.resolve()
    if not allow_tmpfs:
        mounts = read_mounts(PROC_MOUNTS.read_text()) if PROC_MOUNTS.exists() else []
        reason = volatile_reason(resolved, mounts)
        if reason:
            raise QueueUnavailable(f"{reason}; refusing to queue sales there (allow_tmpfs=true)")
    probe_writable(resolved)
    return resolved


def probe_writable(directory: Path) -> None:
    """Write, fsync and remove a probe file (permission bits alone mislead root)."""
    probe = directory / f".write-probe-{uuid.uuid4().hex}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise QueueUnavailable(
            f"data directory {directory} is not writable ({exc.strerror}); refusing new sales"
        ) from None
