"""`smilepay bench queue`: durable sales per second through the whole path (validate, encode,
sign, chain, write, fsync) against raw sqlite3 inserts of same-size rows with the same pragmas."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from base.limits import OfflineLimits
from base.progress import Progress
from sync.queue.db import PRAGMAS
from sync.queue.draft import SaleDraft, new_sale_id
from sync.queue.sale_queue import SaleQueue

CONFIRM_EVERY = 100  # the agent's batch: keeps the offline backlog inside the default limits


def bench_draft(index: int) -> SaleDraft:
    """A realistic offline face sale: two items, a matched customer, score evidence."""
    return SaleDraft(
        amount_minor=350,
        currency="EUR",
        method="face",
        customer_id=f"customer-{index % 40:04d}",
        evidence={"score": "0.3120", "margin": "0.2100", "step_up": False},
        items=[
            {"name": "Flat white", "quantity": 1, "amount_minor": 250},
            {"name": "Croissant", "quantity": 1, "amount_minor": 100},
        ],
        sale_id=new_sale_id(),
    )


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def time_queue(queue: SaleQueue, start: int, count: int, progress: Progress) -> list[float]:
    """Enqueue `count` sales, timing each call; confirm each batch (untimed) like the agent."""
    latencies = []
    for index in range(start, start + count):
        began = time.perf_counter()
        queue.enqueue_sale(bench_draft(index))
        latencies.append(time.perf_counter() - began)
        progress.advance()
        if (index + 1) % CONFIRM_EVERY == 0:
            batch = queue.pending_batch(CONFIRM_EVERY, 10**7)
            queue.apply_results(
                [wire.SaleResult(r["sale_id"], r["seq"], "accepted") for r in batch]
            )
    return latencies


def time_raw(connection: sqlite3.Connection, start: int, count: int, row_text: str) -> list[float]:
    """Insert `count` rows of `row_text`'s size, one BEGIN IMMEDIATE ... COMMIT each."""
    latencies = []
    for index in range(start, start + count):
        began = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO raw (seq, sale_id, record) VALUES (?, ?, ?)",
            (index + 1, new_sale_id(), row_text),
        )
        connection.execute("COMMIT")
        latencies.append(time.perf_counter() - began)
    return latencies


def open_raw(path: Path) -> sqlite3.Connection:
    """The baseline: stdlib sqlite3, same pragmas, a table keyed like the sales table."""
    connection = sqlite3.connect(path, isolation_level=None)
    for statement in PRAGMAS:
        connection.execute(statement)
    connection.execute(
        "CREATE TABLE raw (seq INTEGER PRIMARY KEY, sale_id TEXT UNIQUE, record TEXT)"
    )
    return connection


def run_bench(data_dir: Path, count: int, rounds: int) -> dict[str, Any]:
    """Alternate rounds of queue sales and raw rows (so drift in the disk hits both alike)."""
    limits = OfflineLimits()
    queue = SaleQueue.open(
        data_dir / "queue",
        device_id="bench-device",
        signing_key=Ed25519PrivateKey.generate(),
        limits=limits,
    )
    first = queue.enqueue_sale(bench_draft(0))
    row_text = json.dumps(first, sort_keys=True, separators=(",", ":"))  # as stored
    raw = open_raw(data_dir / "raw.db")
    per_round = count // rounds
    queue_lat: list[float] = []
    raw_lat: list[float] = []
    progress = Progress("bench queue", per_round * rounds)
    for round_index in range(rounds):
        start = 1 + round_index * per_round
        raw_lat += time_raw(raw, start, per_round, row_text)
        queue_lat += time_queue(queue, start, per_round, progress)
    progress.finish()
    queue.close()
    raw.close()
    return _summary(queue_lat, raw_lat, len(row_text))


def _summary(queue_lat: list[float], raw_lat: list[float], row_bytes: int) -> dict[str, Any]:
    sales_per_s = len(queue_lat) / sum(queue_lat)
    raw_rows_per_s = len(raw_lat) / sum(raw_lat)
    return {
        "bench": "queue",
        "sales": len(queue_lat),
        "record_bytes": row_bytes,
        "sales_per_s": round(sales_per_s, 1),
        "p50_ms": round(_percentile(queue_lat, 50) * 1000, 3),
        "p99_ms": round(_percentile(queue_lat, 99) * 1000, 3),
        "raw_rows_per_s": round(raw_rows_per_s, 1),
        "raw_p50_ms": round(_percentile(raw_lat, 50) * 1000, 3),
        "raw_p99_ms": round(_percentile(raw_lat, 99) * 1000, 3),
        "ratio": round(sales_per_s / raw_rows_per_s, 3),
        "pragmas": "journal_mode=WAL synchronous=FULL",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
    }


def main(data_dir: Path | None, count: int, rounds: int) -> dict[str, Any]:
    """Run in `data_dir` (a fresh temporary directory by default) and return the summary."""
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=data_dir) as scratch:
            return run_bench(Path(scratch), count, rounds)
    with tempfile.TemporaryDirectory(prefix="smilepay-bench-queue-") as scratch:
        return run_bench(Path(scratch), count, rounds)
