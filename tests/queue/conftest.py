"""Fixtures for the queue tests: a device key, a queue in tmp_path, drafts, a settable clock."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base.limits import OfflineLimits
from sync.queue.draft import SaleDraft
from sync.queue.sale_queue import SaleQueue

DEVICE_ID = "test-device-1"
ROOMY = OfflineLimits(
    per_sale_max=10**9,
    unsynced_total_max=10**12,
    unsynced_count_max=10**6,
    oldest_unsynced_max_s=10.0**9,
    per_customer_unsynced_max=10**12,
)


class ManualClock:
    """A clock the test moves by hand (the wall clock may go backwards)."""

    def __init__(self, wall_ms: int = 1_800_000_000_000) -> None:
        self.wall = wall_ms
        self.mono = 1_000

    def wall_ms(self) -> int:
        return self.wall

    def monotonic_ns(self) -> int:
        self.mono += 1
        return self.mono

    def boot_id(self) -> str:
        return "boot-test"


def draft(amount: int = 250, customer: str | None = "cust-1", **changes: Any) -> SaleDraft:
    """An offline face sale of `amount`."""
    fields: dict[str, Any] = {
        "amount_minor": amount,
        "currency": "EUR",
        "method": "face",
        "customer_id": customer,
        "evidence": {"score": "0.3120", "margin": "0.2100", "step_up": False},
        "items": [{"name": "coffee", "quantity": 1, "amount_minor": amount}],
    }
    fields.update(changes)
    return SaleDraft(**fields)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


OpenQueue = Callable[..., SaleQueue]


@pytest.fixture
def open_queue(tmp_path: Path, key: Ed25519PrivateKey, clock: ManualClock) -> Iterator[OpenQueue]:
    """Opens queues on tmp_path/data (same key and clock); closes them at the end."""
    opened: list[SaleQueue] = []

    def open_(limits: OfflineLimits = ROOMY, **kwargs: Any) -> SaleQueue:
        kwargs.setdefault("device_id", DEVICE_ID)
        kwargs.setdefault("signing_key", key)
        kwargs.setdefault("clock", clock)
        queue = SaleQueue.open(tmp_path / "data", limits=limits, **kwargs)
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        with contextlib.suppress(Exception):
            queue.close()


@pytest.fixture
def queue(open_queue: OpenQueue) -> SaleQueue:
    return open_queue()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this folder's @slow tests unless they were asked for (`-m slow`): CI runs plain
    `pytest -n 2`, and the long runs (1,000 kills, 2,000 power cuts) do not fit its budget."""
    if "slow" in (config.getoption("markexpr", "") or ""):
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="long run: select with -m slow")
    for item in items:
        if item.get_closest_marker("slow") and here in Path(str(item.path)).parents:
            item.add_marker(skip)
