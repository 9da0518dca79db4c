"""Enrolments and deletions through a hostile network: a real ledger process (killed and
restarted by the proxy), kiosks with real galleries and outboxes, seeded faults. Deletions come
from the operator at the ledger and from customers at kiosk B (with their payment code, queued
while B was offline and sent by its agent). The checker demands: every enrolment acknowledged on
kiosk A is at the ledger exactly once, kiosks A and B of the same merchant hold exactly the
customers not deleted, every deletion is confirmed by both, B's queued deletions all went
through, and kiosk C of another merchant holds nothing. Rerun a failure with
SMILEPAY_FAULT_SEED=<seed>."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from models.gallery import Consent, Gallery
from sync.agent.agent import SyncAgent
from sync.agent.client import LedgerClient
from sync.agent.device_identity import DeviceIdentity
from sync.queue.deletion_outbox import DeletionOutbox
from sync.queue.enrolment_outbox import EnrolmentOutbox, record_enrolment
from tests.sync.faultproxy import FaultPlan, FaultProxy
from tests.sync.harness import LedgerProcess, fast_sync_config, new_device, open_queue
from tests.timing import slow

SEEDS = [int(s) for s in os.environ.get("SMILEPAY_FAULT_SEED", "5,17").split(",")]
CUSTOMERS = 40
FORGOTTEN_AT_B = 5  # customers who delete their face data at kiosk B


def template(rng: np.random.Generator) -> np.ndarray:
    vector = rng.standard_normal(128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def enrol(gallery: Gallery, name: str, vector: np.ndarray) -> str:
    consent = Consent(name, "2026-12-01T00:00:00+00:00", "kiosk-a", "face-consent-v1")
    fields = {"text_version": "face-consent-v1", "accepted_at": consent.accepted_at}
    return gallery.enroll(
        name,
        [vector],
        consent,
        within=lambda conn, cid: record_enrolment(
            conn, cid, name, {**fields, "kiosk_id": "kiosk-a"}, ("73616c74", "68617368")
        ),
    )


def customer_token(ledger_url: str, customer_id: str) -> str:
    """A payment code the customer's phone fetched (the ledger runs --insecure-dev here)."""
    answer = httpx.post(
        f"{ledger_url}/v1/customers/{customer_id}/tokens", json={"ttl_s": 600}, timeout=slow(10)
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


def sync_through(identity: DeviceIdentity, url: str, gallery: Gallery, seed: int) -> None:
    """`sync run --until-drained` until it exits 0 (the faults make some runs fail)."""
    config = fast_sync_config()
    outbox = EnrolmentOutbox.open(identity.data_dir / "gallery.db")
    deletions = DeletionOutbox.open(identity.data_dir / "gallery.db")
    queue = open_queue(identity)
    with (
        closing(outbox),
        closing(deletions),
        LedgerClient(url, identity.device_id, identity.key, config) as client,
    ):
        agent = SyncAgent(
            queue,
            client,
            identity.key,
            config,
            gallery=gallery,
            outbox=outbox,
            deletions=deletions,
            rng=random.Random(seed),
        )
        for _ in range(200):
            if agent.run("until-drained") == 0:
                return
            time.sleep(0.01)
    raise AssertionError("never drained")


@pytest.fixture()
def ledger(tmp_path: Path) -> Iterator[LedgerProcess]:
    from base.keys import create_key_file

    create_key_file(tmp_path / "issuer.key")
    process = LedgerProcess(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        tmp_path / "ledger.log",
        tmp_path / "template.key",
        tmp_path / "issuer.key",
    ).start()
    yield process
    process.kill()


def open_gallery(identity: DeviceIdentity) -> Gallery:
    return Gallery.open(identity.data_dir / "gallery.db", identity.data_dir / "template.key")


@pytest.mark.parametrize("seed", SEEDS)
def test_enrolments_and_deletions_arrive_exactly_once_under_faults(
    ledger: LedgerProcess, tmp_path: Path, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    proxy = FaultProxy(
        ("127.0.0.1", ledger.port), FaultPlan(seed=seed, rate=0.35, delay_s=slow(0.3))
    )

    def restart() -> None:
        ledger.restart()
        proxy.upstream = ("127.0.0.1", ledger.port)

    proxy.restart_ledger = restart
    proxy.start()
    a, b = (new_device(tmp_path / n, ledger.url, merchant_id="shop-1") for n in ("a", "b"))
    c = new_device(tmp_path / "c", ledger.url, merchant_id="shop-2")
    galleries = {k: open_gallery(identity) for k, identity in (("a", a), ("b", b), ("c", c))}
    try:
        # GIVEN kiosk A enrols customers while syncing through the faulty link
        enrolled = [enrol(galleries["a"], f"n{i}", template(rng)) for i in range(CUSTOMERS)]
        sync_through(a, proxy.url, galleries["a"], seed)
        # AND the operator deletes a quarter of them
        deleted = set(enrolled[: CUSTOMERS // 4])
        for customer in deleted:
            httpx.delete(
                f"{ledger.url}/v1/customers/{customer}", timeout=slow(10)
            ).raise_for_status()
        # AND kiosk B, offline, takes five customers' payment codes to delete their face data:
        # each request queued, then B's copy removed at once (what `face forget` does)
        sync_through(b, proxy.url, galleries["b"], seed)
        forgotten = enrolled[CUSTOMERS // 4 : CUSTOMERS // 4 + FORGOTTEN_AT_B]
        with closing(DeletionOutbox.open(b.data_dir / "gallery.db")) as queued:
            for customer in forgotten:
                token = customer_token(ledger.url, customer)
                queued.add(customer, token, int(time.time() * 1000), "2026-12-01T00:00:00Z")
                assert galleries["b"].delete(customer, "customer asked at this kiosk")
        # WHEN every kiosk syncs through the faults (B first: its queued deletions go up)
        for name, identity in (("b", b), ("a", a), ("c", c)):
            sync_through(identity, proxy.url, galleries[name], seed)
    finally:
        proxy.stop()
    summary = f"SEED {seed} ({proxy.summary()})"
    # THEN the ledger holds each enrolment exactly once (one upsert change per customer)
    engine = sa.create_engine(ledger.db_url)
    with engine.connect() as conn:
        upserts = conn.execute(
            sa.text(
                "SELECT customer_id, COUNT(*) FROM gallery_changes WHERE action = 'upsert'"
                " GROUP BY customer_id"
            )
        ).all()
        confirmed = conn.execute(
            sa.text("SELECT customer_id, device_id FROM deletions WHERE confirmed_ms IS NOT NULL")
        ).all()
    engine.dispose()
    assert dict(upserts) == {customer: 1 for customer in enrolled}, summary
    # AND B holds exactly the customers not deleted, A the same, C nothing
    deleted |= set(forgotten)
    kept = set(enrolled) - deleted
    for name in ("a", "b"):
        assert {x.customer_id for x in galleries[name].customers()} == kept, (name, summary)
    assert galleries["c"].customers() == [], summary
    # AND each deletion is confirmed by both kiosks of the merchant, and by no other
    expected = {(customer, d.device_id) for customer in deleted for d in (a, b)}
    assert set(confirmed) == expected, summary
    # AND A's outbox is empty
    with closing(EnrolmentOutbox.open(a.data_dir / "gallery.db")) as outbox:
        assert outbox.counts() == {"pending": 0, "refused": 0}, summary
    # AND B's queued deletions were all taken (none refused, none left)
    with closing(DeletionOutbox.open(b.data_dir / "gallery.db")) as queued:
        assert queued.counts() == {"pending": 0, "refused": 0}, summary
    for gallery in galleries.values():
        gallery.close()
