"""Exactly-once through a hostile network: real ledger process, real queues, seeded faults.

Several devices sync at once through the fault proxy (so requests really are concurrent and
can be reordered) while their kiosks keep selling. The checker then demands: every sale
acknowledged on a device is in the ledger exactly once, nothing else is, both chains verify,
and totals agree. A failure message starts with the seed; rerun with SMILEPAY_FAULT_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sync.agent.agent import SyncAgent
from sync.agent.client import LedgerClient
from sync.agent.device_identity import DeviceIdentity
from sync.agent.trigger import SyncTrigger
from sync.queue.draft import SaleDraft
from sync.queue.errors import LimitExceeded
from tests.sync.faultproxy import FAULT_KINDS, FaultPlan, FaultProxy
from tests.sync.harness import (
    LedgerProcess,
    Verdict,
    check_device,
    fast_sync_config,
    ledger_sales,
    new_device,
    open_queue,
)
from tests.timing import slow

CI_SEEDS = [int(s) for s in os.environ.get("SMILEPAY_FAULT_SEED", "11,23,37").split(",")]
CUSTOMERS = ["cust-a", "cust-b", "cust-c", None]  # unknown customers are booked as declined


@dataclass
class DeviceUnderTest:
    """One kiosk: its identity, the sales it acknowledged, and its running agent."""

    identity: DeviceIdentity
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: int = 0
    trigger: SyncTrigger | None = None
    threads: list[threading.Thread] = field(default_factory=list)


def sell(
    device: DeviceUnderTest, queue: Any, count: int, rng: random.Random, pause_s: float = 0.0
) -> None:
    """The kiosk: enqueue sales (`pause_s` apart on average); only a returned record counts
    as acknowledged."""
    while len(device.acknowledged) < count:
        draft = SaleDraft(
            amount_minor=rng.randint(1, 4999),
            currency="EUR",
            method="face",
            customer_id=rng.choice(CUSTOMERS),
            evidence={"score": "0.3100"},
        )
        try:
            record = queue.enqueue_sale(draft)
        except LimitExceeded:
            device.refused += 1  # offline limits pulled from the ledger: the kiosk says no
            time.sleep(0.01)
            continue
        device.acknowledged[record["sale_id"]] = record
        if rng.random() < 0.2:  # bursts and lulls; a pause averages 5 * pause_s
            time.sleep(0.003 + 10 * pause_s * rng.random())


def sync_forever(
    device: DeviceUnderTest, queue: Any, proxy_url: str, batch_size: int, seed: int
) -> None:
    """The agent, through the faulty link, until told to stop."""
    identity = device.identity
    config = fast_sync_config(batch_size=batch_size)
    assert device.trigger is not None
    with LedgerClient(proxy_url, identity.device_id, identity.key, config) as client:
        agent = SyncAgent(
            queue, client, identity.key, config, trigger=device.trigger, rng=random.Random(seed)
        )
        agent.run("forever")


def restart_behind(ledger: LedgerProcess, proxy: FaultProxy) -> None:
    """Kill and restart the ledger; point the proxy at it (its port may have changed)."""
    ledger.restart()
    proxy.upstream = ("127.0.0.1", ledger.port)


def wait_until_synced(devices: list[DeviceUnderTest], within_s: float) -> None:
    queues = [open_queue(d.identity) for d in devices]
    within_s = slow(within_s)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        producers_done = all(not d.threads[0].is_alive() for d in devices)
        if producers_done and all(q.status().backlog_count == 0 for q in queues):
            return
        time.sleep(0.1)
    raise AssertionError(f"not synced within {within_s}s")


def run_faulty_sync(
    tmp_path: Path,
    seed: int,
    sales_per_device: int,
    devices: int = 2,
    rate: float = 0.35,
    max_restarts: int = 2,
    db_url: str | None = None,
) -> tuple[list[tuple[DeviceUnderTest, Verdict]], FaultProxy]:
    rng = random.Random(seed)
    db_url = db_url or f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = LedgerProcess(db_url, tmp_path / "ledger.log").start()
    plan = FaultPlan(seed=seed, rate=rate, delay_s=slow(0.3), max_restarts=max_restarts)
    proxy = FaultProxy(("127.0.0.1", ledger.port), plan)
    proxy.restart_ledger = lambda: restart_behind(ledger, proxy)
    proxy.start()
    fleet = [
        DeviceUnderTest(new_device(tmp_path / f"kiosk{i}", ledger.url)) for i in range(devices)
    ]
    try:
        for index, device in enumerate(fleet):
            device.trigger = SyncTrigger(device.identity.data_dir, poll_s=0.01)
            # Separate handles, as kiosk and agent are separate processes. Opened here, one at a
            # time: SaleQueue.open runs alembic, which is not safe from two threads at once.
            kiosk_queue, agent_queue = open_queue(device.identity), open_queue(device.identity)
            device.threads = [
                threading.Thread(
                    target=sell,
                    args=(device, kiosk_queue, sales_per_device, random.Random(rng.random())),
                ),
                threading.Thread(
                    target=sync_forever,
                    args=(device, agent_queue, proxy.url, rng.randint(4, 12), seed + index),
                ),
            ]
            for thread in device.threads:
                thread.start()
        wait_until_synced(fleet, within_s=300)
    finally:
        for device in fleet:
            if device.trigger is not None:
                device.trigger.stop()
            for thread in device.threads:
                thread.join(timeout=slow(30))
        proxy.stop()
    verdicts = [
        (
            device,
            check_device(
                device.acknowledged,
                ledger_sales(db_url, device.identity.device_id),
                open_queue(device.identity),
            ),
        )
        for device in fleet
    ]
    ledger.kill()
    return verdicts, proxy


def assert_exactly_once(results: list[tuple[DeviceUnderTest, Verdict]], proxy: FaultProxy) -> None:
    for device, verdict in results:
        message = f"SEED {proxy.plan.seed} ({proxy.summary()}) device {device.identity.device_id}"
        assert not verdict.lost, f"{message}: lost {verdict.summary()}"
        assert not verdict.duplicated, f"{message}: duplicated {verdict.summary()}"
        assert not verdict.unexpected, f"{message}: unexpected {verdict.summary()}"
        assert not verdict.problems, f"{message}: {verdict.summary()}"


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_every_acknowledged_sale_reaches_the_ledger_exactly_once_under_faults(
    tmp_path: Path, seed: int
) -> None:
    # GIVEN two kiosks selling 1,000 sales each while syncing through a faulty network
    # WHEN the proxy drops, resets, delays, duplicates and reorders requests and kills the ledger
    results, proxy = run_faulty_sync(tmp_path, seed, sales_per_device=1000)
    print(proxy.summary())
    # THEN nothing is lost, duplicated or invented; chains and totals agree
    assert_exactly_once(results, proxy)
    assert sum(v.acknowledged for _, v in results) == 2000
    # AND the faults really happened, of every kind
    assert proxy.total() >= 100, proxy.summary()
    assert all(proxy.injected[kind] > 0 for kind in FAULT_KINDS), proxy.summary()


@pytest.mark.slow
def test_ten_thousand_sales_with_at_least_500_faults_reach_the_ledger_exactly_once(
    tmp_path: Path,
) -> None:
    seed = CI_SEEDS[0] * 1000 + 7
    results, proxy = run_faulty_sync(tmp_path, seed, sales_per_device=5000, max_restarts=6)
    print(proxy.summary())
    assert_exactly_once(results, proxy)
    assert sum(v.acknowledged for _, v in results) == 10_000
    assert proxy.total() >= 500, proxy.summary()
    assert all(proxy.injected[kind] > 0 for kind in FAULT_KINDS), proxy.summary()


@pytest.fixture
def pg_ledger_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one ledger, dropped afterwards."""
    import psycopg

    name = f"smilepay_sync_{uuid.uuid4().hex[:12]}"
    admin = pg_admin_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {admin}: {exc}")
    yield pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_exactly_once_under_faults_with_a_postgresql_ledger(
    tmp_path: Path, pg_ledger_url: str
) -> None:
    # GIVEN the same faults (ledger restarts included) against a PostgreSQL-backed ledger
    results, proxy = run_faulty_sync(
        tmp_path, CI_SEEDS[0] + 1, sales_per_device=300, max_restarts=1, db_url=pg_ledger_url
    )
    print(proxy.summary())
    # THEN the same guarantees hold
    assert_exactly_once(results, proxy)
    assert proxy.total() >= 20, proxy.summary()
