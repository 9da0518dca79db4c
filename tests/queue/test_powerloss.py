"""Power loss: writes that were never fsynced may vanish. 0 acknowledged sales may be lost with
synchronous=FULL; the same test loses sales with synchronous=OFF (so it is known to bite)."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from pathlib import Path

import apsw
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.queue.errors import QueueUnavailable
from sync.queue.sale_queue import SaleQueue
from tests.queue.conftest import DEVICE_ID, ROOMY, draft
from tests.queue.powerloss import ApswRunner, PowerCut, VolatileDisk, read_files, write_files
from tests.timing import slow

CHAIN_CHECK_EVERY = 10
FILES = ("device.db", "device.db-wal", "device.db-journal", "device.db-shm")


@dataclass
class Tally:
    acknowledged: set[str] = field(default_factory=set)
    lost: set[str] = field(default_factory=set)
    cuts_with_unsynced_writes: int = 0
    problems: list[str] = field(default_factory=list)


def run_until_cut(
    disk: VolatileDisk, key: Ed25519PrivateKey, synchronous: str, checkpoint_pages: int
) -> list[str]:
    """Open the queue on the volatile disk, sell until the power goes; return the acked ids.
    A small `checkpoint_pages` makes SQLite checkpoint every sale or two, so cuts also land
    in the middle of checkpoints (copying the WAL into the database file)."""
    acked: list[str] = []
    connection = apsw.Connection(disk.path("device.db"), vfs=disk.name)
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute(f"PRAGMA wal_autocheckpoint={checkpoint_pages}")
        queue = SaleQueue.attach(
            ApswRunner(connection), device_id=DEVICE_ID, signing_key=key, limits=ROOMY
        )
        if synchronous != "FULL":
            connection.execute(f"PRAGMA synchronous={synchronous}")
        for index in range(10_000):
            acked.append(queue.enqueue_sale(draft(100 + index))["sale_id"])
    except (PowerCut, QueueUnavailable, apsw.Error):
        pass
    assert not disk.powered, "the power cut never came"
    with contextlib.suppress(PowerCut, apsw.Error):
        connection.close()
    return acked


def check_after_power_returns(
    data_dir: Path, key: Ed25519PrivateKey, tally: Tally, *, verify_chain: bool
) -> None:
    """Reopen through the production path (sqlite3 + SQLAlchemy + migrations) and check.
    (The full chain check verifies every signature so far: done every few cycles, for time.)"""
    try:
        queue = SaleQueue.open(data_dir, device_id=DEVICE_ID, signing_key=key, limits=ROOMY)
    except QueueUnavailable as exc:
        tally.problems.append(f"cannot reopen: {exc}")
        tally.lost |= tally.acknowledged
        return
    with queue:
        present = {sale.sale_id for sale in queue.records()}
        tally.lost |= tally.acknowledged - present
        if verify_chain:
            tally.problems += queue.verify_chain()
        integrity = queue.integrity_check()
        if integrity != "ok":
            tally.problems.append(f"integrity_check: {integrity}")


def power_cycles(tmp_path: Path, cycles: int, synchronous: str, seed: int) -> Tally:
    rng = random.Random(seed)
    key = Ed25519PrivateKey.generate()
    data_dir = tmp_path / "data"
    SaleQueue.open(data_dir, device_id=DEVICE_ID, signing_key=key, limits=ROOMY).close()
    disk = VolatileDisk()
    tally = Tally()
    try:
        for cycle in range(cycles):
            disk.load(read_files(data_dir, FILES))
            disk.cut_after = rng.randint(1, 150)
            checkpoint_pages = rng.choice([1000, 8])
            tally.acknowledged.update(run_until_cut(disk, key, synchronous, checkpoint_pages))
            tally.cuts_with_unsynced_writes += disk.unsynced_writes() > 0
            write_files(data_dir, disk.durable_image(rng), FILES)
            full_check = cycle % CHAIN_CHECK_EVERY == 0 or cycle == cycles - 1
            check_after_power_returns(data_dir, key, tally, verify_chain=full_check)
            if tally.lost and synchronous != "FULL":
                break
    finally:
        disk.unregister()
    return tally


def test_power_cuts_lose_no_acknowledged_sale_with_synchronous_full(tmp_path: Path) -> None:
    # GIVEN a queue whose unsynced writes vanish (all, none or some) at 200 random power cuts
    # WHEN sales are sold between the cuts and the file reopened after each
    tally = power_cycles(tmp_path, cycles=200, synchronous="FULL", seed=20261121)
    # THEN every acknowledged sale is there, the chain verifies and SQLite finds no damage
    print(
        f"power cuts: 200, acknowledged: {len(tally.acknowledged)}, "
        f"cuts with unsynced writes pending: {tally.cuts_with_unsynced_writes}"
    )
    assert len(tally.acknowledged) > 200 and tally.cuts_with_unsynced_writes > 100
    assert tally.lost == set()
    assert tally.problems == []


def test_the_same_power_cuts_lose_acknowledged_sales_with_synchronous_off(tmp_path: Path) -> None:
    # GIVEN the same simulator, but SQLite told not to fsync
    # WHEN the power is cut repeatedly
    tally = power_cycles(tmp_path, cycles=60, synchronous="OFF", seed=7)
    # THEN acknowledged sales disappear: the test can tell fsync from no fsync
    assert tally.lost, "synchronous=OFF lost nothing: the power-loss simulator does not bite"


@pytest.mark.slow
@pytest.mark.timeout(slow(7200))
def test_two_thousand_power_cuts_lose_nothing_with_synchronous_full(tmp_path: Path) -> None:
    tally = power_cycles(tmp_path, cycles=2000, synchronous="FULL", seed=99)
    print(
        f"power cuts: 2000, acknowledged: {len(tally.acknowledged)}, "
        f"cuts with unsynced writes pending: {tally.cuts_with_unsynced_writes}"
    )
    assert tally.lost == set()
    assert tally.problems == []
