"""The agent against a real ledger (uvicorn on a real socket, SQLite) and a real device queue:
identity, push and resume, pulls (limits, clock, gallery and erasure), status, and online
authorisation with its offline fallback."""

from __future__ import annotations

import base64
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from base import wire
from base.limits import OfflineLimits
from device.cli import main as smilepay
from models.gallery import Gallery
from sync.agent.agent import SyncAgent, load_status
from sync.agent.authorization import SaleDeclined, authorize_or_fallback
from sync.agent.client import LedgerClient, LedgerRefused, LedgerUnavailable
from sync.agent.device_identity import DeviceIdentity, IdentityError, init_device
from sync.ledger.app import create_app
from sync.ledger.server import RunningServer, serve_in_thread
from sync.queue.draft import SaleDraft
from sync.queue.errors import LimitExceeded
from tests.sync.faultproxy import FaultPlan, FaultProxy
from tests.sync.harness import check_device, fast_sync_config, ledger_sales, new_device, open_queue
from tests.timing import slow


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    key_file = tmp_path_factory.mktemp("ledger-keys") / "template.key"
    server = serve_in_thread(create_app(db_url, template_key_file=key_file))
    yield server, db_url
    server.stop()


def sell(queue: Any, count: int, **fields: Any) -> dict[str, dict[str, Any]]:
    records = [
        queue.enqueue_sale(SaleDraft(amount_minor=100 + i, currency="EUR", method="face", **fields))
        for i in range(count)
    ]
    return {r["sale_id"]: r for r in records}


def agent_for(identity: DeviceIdentity, queue: Any, url: str, **kwargs: Any) -> SyncAgent:
    config = fast_sync_config()
    client = LedgerClient(url, identity.device_id, identity.key, config)
    return SyncAgent(queue, client, identity.key, config, **kwargs)


def operator(url: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{url}{path}", json=body, timeout=slow(10))
    response.raise_for_status()
    return response.json()


def funded_customer(url: str, amount: int) -> str:
    customer_id = operator(url, "POST", "/v1/customers", {"name": "Ada", "currency": "EUR"})[
        "customer_id"
    ]
    operator(
        url,
        "POST",
        f"/v1/customers/{customer_id}/topups",
        {"amount_minor": amount, "currency": "EUR", "reference": f"top-{customer_id}"},
    )
    return str(customer_id)


# --- identity ------------------------------------------------------------------------------------


def test_device_init_creates_a_private_key_and_registers_and_a_rerun_is_harmless(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, _ = ledger
    # GIVEN a fresh data directory WHEN `smilepay device init` runs twice
    command = ["device", "init", "--data-dir", str(tmp_path), "--ledger-url", server.url]
    assert smilepay(command) == 0
    first = DeviceIdentity.load(tmp_path)
    again = init_device(tmp_path, server.url)
    # THEN the key is 0600, the id is kept, and the ledger accepts the same key again
    key_file = tmp_path / "keys" / "device_ed25519.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert again.device_id == first.device_id
    assert again.key.private_bytes_raw() == first.key.private_bytes_raw()


def test_loading_an_identity_that_was_never_created_names_the_command_to_run(
    tmp_path: Path,
) -> None:
    with pytest.raises(IdentityError, match="smilepay device init"):
        DeviceIdentity.load(tmp_path)


# --- push ----------------------------------------------------------------------------------------


def test_until_drained_pushes_every_sale_once_and_records_success(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, db_url = ledger
    identity = new_device(tmp_path, server.url)
    queue = open_queue(identity)
    acknowledged = sell(queue, 37)
    # WHEN the agent runs until drained
    code = agent_for(identity, queue, server.url).run("until-drained")
    # THEN all 37 are in the ledger exactly once and the status shows success
    assert code == 0
    verdict = check_device(acknowledged, ledger_sales(db_url, identity.device_id), queue)
    assert verdict.in_ledger == 37 and not (verdict.lost or verdict.problems), verdict.summary()
    status = queue.status()
    assert status.last_sync_ok_at is not None and status.last_error is None
    assert load_status(queue).online is True


def test_a_batch_the_ledger_committed_but_never_answered_is_resent_and_marked_duplicate(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    # GIVEN a batch the ledger booked while the device crashed before applying the answer
    server, db_url = ledger
    identity = new_device(tmp_path, server.url)
    queue = open_queue(identity)
    acknowledged = sell(queue, 10)
    batch = queue.pending_batch(6, 10**6)
    with LedgerClient(server.url, identity.device_id, identity.key) as client:
        client.send_batch(batch, wire.sign_head(identity.device_id, batch, identity.key))
    assert queue.status().backlog_count == 10  # the answer was lost with the crash
    # WHEN the agent starts again
    agent_for(identity, queue, server.url).run("until-drained")
    # THEN the ledger still holds each sale once, and the device is drained
    verdict = check_device(acknowledged, ledger_sales(db_url, identity.device_id), queue)
    assert verdict.in_ledger == 10 and not (verdict.duplicated or verdict.problems)


def test_an_unreachable_ledger_is_recorded_as_offline_with_the_error(tmp_path: Path) -> None:
    # GIVEN a device whose ledger is gone
    identity = init_identity_offline(tmp_path)
    queue = open_queue(identity)
    sell(queue, 2)
    # WHEN the agent tries once
    code = agent_for(identity, queue, "http://127.0.0.1:9").run("once")
    # THEN it reports failure, keeps the sales, and the status says offline with the reason
    assert code == 1
    assert queue.status().backlog_count == 2
    status = load_status(queue)
    assert status.online is False and status.last_error
    assert queue.status().last_error == status.last_error


def init_identity_offline(data_dir: Path) -> DeviceIdentity:
    """An identity whose registration could not reach any ledger (device.json is still kept)."""
    with pytest.raises(LedgerUnavailable):
        init_device(data_dir, "http://127.0.0.1:9")
    return DeviceIdentity.load(data_dir)


def test_a_revoked_device_is_refused_and_says_so_in_its_status(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, _ = ledger
    identity = new_device(tmp_path, server.url)
    queue = open_queue(identity)
    sell(queue, 1)
    operator(server.url, "POST", f"/v1/devices/{identity.device_id}:revoke")
    assert agent_for(identity, queue, server.url).run("once") == 1
    status = load_status(queue)
    assert status.online is True  # the ledger answered: this is not a network problem
    assert "403" in (status.last_error or "")


# --- pull ----------------------------------------------------------------------------------------


def test_limits_set_at_the_ledger_reach_the_device_queue(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, _ = ledger
    identity = new_device(tmp_path, server.url, limits=None)
    tight = OfflineLimits(
        per_sale_max=300,
        unsynced_total_max=1000,
        unsynced_count_max=3,
        oldest_unsynced_max_s=60,
        per_customer_unsynced_max=500,
    )
    operator(server.url, "PUT", f"/v1/devices/{identity.device_id}/limits", tight.model_dump())
    queue = open_queue(identity)
    agent_for(identity, queue, server.url).run("once")
    assert queue.limits == tight
    with pytest.raises(LimitExceeded):
        queue.enqueue_sale(SaleDraft(amount_minor=301, currency="EUR", method="face"))


def test_a_ledger_clock_two_minutes_ahead_raises_the_drift_alarm(tmp_path: Path) -> None:
    # GIVEN a ledger whose clock is 120 s ahead of the device's
    server = serve_in_thread(
        create_app(f"sqlite:///{tmp_path / 'l.db'}", clock=lambda: time.time() + 120)
    )
    try:
        identity = new_device(tmp_path / "kiosk", server.url)
        queue = open_queue(identity)
        sell(queue, 1)
        before = queue.get_record(next(iter(sell(queue, 1))))
        agent_for(identity, queue, server.url).run("once")
    finally:
        server.stop()
    # THEN the offset is measured and the alarm raised; recorded times are not rewritten
    clock = load_status(queue).clock
    assert clock["drift_alarm"] is True
    assert clock["offset_ms"] == pytest.approx(120_000, abs=2_000)
    assert before is not None and queue.get_record(before["sale_id"]) == before


def template_b64(seed: int) -> str:
    vector = np.random.default_rng(seed).normal(size=128).astype("<f4")
    vector /= np.linalg.norm(vector)
    return base64.b64encode(vector.tobytes()).decode()


def test_gallery_enrolments_arrive_and_an_erasure_is_applied_and_confirmed(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, _ = ledger
    # GIVEN a customer enrolled on another kiosk
    other = new_device(tmp_path / "other", server.url)
    kiosk = new_device(tmp_path / "kiosk", server.url)
    customer_id = f"cust-{kiosk.device_id[:8]}"
    with LedgerClient(server.url, other.device_id, other.key) as client:
        client.enroll(
            {
                "customer_id": customer_id,
                "name": "Grace",
                "currency": "EUR",
                "template_b64": template_b64(1),
                "consent": {
                    "text_version": "v1",
                    "accepted_at": "2026-01-01T00:00:00Z",
                    "kiosk_id": other.device_id,
                },
            }
        )
    gallery = Gallery.open(tmp_path / "kiosk" / "gallery.db", tmp_path / "kiosk" / "t.key")
    queue = open_queue(kiosk)
    agent = agent_for(kiosk, queue, server.url, gallery=gallery)
    # WHEN this kiosk syncs THEN it can match the customer
    agent.run("once")
    match = gallery.search(np.frombuffer(base64.b64decode(template_b64(1)), "<f4"))
    assert match is not None and match.best_id == customer_id
    # WHEN the customer is erased at the ledger and the kiosk syncs again
    operator(server.url, "DELETE", f"/v1/customers/{customer_id}")
    agent.run("once")
    # THEN the template is gone here, and the ledger shows this kiosk confirmed it
    assert customer_id not in {c.customer_id for c in gallery.customers()}
    view = operator(server.url, "GET", f"/v1/customers/{customer_id}")
    assert kiosk.device_id in view["deletion"]["confirmed_by"]


# --- online authorisation ------------------------------------------------------------------------


def test_an_approved_sale_is_queued_online_and_booked_once(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, db_url = ledger
    identity = new_device(tmp_path, server.url)
    queue = open_queue(identity)
    customer_id = funded_customer(server.url, 10_000)
    with LedgerClient(server.url, identity.device_id, identity.key) as client:
        record, online = authorize_or_fallback(
            client,
            queue,
            SaleDraft(amount_minor=1250, currency="EUR", method="face", customer_id=customer_id),
            timeout_s=slow(5),
        )
    assert online and record["offline"] is False and record["auth_id"]
    agent_for(identity, queue, server.url).run("until-drained")
    assert operator(server.url, "GET", f"/v1/customers/{customer_id}")["balance_minor"] == 8750
    assert len(ledger_sales(db_url, identity.device_id)) == 1


def test_a_declined_sale_raises_and_queues_nothing(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, _ = ledger
    identity = new_device(tmp_path, server.url)
    queue = open_queue(identity)
    customer_id = funded_customer(server.url, 100)
    with (
        LedgerClient(server.url, identity.device_id, identity.key) as client,
        pytest.raises(SaleDeclined),
    ):
        authorize_or_fallback(
            client,
            queue,
            SaleDraft(amount_minor=5000, currency="EUR", method="face", customer_id=customer_id),
        )
    assert queue.status().last_seq == 0


def sell_with_answer_lost(
    server: RunningServer, identity: DeviceIdentity, queue: Any, customer_id: str
) -> tuple[dict[str, Any], bool]:
    """Ask for authorisation over a link that holds the ledger's answer past the timeout."""
    host, port = server.url.removeprefix("http://").split(":")
    proxy = FaultProxy(
        (host, int(port)), FaultPlan(seed=1, rate=1.0, kinds=("delay",), delay_s=1.0)
    ).start()
    try:
        with LedgerClient(proxy.url, identity.device_id, identity.key) as client:
            return authorize_or_fallback(
                client,
                queue,
                SaleDraft(amount_minor=700, currency="EUR", method="face", customer_id=customer_id),
                timeout_s=0.3,
            )
    finally:
        proxy.stop()


def test_an_approval_lost_in_transit_falls_back_offline_and_the_sale_is_booked_once(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    # GIVEN a hold placed at the ledger whose approval never reached the kiosk
    server, db_url = ledger
    identity = new_device(tmp_path, server.url)
    queue = open_queue(identity)
    customer_id = funded_customer(server.url, 10_000)
    record, online = sell_with_answer_lost(server, identity, queue, customer_id)
    # THEN the kiosk sold offline under the same sale id the ledger holds money for
    assert not online and record["offline"] is True
    # WHEN it syncs THEN the ledger booked it once: one sale row, the wallet charged once,
    #   and the hold placed for the lost approval is resolved by the sale, not left pending
    agent_for(identity, queue, server.url).run("until-drained")
    rows = ledger_sales(db_url, identity.device_id)
    assert [r["sale_id"] for r in rows] == [record["sale_id"]]
    view = operator(server.url, "GET", f"/v1/customers/{customer_id}")
    assert view["balance_minor"] == 9300 and view["held_minor"] == 0


def test_an_unreachable_ledger_sells_offline_but_only_within_the_limits(tmp_path: Path) -> None:
    identity = init_identity_offline(tmp_path)
    queue = open_queue(identity, OfflineLimits(per_sale_max=1000))
    with LedgerClient("http://127.0.0.1:9", identity.device_id, identity.key) as client:
        record, online = authorize_or_fallback(
            client,
            queue,
            SaleDraft(amount_minor=900, currency="EUR", method="face", customer_id="c-1"),
            timeout_s=0.5,
        )
        assert not online and record["offline"] is True
        with pytest.raises(LimitExceeded):
            authorize_or_fallback(
                client,
                queue,
                SaleDraft(amount_minor=1001, currency="EUR", method="face", customer_id="c-1"),
            )
    assert queue.status().last_seq == 1


def test_a_refusal_other_than_a_decline_is_raised_not_sold_offline(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    server, _ = ledger
    identity = new_device(tmp_path, server.url)
    operator(server.url, "POST", f"/v1/devices/{identity.device_id}:revoke")
    queue = open_queue(identity)
    with (
        LedgerClient(server.url, identity.device_id, identity.key) as client,
        pytest.raises(LedgerRefused),
    ):
        authorize_or_fallback(
            client,
            queue,
            SaleDraft(amount_minor=100, currency="EUR", method="face", customer_id="c-1"),
        )
    assert queue.status().last_seq == 0


# --- CLI -----------------------------------------------------------------------------------------


def test_sync_now_leaves_a_request_the_agent_picks_up(tmp_path: Path) -> None:
    assert smilepay(["sync", "now", "--data-dir", str(tmp_path)]) == 0
    assert (tmp_path / "sync-now").exists()


def test_a_sale_the_ledger_rejects_stays_flagged_and_until_drained_exits_1(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    # GIVEN a kiosk whose data directory was cloned (same key, same device id) before any sale,
    #   and the original has already synced its own sales 1 and 2
    server, db_url = ledger
    original = new_device(tmp_path / "a", server.url)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    clone = DeviceIdentity.load(tmp_path / "b")
    first = sell(open_queue(original), 2)
    agent_for(original, open_queue(original), server.url).run("until-drained")
    clone_queue = open_queue(clone)
    sell(clone_queue, 2)
    # WHEN the clone syncs its own, different, sales 1 and 2
    code = agent_for(clone, clone_queue, server.url).run("until-drained")
    # THEN the ledger rejects them, keeps the original's, and the clone keeps them flagged
    assert code == 1
    assert {r["sale_id"] for r in ledger_sales(db_url, original.device_id)} == set(first)
    status = clone_queue.status()
    assert status.rejected_count >= 1 and status.backlog_count == 2


def test_until_drained_gives_up_when_the_ledger_refuses_the_batch(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    # GIVEN batches larger than the ledger accepts (a misconfiguration, not a network fault)
    server, _ = ledger
    identity = new_device(tmp_path, server.url)
    queue = open_queue(identity)
    sell(queue, 3)
    config = fast_sync_config(batch_size=5000)
    with LedgerClient(server.url, identity.device_id, identity.key, config) as client:
        agent = SyncAgent(queue, client, identity.key, config)
        # WHEN it runs until drained THEN it exits 1 at once instead of retrying forever
        assert agent.run("until-drained") == 0  # 3 sales fit: the limit is on records sent
    sell(queue, 1001)
    with LedgerClient(server.url, identity.device_id, identity.key, config) as client:
        agent = SyncAgent(queue, client, identity.key, config)
        assert agent.run("until-drained") == 1
    assert "400" in (load_status(queue).last_error or "")
    assert queue.status().backlog_count == 1001


def test_without_a_template_key_enrolments_wait_while_sales_and_deletions_go_through(
    tmp_path: Path,
) -> None:
    from sync.queue.enrolment_outbox import EnrolmentOutbox, record_enrolment

    # GIVEN a ledger started without --template-key-file, and a kiosk with a sale to push and
    # an enrolment in its outbox
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    server = serve_in_thread(create_app(db_url))
    try:
        kiosk = new_device(tmp_path / "kiosk", server.url)
        queue = open_queue(kiosk)
        sold = sell(queue, 2)
        gallery = Gallery.open(tmp_path / "kiosk" / "gallery.db", tmp_path / "kiosk" / "t.key")
        vector = np.frombuffer(base64.b64decode(template_b64(3)), "<f4")
        consent = {"text_version": "v1", "accepted_at": "2026-01-01T00:00:00Z", "kiosk_id": "k"}
        customer_id = gallery.enroll(
            "Hedy",
            [vector],
            _consent(),
            within=lambda conn, cid: record_enrolment(conn, cid, "Hedy", consent),
        )
        outbox = EnrolmentOutbox.open(tmp_path / "kiosk" / "gallery.db")
        agent = agent_for(kiosk, queue, server.url, gallery=gallery, outbox=outbox)
        # WHEN the agent runs until drained
        code = agent.run("until-drained")
        # THEN the sales are at the ledger, and the enrolment is still queued (not lost, not
        # marked refused), with the reason on record
        assert {r["sale_id"] for r in ledger_sales(db_url, kiosk.device_id)} == set(sold)
        assert queue.status().backlog_count == 0
        assert outbox.counts() == {"pending": 1, "refused": 0}
        assert [e.customer_id for e in outbox.pending()] == [customer_id]
        status = load_status(queue)  # a cycle counts as a success only after its gallery pull
        assert status.online is True and status.last_ok_at is not None
        assert status.enrolments_held and "enrolments" in status.enrolments_held
        # AND until-drained says it could not push everything
        assert code == 1
    finally:
        server.stop()


def _consent() -> Any:
    from models.gallery import Consent

    return Consent("Hedy", "2026-01-01T00:00:00+00:00", "kiosk-test", "face-consent-v1")


def test_an_enrolment_the_ledger_refuses_for_good_is_set_aside_and_the_agent_moves_on(
    ledger: tuple[RunningServer, str], tmp_path: Path
) -> None:
    from sync.queue.enrolment_outbox import EnrolmentOutbox, record_enrolment

    server, _ = ledger
    kiosk = new_device(tmp_path / "kiosk", server.url)
    queue = open_queue(kiosk)
    gallery = Gallery.open(tmp_path / "kiosk" / "gallery.db", tmp_path / "kiosk" / "t.key")
    outbox = EnrolmentOutbox.open(tmp_path / "kiosk" / "gallery.db")
    agent = agent_for(kiosk, queue, server.url, gallery=gallery, outbox=outbox)
    consent = {"text_version": "v1", "accepted_at": "2026-01-01T00:00:00Z", "kiosk_id": "k"}
    vector = np.frombuffer(base64.b64decode(template_b64(4)), "<f4")

    def enrol(customer_id: str | None = None) -> str:
        return str(
            gallery.enroll(
                "Lise",
                [vector],
                _consent(),
                customer_id=customer_id,
                within=lambda conn, cid: record_enrolment(conn, cid, "Lise", consent),
            )
        )

    # GIVEN a customer enrolled here, uploaded, then erased at the ledger
    customer_id = enrol()
    assert agent.run("until-drained") == 0
    operator(server.url, "DELETE", f"/v1/customers/{customer_id}")
    assert agent.run("until-drained") == 0
    # WHEN the kiosk enrols the same customer id again
    enrol(customer_id)
    # THEN the ledger's 409 (customer erased) sets the row aside, without its step-up data,
    # and the agent drains instead of retrying it for ever
    assert agent.run("until-drained") == 0
    assert outbox.counts() == {"pending": 0, "refused": 1}
