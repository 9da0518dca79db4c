"""`smilepay bench sync`: time to drain a backlog of queued sales to a ledger over loopback.

The ledger runs in its own process (uvicorn on 127.0.0.1, SQLite file or the PostgreSQL URL
given), as it would on another machine; the agent runs here with its production settings except
the batch size. Filling the backlog is not timed: it is written on tmpfs when /dev/shm exists
(fsync per sale would otherwise dominate the set-up) and the finished database is then copied
to a disk directory, where the timed drain runs.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from base.child import smilepay_argv
from base.errors import SmilepayError
from base.limits import OfflineLimits
from base.progress import Progress
from sync.agent.agent import PushOutcome, SyncAgent
from sync.agent.client import LedgerClient
from sync.agent.config import SyncConfig
from sync.agent.device_identity import DeviceIdentity, init_device

NO_LIMITS = OfflineLimits(
    per_sale_max=10**9,
    unsynced_total_max=10**15,
    unsynced_count_max=10**9,
    oldest_unsynced_max_s=10**9,
    per_customer_unsynced_max=10**15,
)


def run_bench(db_url: str | None, backlog: int, batch_size: int) -> int:
    """Fill a backlog, drain it to a fresh ledger process, print the JSON result last."""
    with tempfile.TemporaryDirectory(prefix="smilepay-bench-sync-") as scratch:
        work = Path(scratch)
        url = db_url or f"sqlite:///{work / 'ledger.db'}"
        with LedgerServer(url, work / "ledger.log") as ledger:
            identity = init_device(work / "kiosk", ledger.url, name="bench kiosk")
            _lift_limits(ledger.url, identity.device_id)
            fill_seconds = fill_backlog(identity, backlog)
            # ~600 bytes a record: let the count, not the byte bound, size the batches
            config = SyncConfig(
                batch_size=batch_size, max_batch_bytes=max(1_000_000, 1_000 * batch_size)
            )
            result = drain(identity, ledger.url, config, backlog)
    result.update(db=url.split(":", 1)[0].split("+", 1)[0], fill_seconds=round(fill_seconds, 1))
    print(json.dumps(result))
    return 0


def fill_backlog(identity: DeviceIdentity, count: int) -> float:
    """Queue `count` offline sales for the device; returns the seconds it took (not measured)."""
    from sync.queue.draft import SaleDraft

    started = time.monotonic()
    shm = Path("/dev/shm")
    fill_dir = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else identity.data_dir))
    progress = Progress("filling backlog", total=count)
    with _open_queue(fill_dir, identity, for_fill=True) as queue:
        for index in range(count):
            queue.enqueue_sale(
                SaleDraft(
                    amount_minor=100 + index % 900,
                    currency="EUR",
                    method="face",
                    customer_id=f"bench-{index % 50}",
                )
            )
            progress.advance()
    progress.finish()
    for part in fill_dir.glob("device.db*"):
        shutil.copy2(part, identity.data_dir / part.name)
    shutil.rmtree(fill_dir)
    return time.monotonic() - started


def drain(
    identity: DeviceIdentity, ledger_url: str, config: SyncConfig, backlog: int
) -> dict[str, Any]:
    """Run the agent until the queue is empty; time it and check the ledger took everything."""
    progress = Progress("draining", total=backlog)
    with (
        _open_queue(identity.data_dir, identity) as queue,
        LedgerClient(ledger_url, identity.device_id, identity.key, config) as client,
    ):
        agent = SyncAgent(
            queue, client, identity.key, config, on_batch=lambda o: _advance(progress, o)
        )
        started = time.monotonic()
        code = agent.run("until-drained")
        seconds = time.monotonic() - started
        left = queue.status().backlog_count
    progress.finish()
    if code != 0 or left or progress.done != backlog:
        raise SmilepayError(f"drain incomplete: exit {code}, {left} left, {progress.done} synced")
    return {
        "bench": "sync",
        "backlog": backlog,
        "seconds": round(seconds, 2),
        "sales_per_s": round(backlog / seconds, 1),
        "batch_size": config.batch_size,
        "ledger": "separate process, uvicorn on 127.0.0.1",
    }


def _advance(progress: Progress, outcome: PushOutcome) -> None:
    progress.advance(outcome.synced)


def _open_queue(data_dir: Path, identity: DeviceIdentity, for_fill: bool = False) -> Any:
    from sync.queue.sale_queue import SaleQueue

    class BacklogFillQueue(SaleQueue):
        """The real queue, minus the offline-limit check (NO_LIMITS could never refuse). That
        check scans the whole unsynced backlog on each sale, so 100,000 offline sales would take
        hours to queue; on a kiosk the limits keep the backlog to a few hundred."""

        def _limit_reason(self, draft: Any) -> str | None:
            return None

    kind = BacklogFillQueue if for_fill else SaleQueue
    return kind.open(
        data_dir,
        device_id=identity.device_id,
        signing_key=identity.key,
        limits=NO_LIMITS,
        allow_tmpfs=True,
    )


def _lift_limits(ledger_url: str, device_id: str) -> None:
    # The backlog is built before the drain; the ledger's limits apply to new offline sales.
    httpx.put(
        f"{ledger_url}/v1/devices/{device_id}/limits", json=NO_LIMITS.model_dump(), timeout=10
    ).raise_for_status()


class LedgerServer:
    """A ledger in a child process on a free loopback port (stopped on exit)."""

    def __init__(self, db_url: str, log_path: Path) -> None:
        self.db_url = db_url
        self.log_path = log_path
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LedgerServer:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                smilepay_argv(
                    "ledger",
                    "serve",
                    "--db",
                    self.db_url,
                    "--port",
                    str(port),
                    "--insecure-dev",  # loopback; the bench registers its own kiosk
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        self._wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise SmilepayError(f"ledger exited: {self.log_path.read_text()[-500:]}")
            try:
                httpx.get(f"{self.url}/v1/time", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SmilepayError("ledger did not start within 60 s")
