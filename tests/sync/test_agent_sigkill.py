"""The agent as a real process (`smilepay sync run`), SIGKILLed at random moments while the
kiosk keeps selling and the network misbehaves; after a final `--until-drained` run, every
acknowledged sale is in the ledger exactly once. Failures name the seed (SMILEPAY_KILL_SEED)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from device.cli import main as smilepay
from tests.sync.faultproxy import FaultPlan, FaultProxy
from tests.sync.harness import (
    LedgerProcess,
    check_device,
    ledger_sales,
    new_device,
    open_queue,
)
from tests.sync.test_fault_injection import DeviceUnderTest, sell
from tests.timing import slow

SMILEPAY = str(Path(sys.executable).with_name("smilepay"))
STARTED = '"event": "sync agent started"'
KILL_SEED = int(os.environ.get("SMILEPAY_KILL_SEED", "5"))
AGENT_CONFIG = f"""
[sync]
batch_size = {{batch}}
connect_timeout_s = {slow(0.5)}
read_timeout_s = {slow(0.25)}
request_timeout_s = {slow(0.5)}
backoff_base_s = 0.005
backoff_cap_s = 0.05
interval_s = 0.05
trigger_poll_s = 0.01
"""


def start_agent(data_dir: Path, ledger_url: str, config: Path, log: Path, *mode: str) -> Any:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                SMILEPAY,
                "sync",
                "run",
                "--data-dir",
                str(data_dir),
                "--ledger-url",
                ledger_url,
                "--config",
                str(config),
                *mode,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_with_kills(tmp_path: Path, seed: int, sales: int, kills: int) -> None:
    rng = random.Random(seed)
    ledger = LedgerProcess(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "ledger.log").start()
    proxy = FaultProxy(
        ("127.0.0.1", ledger.port),
        FaultPlan(seed=seed, rate=0.15, delay_s=slow(0.3), max_restarts=0),
    ).start()
    device = DeviceUnderTest(new_device(tmp_path / "kiosk", ledger.url))
    config = tmp_path / "agent.toml"
    config.write_text(AGENT_CONFIG.format(batch=rng.randint(3, 12)))
    log = tmp_path / "agent.log"
    # Sales keep coming for about as long as the kills go on, so most lives have work.
    pause_s = slow(kills * 2.0) / sales
    producer = threading.Thread(
        target=sell, args=(device, open_queue(device.identity), sales, random.Random(seed), pause_s)
    )
    producer.start()
    synced_per_life = []
    try:
        for life in range(kills):
            before = len(ledger_sales(ledger.db_url, device.identity.device_id))
            started = log.read_text().count(STARTED) if log.exists() else 0
            agent = start_agent(device.identity.data_dir, proxy.url, config, log)
            if life % 2:  # every other life is killed while working, not while starting up
                wait_for(lambda n=started: log.read_text().count(STARTED) > n, 60)
            time.sleep(slow(rng.uniform(0.1, 3.0)))  # time to sync something
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait(timeout=slow(10))
            synced_per_life.append(
                len(ledger_sales(ledger.db_url, device.identity.device_id)) - before
            )
        producer.join(timeout=slow(120))
        final = start_agent(device.identity.data_dir, proxy.url, config, log, "--until-drained")
        code = final.wait(timeout=slow(240))
    finally:
        proxy.stop()
    verdict = check_device(
        device.acknowledged,
        ledger_sales(ledger.db_url, device.identity.device_id),
        open_queue(device.identity),
    )
    ledger.kill()
    print(f"synced per agent life before its SIGKILL: {synced_per_life}")
    message = (
        f"SMILEPAY_KILL_SEED={seed} kills={kills} synced per life {synced_per_life} "
        f"{proxy.summary()}: {verdict.summary()}"
    )
    assert code == 0, f"{message}; final `sync run --until-drained` exited {code}"
    assert not (verdict.lost or verdict.duplicated or verdict.unexpected), message
    assert not verdict.problems, message
    assert verdict.acknowledged == sales, message
    # Kills landed while the agent was at work, not only before it had started.
    assert sum(n > 0 for n in synced_per_life) >= kills // 4, message


def test_sigkilled_agent_processes_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    # GIVEN a kiosk selling 600 sales, an agent process killed 8 times at random moments,
    #   and a network that drops, resets, delays, duplicates and reorders
    # WHEN a last agent runs until drained
    # THEN the ledger holds every acknowledged sale exactly once, chains and totals agree
    run_with_kills(tmp_path, KILL_SEED, sales=600, kills=8)


@pytest.mark.slow
def test_fifty_sigkills_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    run_with_kills(tmp_path, KILL_SEED * 100 + 1, sales=3000, kills=50)


def test_a_running_agent_takes_a_sync_now_request_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    # GIVEN an agent process waiting out a long interval with a sale arriving after it synced
    ledger = LedgerProcess(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "ledger.log").start()
    identity = new_device(tmp_path / "kiosk", ledger.url)
    config = tmp_path / "agent.toml"
    config.write_text("[sync]\ninterval_s = 3600\ntrigger_poll_s = 0.05\n")
    log = tmp_path / "agent.log"
    agent = start_agent(identity.data_dir, ledger.url, config, log)
    try:
        wait_for(lambda: '"event": "ledger reachable"' in log.read_text(), 30)
        sale = sell_one(identity)
        # WHEN the kiosk asks for a sync now
        assert smilepay(["sync", "now", "--data-dir", str(identity.data_dir)]) == 0
        # THEN the sale reaches the ledger long before the interval, and the request is used up
        wait_for(
            lambda: sale in {r["sale_id"] for r in ledger_sales(ledger.db_url, identity.device_id)},
            30,
        )
        assert not (identity.data_dir / "sync-now").exists()
        # AND SIGTERM ends it with exit status 0
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=slow(30)) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
        ledger.kill()


def sell_one(identity: Any) -> str:
    from sync.queue.draft import SaleDraft

    queue = open_queue(identity)
    record = queue.enqueue_sale(SaleDraft(amount_minor=250, currency="EUR", method="face"))
    queue.close()
    return str(record["sale_id"])


def wait_for(condition: Any, within_s: float) -> None:
    within_s = slow(within_s)
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s}s")
        time.sleep(0.05)
