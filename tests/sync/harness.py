"""Pieces for the end-to-end sync tests: a real ledger process, real devices, and the checker.

The ledger runs as `smilepay ledger serve` in a subprocess so a "restart" is a real SIGKILL in
the middle of whatever it was doing, followed by a cold start on the same database and port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from base import wire
from base.child import smilepay_argv
from base.limits import OfflineLimits
from sync.agent.config import SyncConfig
from sync.agent.device_identity import DeviceIdentity, init_device
from tests.timing import slow


def free_port() -> int:
    """An ephemeral port that was free a moment ago (the ledger binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortTaken(Exception):
    """The port was taken between choosing it and the ledger binding it."""


class LedgerProcess:
    """`smilepay ledger serve` on a fixed loopback port, killed and restarted on demand."""

    def __init__(
        self,
        db_url: str,
        log_path: Path,
        template_key_file: Path | None = None,
        issuer_key_file: Path | None = None,
    ) -> None:
        self.db_url = db_url
        self.template_key_file = template_key_file
        self.issuer_key_file = issuer_key_file  # signs customer tokens
        self.port = free_port()
        self.log_path = log_path
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ledger's own address (bypassing any proxy)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within_s: float = 30.0) -> LedgerProcess:
        """Start the server and wait until it answers (on a new port if another process took
        the one it had: ephemeral ports are shared with every test running beside this one)."""
        for _ in range(5):
            try:
                return self._start_once(ready_within_s)
            except PortTaken:
                self.port = free_port()
        raise RuntimeError(f"no free port for the ledger; see {self.log_path}")

    def _start_once(self, ready_within_s: float) -> LedgerProcess:
        log = self.log_path.open("ab")
        command = smilepay_argv(
            "ledger",
            "serve",
            "--db",
            self.db_url,
            "--port",
            str(self.port),
            "--insecure-dev",
        )
        if self.template_key_file is not None:
            command += ["--template-key-file", str(self.template_key_file)]
        if self.issuer_key_file is not None:
            command += ["--issuer-key-file", str(self.issuer_key_file)]
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready(ready_within_s)
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, open transactions die with the process."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=slow(10))

    def restart(self) -> None:
        """Kill and start again on the same database and port."""
        self.kill()
        self.restarts += 1
        self.start()

    def _wait_ready(self, within_s: float) -> None:
        within_s = slow(within_s)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                if b"address already in use" in self.log_path.read_bytes()[-300:]:
                    raise PortTaken(self.port)
                raise RuntimeError(f"ledger exited early; see {self.log_path}")
            try:
                httpx.get(f"{self.url}/v1/time", timeout=slow(0.5)).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"ledger not ready within {within_s}s; see {self.log_path}")


def fast_sync_config(**overrides: Any) -> SyncConfig:
    """Short timeouts and backoff, so faults cost little wall time in tests. The HTTP timeouts
    wait for a real ledger, so they scale with SMILEPAY_SLOWDOWN (the fault proxy's delays
    scale with them, to still outlast them)."""
    values: dict[str, Any] = {
        "batch_size": 8,
        "connect_timeout_s": slow(0.5),
        "read_timeout_s": slow(0.25),
        "request_timeout_s": slow(0.5),
        "backoff_base_s": 0.005,
        "backoff_cap_s": 0.05,
        "interval_s": 0.05,
        "trigger_poll_s": 0.01,
    }
    return SyncConfig(**{**values, **overrides})


ROOMY_LIMITS = OfflineLimits(
    per_sale_max=10**9,
    unsynced_total_max=10**12,
    unsynced_count_max=10**9,
    oldest_unsynced_max_s=10**9,
    per_customer_unsynced_max=10**12,
)


def new_device(
    data_dir: Path,
    ledger_url: str,
    limits: OfflineLimits | None = ROOMY_LIMITS,
    merchant_id: str = "m-test",
    registration_token: str | None = None,
) -> DeviceIdentity:
    """Create keys and register with the (real) ledger directly, not through a faulty link;
    give the device roomy offline limits on the ledger (the operator's PUT .../limits)."""
    identity = init_device(
        data_dir,
        ledger_url,
        merchant_id=merchant_id,
        store_id="s-test",
        registration_token=registration_token,
    )
    if limits is not None:
        response = httpx.put(
            f"{ledger_url}/v1/devices/{identity.device_id}/limits",
            json=limits.model_dump(),
            timeout=slow(10),
        )
        response.raise_for_status()
    return identity


def open_queue(identity: DeviceIdentity, limits: OfflineLimits = ROOMY_LIMITS) -> Any:
    """A queue handle on the device's database (each thread/process opens its own)."""
    from sync.queue.sale_queue import SaleQueue

    return SaleQueue.open(
        identity.data_dir,
        device_id=identity.device_id,
        signing_key=identity.key,
        limits=limits,
        allow_tmpfs=True,
    )


# --- the checker ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What the checker found; `problems` is empty when the run is correct."""

    acknowledged: int = 0
    in_ledger: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the test output."""
        return (
            f"acknowledged={self.acknowledged} in_ledger={self.in_ledger} lost={len(self.lost)} "
            f"duplicated={len(self.duplicated)} unexpected={len(self.unexpected)} "
            f"problems={self.problems[:5]}"
        )


def ledger_sales(db_url: str, device_id: str) -> list[dict[str, Any]]:
    """Every sale row the ledger holds for a device, in seq order."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.text(
                        "SELECT seq, sale_id, hash, amount_minor, transfer_id, record_json "
                        "FROM sales WHERE device_id = :d ORDER BY seq"
                    ),
                    {"d": device_id},
                )
                .mappings()
                .all()
            )
            anomalies = conn.execute(
                sa.text("SELECT kind, from_seq, to_seq FROM anomalies WHERE device_id = :d"),
                {"d": device_id},
            ).all()
    finally:
        engine.dispose()
    if anomalies:
        raise AssertionError(f"ledger recorded anomalies for {device_id}: {anomalies[:5]}")
    return [dict(row) for row in rows]


def check_device(
    acknowledged: dict[str, dict[str, Any]], rows: list[dict[str, Any]], queue: Any
) -> Verdict:
    """Jepsen-style: each acknowledged sale in the ledger exactly once, nothing else, chains
    intact on both sides, totals equal."""
    verdict = Verdict(acknowledged=len(acknowledged), in_ledger=len(rows))
    counts = Counter(row["sale_id"] for row in rows)
    verdict.lost = sorted(set(acknowledged) - set(counts))
    verdict.duplicated = sorted(sale_id for sale_id, n in counts.items() if n > 1)
    verdict.unexpected = sorted(set(counts) - set(acknowledged))
    records = [wire_record(row) for row in rows]
    for row, record in zip(rows, records, strict=True):
        original = acknowledged.get(row["sale_id"])
        if original is not None and wire.sale_hash(original) != row["hash"]:
            verdict.problems.append(f"sale {row['sale_id']}: ledger holds different content")
        if wire.sale_hash(record) != row["hash"]:
            verdict.problems.append(f"sale {row['sale_id']}: stored hash does not match record")
    if breaks := wire.chain_breaks(records):
        verdict.problems.append(f"ledger chain breaks at seq {breaks[:5]}")
    if [r["seq"] for r in rows] != list(range(1, len(rows) + 1)):
        verdict.problems.append("ledger seqs are not 1..n")
    if len({row["transfer_id"] for row in rows}) != len(rows):
        verdict.problems.append("two sales share one ledger transfer")
    device_total = sum(int(r["amount_minor"]) for r in acknowledged.values())
    ledger_total = sum(int(r["amount_minor"]) for r in rows)
    if device_total != ledger_total:
        verdict.problems.append(f"totals differ: device {device_total}, ledger {ledger_total}")
    verdict.problems += _device_problems(queue)
    return verdict


def wire_record(row: dict[str, Any]) -> dict[str, Any]:
    """The signed record the ledger kept for a sale."""
    import json

    record: dict[str, Any] = json.loads(row["record_json"])
    return record


def _device_problems(queue: Any) -> list[str]:
    problems = [f"device chain: {p}" for p in queue.verify_chain()]
    status = queue.status()
    if status.backlog_count:
        problems.append(f"device still has {status.backlog_count} unsynced sales")
    if status.rejected_count:
        problems.append(f"device has {status.rejected_count} rejected sales")
    return problems
