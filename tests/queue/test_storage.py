"""Where the queue may live, and what happens when storage fails: refuse new sales with a clear
reason, keep everything accepted, never leave a half-written sale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.queue.errors import QueueUnavailable
from sync.queue.sale_queue import SaleQueue
from sync.queue.storage import PROC_MOUNTS, read_mounts, volatile_reason
from tests.queue.conftest import DEVICE_ID, ROOMY, OpenQueue, draft
from tests.timing import slow

# Fills the disk fast within the bounds a sale's evidence may have (16 keys, 200 characters).
PADDING = {f"pad{i}": "x" * 200 for i in range(16)}

MOUNTS = """\
/dev/mmcblk0p2 / ext4 rw,noatime 0 0
tmpfs /run tmpfs rw,nosuid,size=100m 0 0
tmpfs /media/root-rw tmpfs rw,relatime 0 0
overlayroot /srv/overlaid overlay rw,lowerdir=/media/root-ro,upperdir=/media/root-rw/overlay 0 0
overlay /srv/docker overlay rw,lowerdir=/l,upperdir=/var/lib/docker/overlay2/x/diff 0 0
/dev/sda1 /mnt/with\\040space ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "volatile"),
    [
        ("/home/pi/smilepay", False),
        ("/run/smilepay", True),
        ("/srv/overlaid/data", True),  # Raspberry Pi OS overlay root: writes go to tmpfs
        ("/srv/docker/data", False),  # a container's overlay on disk
        ("/mnt/with space/data", False),
        ("/runner/data", False),  # a prefix of a name is not a parent directory
    ],
)
def test_volatile_storage_is_recognised_from_the_mount_table(path: str, volatile: bool) -> None:
    assert (volatile_reason(Path(path), read_mounts(MOUNTS)) is not None) == volatile


def shm_is_tmpfs() -> bool:
    mounts = read_mounts(PROC_MOUNTS.read_text()) if PROC_MOUNTS.exists() else []
    return any(m.point == "/dev/shm" and m.fs_type == "tmpfs" for m in mounts)


@pytest.mark.skipif(not shm_is_tmpfs(), reason="no tmpfs at /dev/shm on this machine")
def test_a_tmpfs_data_dir_is_refused_unless_allowed(key: Ed25519PrivateKey) -> None:
    data = Path("/dev/shm") / f"smilepay-test-{uuid.uuid4().hex}"
    try:
        with pytest.raises(QueueUnavailable, match=r"tmpfs.*allow_tmpfs"):
            SaleQueue.open(data, device_id=DEVICE_ID, signing_key=key, limits=ROOMY)
        with SaleQueue.open(
            data, device_id=DEVICE_ID, signing_key=key, limits=ROOMY, allow_tmpfs=True
        ) as queue:
            assert queue.enqueue_sale(draft(100))["seq"] == 1
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_pragmas_are_verified_at_start_up(queue: SaleQueue, tmp_path: Path) -> None:
    assert queue._runner.run("PRAGMA journal_mode") == [("wal",)]
    assert queue._runner.run("PRAGMA synchronous") == [(2,)]


# --- read-only ----------------------------------------------------------------------------------

CHILD_OPEN = """
import os, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sync.queue.errors import QueueUnavailable
from sync.queue.sale_queue import SaleQueue
from tests.queue.conftest import ROOMY
import sqlalchemy, sqlalchemy.dialects.sqlite, sync.queue.db, sync.queue.storage  # noqa
if os.getuid() == 0:
    # The interpreter's files may not be readable by nobody: import before dropping rights.
    os.setgid(65534); os.setuid(65534)  # root ignores permission bits: drop to nobody
try:
    SaleQueue.open(Path(sys.argv[1]), device_id="d", signing_key=Ed25519PrivateKey.generate(),
                   limits=ROOMY)
except QueueUnavailable as exc:
    print("refused:", exc)
"""


def test_a_read_only_data_dir_is_refused_with_a_clear_error(open_queue: OpenQueue) -> None:
    # GIVEN a data directory holding queued sales that the kiosk's user may not write
    data = Path(tempfile.mkdtemp(prefix="smilepay-ro-"))
    try:
        os.chmod(data, 0o755)
        queue = SaleQueue.open(
            data, device_id=DEVICE_ID, signing_key=Ed25519PrivateKey.generate(), limits=ROOMY
        )
        queue.enqueue_sale(draft(100))
        queue.close()
        # WHEN the queue opens it as that user
        child = subprocess.run(
            [sys.executable, "-c", CHILD_OPEN, str(data)],
            capture_output=True,
            text=True,
            timeout=slow(60),
            cwd=Path(__file__).parents[2],
        )
        # THEN it refuses, naming the directory and why; the sale is still there
        assert f"refused: data directory {data} is not writable" in child.stdout, child.stderr
        assert (data / "device.db").stat().st_size > 0
    finally:
        shutil.rmtree(data, ignore_errors=True)


# --- disk full, portable: a file size limit in a child process ---------------------------------

CHILD_FILL = """
import resource, signal, sys
from pathlib import Path
from sync.queue.errors import QueueUnavailable
from sync.queue.standalone import open_standalone
from tests.queue.conftest import ROOMY, draft
queue = open_standalone(Path(sys.argv[1]), create_key=False, limits=ROOMY)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    for index in range(100000):
        print(queue.enqueue_sale(draft(100 + index))["sale_id"], flush=True)
except QueueUnavailable as exc:
    print("refused:", exc, flush=True)
    print("status:", queue.status().backlog_count, flush=True)
"""


def test_when_files_cannot_grow_new_sales_are_refused_and_accepted_ones_kept(
    tmp_path: Path,
) -> None:
    # GIVEN a queue with sales, then a process whose files may grow only a little more
    from sync.queue.standalone import open_standalone

    data = tmp_path / "data"
    with open_standalone(data, create_key=True, limits=ROOMY) as queue:
        before = [queue.enqueue_sale(draft(100))["sale_id"] for _ in range(3)]
    limit = (data / "device.db").stat().st_size + 48 * 1024
    # WHEN it sells until the storage refuses
    child = subprocess.run(
        [sys.executable, "-c", CHILD_FILL, str(data), str(limit)],
        capture_output=True,
        text=True,
        timeout=slow(60),
        cwd=Path(__file__).parents[2],
    )
    lines = child.stdout.splitlines()
    refusal = [line for line in lines if line.startswith("refused:")]
    acked = [line for line in lines if not line.startswith(("refused:", "status:"))]
    # THEN it says so clearly, and every acknowledged sale is intact with no half-written one
    assert refusal and "storage" in refusal[0], child.stdout + child.stderr
    with open_standalone(data, create_key=False, limits=ROOMY) as queue:
        stored = [sale.sale_id for sale in queue.records()]
        assert stored == before + acked
        assert queue.verify_chain() == []
        assert queue.integrity_check() == "ok"
        # AND once space is back, the next sale takes the next seq
        assert queue.enqueue_sale(draft(100))["seq"] == len(stored) + 1


# --- real ENOSPC and EROFS: a small tmpfs (needs root and mount rights; skipped otherwise) -----


@contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    point = Path(tempfile.mkdtemp(prefix="smilepay-tmpfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)
        point.rmdir()


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not can_mount(), reason="needs root with mount rights")
def test_a_full_disk_refuses_new_sales_and_keeps_accepted_ones(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    with small_tmpfs("400k") as point:
        # GIVEN a queue on a 400 KiB file system
        queue = SaleQueue.open(
            point, device_id=DEVICE_ID, signing_key=key, limits=ROOMY, allow_tmpfs=True
        )
        acked = []
        # WHEN sales are taken until the disk is full
        with pytest.raises(QueueUnavailable, match="storage full") as refused:
            for index in range(10_000):
                acked.append(queue.enqueue_sale(draft(100 + index, evidence=PADDING))["sale_id"])
        # THEN the refusal is clear, the queue still answers, nothing accepted is missing
        assert "queued sales kept" in refused.value.reason
        assert queue.status().backlog_count == len(acked) > 0
        queue.close()
        for name in ("device.db", "device.db-wal"):
            if (point / name).exists():
                shutil.copy(point / name, tmp_path / name)
    with SaleQueue.open(tmp_path, device_id=DEVICE_ID, signing_key=key, limits=ROOMY) as copy:
        assert [sale.sale_id for sale in copy.records()] == acked
        assert copy.verify_chain() == [] and copy.integrity_check() == "ok"


@pytest.mark.skipif(not can_mount(), reason="needs root with mount rights")
def test_a_read_only_file_system_is_refused_and_its_sales_kept() -> None:
    # (The kernel refuses to remount read-only while the queue holds files open for writing, so
    # a file system turning read-only under a running kiosk takes the disk-full path above.)
    key = Ed25519PrivateKey.generate()
    with small_tmpfs("4m") as point:
        # GIVEN sales queued on a file system that is then remounted read-only
        with SaleQueue.open(
            point, device_id=DEVICE_ID, signing_key=key, limits=ROOMY, allow_tmpfs=True
        ) as queue:
            acked = [queue.enqueue_sale(draft(100))["sale_id"] for _ in range(3)]
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        # WHEN the kiosk starts on it
        with pytest.raises(QueueUnavailable, match="Read-only file system"):
            SaleQueue.open(
                point, device_id=DEVICE_ID, signing_key=key, limits=ROOMY, allow_tmpfs=True
            )
        # THEN it refuses with the reason, and once writable the sales are all there
        subprocess.run(["mount", "-o", "remount,rw", str(point)], check=True)
        with SaleQueue.open(
            point, device_id=DEVICE_ID, signing_key=key, limits=ROOMY, allow_tmpfs=True
        ) as queue:
            assert [sale.sale_id for sale in queue.records()] == acked
            assert queue.enqueue_sale(draft(100))["seq"] == 4
