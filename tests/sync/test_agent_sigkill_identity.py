"""Enrolments and queued deletions through a SIGKILLed agent: `smilepay sync run` as a real
process, killed at random moments while the kiosk keeps enrolling (and then takes customers'
deletions while offline), through a misbehaving network. After a final `--until-drained` run
each enrolment is at the ledger exactly once, each queued deletion was taken and confirmed,
and both outboxes are empty. Failures name the seed (SMILEPAY_KILL_SEED)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from base.keys import create_key_file
from device.config import KioskConfig
from models.gallery import Gallery
from sync.agent.device_identity import DeviceIdentity
from sync.queue.deletion_outbox import DeletionOutbox
from sync.queue.enrolment_outbox import EnrolmentOutbox
from tests.sync.faultproxy import FaultPlan, FaultProxy
from tests.sync.harness import LedgerProcess, new_device
from tests.sync.test_agent_sigkill import AGENT_CONFIG, STARTED, start_agent, wait_for
from tests.sync.test_fault_identity import customer_token, enrol, template
from tests.timing import slow

KILL_SEED = int(os.environ.get("SMILEPAY_KILL_SEED", "5"))
ENROLMENTS, DELETIONS, KILLS = 40, 10, 6


def open_gallery(identity: DeviceIdentity) -> Gallery:
    """The gallery where `smilepay sync run` looks for it: DATA_DIR/gallery.db and its key."""
    key = identity.data_dir / KioskConfig().secrets.template_key_file
    return Gallery.open(identity.data_dir / "gallery.db", key)


def kill_agent_lives(
    identity: DeviceIdentity, url: str, config: Path, log: Path, rng: random.Random, lives: int
) -> int:
    """Start and SIGKILL the agent `lives` times, then run it until drained; its exit code."""
    for life in range(lives):
        started = log.read_text().count(STARTED) if log.exists() else 0
        agent = start_agent(identity.data_dir, url, config, log)
        if life % 2:  # every other life is killed while working, not while starting up
            wait_for(lambda n=started: log.read_text().count(STARTED) > n, 60)
        time.sleep(rng.uniform(0.1, 2.0))
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(timeout=slow(10))
    final = start_agent(identity.data_dir, url, config, log, "--until-drained")
    return int(final.wait(timeout=slow(240)))


def test_sigkilled_agents_upload_each_enrolment_and_queued_deletion_exactly_once(
    tmp_path: Path,
) -> None:
    seed = KILL_SEED
    rng, vectors = random.Random(seed), np.random.default_rng(seed)
    create_key_file(tmp_path / "issuer.key")
    ledger = LedgerProcess(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        tmp_path / "ledger.log",
        tmp_path / "template.key",
        tmp_path / "issuer.key",
    ).start()
    proxy = FaultProxy(
        ("127.0.0.1", ledger.port),
        FaultPlan(seed=seed, rate=0.15, delay_s=slow(0.3), max_restarts=0),
    ).start()
    kiosk = new_device(tmp_path / "kiosk", ledger.url, merchant_id="shop-1")
    config, log = tmp_path / "agent.toml", tmp_path / "agent.log"
    config.write_text(AGENT_CONFIG.format(batch=5))
    gallery = open_gallery(kiosk)
    enrolled: list[str] = []

    def keep_enrolling() -> None:
        for number in range(ENROLMENTS):
            enrolled.append(enrol(gallery, f"n{number}", template(vectors)))
            time.sleep(KILLS * 1.0 / ENROLMENTS)

    try:
        # GIVEN a kiosk enrolling customers while its agent is killed again and again
        producer = threading.Thread(target=keep_enrolling)
        producer.start()
        first = kill_agent_lives(kiosk, proxy.url, config, log, rng, KILLS)
        producer.join(timeout=slow(60))
        # AND then, offline, customers deleting their face data with their payment codes
        forgotten = rng.sample(enrolled, DELETIONS)
        with closing(DeletionOutbox.open(kiosk.data_dir / "gallery.db")) as queued:
            for customer in forgotten:
                token = customer_token(ledger.url, customer)
                queued.add(customer, token, int(time.time() * 1000), "")
                assert gallery.delete(customer, "customer asked at this kiosk")
        # WHEN the agent is killed a few more times and finally runs until drained
        second = kill_agent_lives(kiosk, proxy.url, config, log, rng, KILLS // 2)
    finally:
        proxy.stop()
    summary = f"SMILEPAY_KILL_SEED={seed} {proxy.summary()}"
    assert (first, second) == (0, 0), f"{summary}: --until-drained exited {first}, {second}"
    # THEN each enrolment is at the ledger exactly once (one upsert change per customer)
    engine = sa.create_engine(ledger.db_url)
    with engine.connect() as conn:
        upserts = conn.execute(
            sa.text(
                "SELECT customer_id, COUNT(*) FROM gallery_changes WHERE action = 'upsert'"
                " GROUP BY customer_id"
            )
        ).all()
        confirmed = conn.execute(
            sa.text("SELECT customer_id FROM deletions WHERE confirmed_ms IS NOT NULL")
        ).all()
    engine.dispose()
    ledger.kill()
    assert dict(upserts) == dict.fromkeys(enrolled, 1), summary
    # AND each queued deletion was taken at the ledger and confirmed by the kiosk
    assert sorted(row[0] for row in confirmed) == sorted(forgotten), summary
    # AND the kiosk holds exactly the others, and both outboxes are empty
    assert {c.customer_id for c in gallery.customers()} == set(enrolled) - set(forgotten)
    with closing(EnrolmentOutbox.open(kiosk.data_dir / "gallery.db")) as outbox:
        assert outbox.counts() == {"pending": 0, "refused": 0}, summary
    with closing(DeletionOutbox.open(kiosk.data_dir / "gallery.db")) as queued:
        assert queued.counts() == {"pending": 0, "refused": 0}, summary
    gallery.close()
