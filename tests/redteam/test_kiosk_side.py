"""The kiosk's side of the attacks: a poison sale must not block the backlog behind it, a token
pays once on the kiosk itself (declined at once, with a reason code the screen translates), the
queue keeps the token's nonce hash and never the token, and the device's data files are private.
A real device queue, sync agent and client against the real secured ledger."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from base.limits import OfflineLimits
from sync.agent.agent import SyncAgent
from sync.agent.authorization import SaleDeclined, authorize_or_fallback
from sync.agent.client import LedgerClient
from sync.agent.device_identity import DeviceIdentity, init_device
from sync.queue import SaleDraft
from sync.queue.errors import TokenAlreadyUsed
from sync.queue.sale_queue import SaleQueue
from tests.redteam.conftest import Secured
from tests.sync.harness import fast_sync_config
from tests.timing import slow


@pytest.fixture
def device(secured: Secured, tmp_path: Path) -> Iterator[tuple[DeviceIdentity, SaleQueue]]:
    identity = init_device(tmp_path / "device", secured.url, registration_token=secured.code())
    queue = SaleQueue.open(
        identity.data_dir,
        device_id=identity.device_id,
        signing_key=identity.key,
        limits=OfflineLimits(),
        allow_tmpfs=True,
    )
    yield identity, queue
    queue.close()


def draft(amount: int, customer: str | None, **fields: Any) -> SaleDraft:
    items = [{"name": "tea", "quantity": 1, "amount_minor": amount}]
    fields = {"method": "face", **fields}
    return SaleDraft(
        amount_minor=amount, currency="EUR", customer_id=customer, items=items, **fields
    )


def test_a_poison_sale_is_flagged_and_the_backlog_behind_it_syncs(
    secured: Secured, device: tuple[DeviceIdentity, SaleQueue]
) -> None:
    # GIVEN a backlog whose second sale names a customer id the ledger cannot book
    identity, queue = device
    customer = secured.customer(10_000)
    queue.enqueue_sale(draft(100, customer))
    poison = queue.enqueue_sale(draft(100, "not a valid id/..."))
    for _ in range(5):
        queue.enqueue_sale(draft(100, customer))
    # WHEN the agent drains the queue
    # generous timeouts: a loaded CI box
    config = fast_sync_config(read_timeout_s=slow(20.0), request_timeout_s=slow(30.0))
    with LedgerClient(secured.url, identity.device_id, identity.key, config) as client:
        agent = SyncAgent(queue, client, identity.key, config)
        outcome = agent.push()
    # THEN the poison sale is flagged rejected with the reason, and every other sale synced
    assert (outcome.synced, outcome.rejected, outcome.stalled) == (6, 1, False)
    flagged = [s for s in queue.records() if s.state == "rejected"]
    assert [s.sale_id for s in flagged] == [poison["sale_id"]]
    assert (flagged[0].reason or "").startswith("malformed: customer_id")
    status = queue.status()
    assert (status.backlog_count, status.rejected_count) == (1, 1)
    assert secured.view(customer)["balance_minor"] == 10_000 - 600


def test_a_token_pays_once_on_the_kiosk_even_offline(
    secured: Secured, device: tuple[DeviceIdentity, SaleQueue], tmp_path: Path
) -> None:
    identity, queue = device
    customer = secured.customer(10_000)
    token = secured.token(customer)
    evidence = {"kind": "token", "code": token}
    # GIVEN an offline kiosk (no ledger) that took the token once
    offline = LedgerClient(
        "http://127.0.0.1:9", identity.device_id, identity.key, fast_sync_config()
    )
    first = draft(300, customer, method="customer_qr", evidence=evidence)
    record, online = authorize_or_fallback(offline, queue, first, timeout_s=0.5)
    assert online is False
    # THEN the record keeps the nonce hash and the expiry, never the token
    assert "code" not in record["evidence"] and len(record["evidence"]["token_nonce_sha256"]) == 64
    assert token not in (tmp_path / "device" / "device.db").read_bytes().decode("latin-1")
    # WHEN the same token is shown again, offline
    again = draft(300, customer, method="customer_qr", evidence=evidence)
    with pytest.raises(SaleDeclined) as declined:
        authorize_or_fallback(offline, queue, again, timeout_s=0.5)
    # THEN it is declined at once, with the code the screen translates
    assert (declined.value.reason or "").startswith("token_already_used")
    # AND the queue itself refuses it too (any caller)
    with pytest.raises(TokenAlreadyUsed):
        queue.enqueue_sale(
            draft(300, customer, method="customer_qr", evidence=evidence, sale_id=str(uuid.uuid4()))
        )
    offline.close()


def test_the_devices_data_files_are_private(device: tuple[DeviceIdentity, SaleQueue]) -> None:
    identity, _ = device
    assert stat.S_IMODE(identity.data_dir.stat().st_mode) == 0o700
    for name in ("device.db", "device.json", "keys/device_ed25519.key"):
        mode = stat.S_IMODE((identity.data_dir / name).stat().st_mode)
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"
    for companion in identity.data_dir.glob("device.db-*"):
        assert stat.S_IMODE(companion.stat().st_mode) & 0o077 == 0, companion.name


def test_the_gallery_is_private(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    from models.gallery import Gallery

    gallery = Gallery.open(tmp_path / "data" / "gallery.db", tmp_path / "data" / "t.key")
    gallery.close()
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    for path in (tmp_path / "data").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name
