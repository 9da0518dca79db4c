"""`smilepay bench ledger`: sales ingested per second through the real HTTP path, against a raw
batched insert of the same rows into the same database as the baseline.

The ledger runs as a separate `smilepay ledger serve` process (uvicorn, real socket). Kiosks
with real Ed25519 keys sign every sale and every batch head before the clock starts; during the
timed part each kiosk posts its batches one after another, all kiosks at once.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine, MetaData, Table

from base import wire
from base.child import smilepay_argv
from base.errors import SmilepayError
from base.progress import Progress
from sync.ledger import customers
from sync.ledger.kiosk import Kiosk
from sync.ledger.storage import open_engine
from sync.ledger.tables import sales

STARTUP_S = 60.0


def bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark and print the JSON result as the last line."""
    if args.sales < args.batch or min(args.batch, args.devices, args.customers) < 1:
        raise SmilepayError("need --sales >= --batch >= 1, --devices >= 1, --customers >= 1")
    with LedgerProcess(args.db, args.workers) as url:
        kiosks, batches = _prepare(
            url, args.db, args.sales, args.batch, args.devices, args.customers
        )
        elapsed, accepted = _ingest(kiosks, batches, args.sales)
    rows = [_raw_row(record) for batch in batches for record in batch[1]]
    raw_elapsed = raw_insert(open_engine(args.db), rows, args.batch)
    result = {
        "db": open_engine(args.db).dialect.name,
        "sales": args.sales,
        "accepted": accepted,
        "batch": args.batch,
        "devices": args.devices,
        "customers": args.customers,
        "workers": args.workers,
        "sales_per_s": round(args.sales / elapsed, 1),
        "raw_rows_per_s": round(len(rows) / raw_elapsed, 1),
        "ratio": round(raw_elapsed / elapsed, 3),
        "elapsed_s": round(elapsed, 3),
        "raw_elapsed_s": round(raw_elapsed, 3),
    }
    print(json.dumps(result) if args.json else result)
    return 0 if accepted == args.sales else 1


class LedgerProcess:
    """`smilepay ledger serve` in a child process on a free port; the context yields its URL."""

    def __init__(self, db_url: str, workers: int = 1) -> None:
        self.db_url = db_url
        self.workers = workers
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        port = _free_port()
        command = smilepay_argv(
            "ledger",
            "serve",
            "--db",
            self.db_url,
            "--port",
            str(port),
            "--workers",
            str(self.workers),
            "--insecure-dev",  # loopback only; the bench is its own operator
        )
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        self._wait_ready(url)
        return url

    def _wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + STARTUP_S
        assert self.process is not None
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                httpx.get(f"{url}/v1/time", timeout=1.0).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.log.seek(0)
        tail = self.log.read()[-2000:].decode(errors="replace")
        self.__exit__()
        raise SmilepayError(f"the ledger server did not start: {tail}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _funded_customers(db_url: str, count: int) -> list[str]:
    """Create and fund customers through the ledger's own functions (setup, not measured)."""
    engine = open_engine(db_url)
    ids = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    progress = Progress("funding customers", count)
    for start in range(0, count, 1000):
        with engine.begin() as conn:
            for customer_id in ids[start : start + 1000]:
                new = {"customer_id": customer_id, "name": "Bench", "currency": "EUR"}
                customers.create_customer(conn, new, 0)
                funds = {"amount_minor": 10**9, "currency": "EUR", "reference": customer_id}
                customers.top_up(conn, customer_id, funds, 0)
        progress.advance(len(ids[start : start + 1000]))
    progress.finish()
    engine.dispose()
    return ids


def _prepare(
    url: str, db_url: str, count: int, batch: int, device_count: int, customer_count: int
) -> tuple[list[Kiosk], list[tuple[Kiosk, list[dict[str, Any]]]]]:
    """Register kiosks, fund customers, and sign every sale and batch up front."""
    customers = _funded_customers(db_url, customer_count)
    kiosks = [Kiosk(url, merchant_id=f"bench-merchant-{i % 2}") for i in range(device_count)]
    for kiosk in kiosks:
        kiosk.register().raise_for_status()
        # A high-volume kiosk's limits, set by its operator: the bench measures booking, not
        # the review path that sales over the default offline limits take.
        limits = {"unsynced_count_max": 10**6, "unsynced_total_max": 10**12}
        path = f"/v1/devices/{kiosk.device_id}/limits"
        kiosk.http.put(
            path, json={**limits, "per_customer_unsynced_max": 10**12}
        ).raise_for_status()
    progress = Progress("signing sales", count)
    batches = []
    rng = random.Random(7)
    for start in range(0, count, batch):
        kiosk = kiosks[(start // batch) % device_count]
        size = min(batch, count - start)
        batches.append(
            (kiosk, [kiosk.sale(rng.randint(100, 900), rng.choice(customers)) for _ in range(size)])
        )
        progress.advance(size)
    progress.finish()
    return kiosks, batches


def _ingest(
    kiosks: list[Kiosk], batches: list[tuple[Kiosk, list[dict[str, Any]]]], count: int
) -> tuple[float, int]:
    """Post every batch (kiosks in parallel, each kiosk in order); (seconds, sales accepted)."""
    bodies = {id(k): [(k.batch_body(r)) for kk, r in batches if kk is k] for k in kiosks}
    progress = Progress("ingesting sales", count)

    def run_kiosk(kiosk: Kiosk) -> int:
        accepted = 0
        for body in bodies[id(kiosk)]:
            answer = kiosk.send("POST", f"/v1/devices/{kiosk.device_id}/sales:batch", body)
            answer.raise_for_status()
            results = answer.json()["results"]
            accepted += sum(r["status"] == "accepted" for r in results)
            progress.advance(len(results))
        return accepted

    started = time.perf_counter()
    with ThreadPoolExecutor(len(kiosks)) as pool:
        accepted = sum(pool.map(run_kiosk, kiosks))
    elapsed = time.perf_counter() - started
    progress.finish()
    return elapsed, accepted


def _raw_row(record: dict[str, Any]) -> dict[str, Any]:
    """The row the ledger stores for a sale, built without the ledger."""
    return {
        "device_id": record["device_id"],
        "seq": record["seq"],
        "sale_id": record["sale_id"],
        "hash": wire.sale_hash(record),
        "merchant_id": "bench-merchant",
        "customer_id": record["customer_id"],
        "amount_minor": record["amount_minor"],
        "currency": record["currency"],
        "status": "accepted",
        "reason": None,
        "settle_later": False,
        "transfer_id": uuid.uuid4().hex,
        "received_ms": int(time.time() * 1000),
        "record_json": wire.canonical_text(wire.sale_body(record)),
        "signature": record["signature"],
    }


def raw_insert(engine: Engine, rows: list[dict[str, Any]], batch: int) -> float:
    """Seconds to insert `rows` into a copy of the sales table: executemany, one transaction
    per batch, one connection. The copy is dropped afterwards."""
    name = f"bench_raw_{uuid.uuid4().hex[:8]}"
    # Same columns, keys and unique index as the ledger's sales table.
    table = Table(name, MetaData(), *[column._copy() for column in sales.columns])
    table.create(engine)
    try:
        progress = Progress("raw insert", len(rows))
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            with engine.begin() as conn:
                conn.execute(table.insert(), rows[start : start + batch])
            progress.advance(min(batch, len(rows) - start))
        elapsed = time.perf_counter() - started
        progress.finish()
    finally:
        table.drop(engine)
    return elapsed
