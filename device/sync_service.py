"""`smilepay sync run`: assemble the agent from the data directory and config, and run it."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from base.logs import configure_logging
from base.progress import Progress
from device.config import KioskConfig, load_config
from device.service import systemd_service
from sync.agent.agent import PushOutcome, RunMode, SyncAgent
from sync.agent.client import LedgerClient
from sync.agent.device_identity import DeviceIdentity
from sync.agent.trigger import SyncTrigger
from sync.queue.deletion_outbox import DeletionOutbox
from sync.queue.enrolment_outbox import EnrolmentOutbox

log = logging.getLogger("smilepay.sync")


def open_queue(data_dir: Path, identity: DeviceIdentity, config: KioskConfig) -> Any:
    """The device queue in `data_dir`, signing with the device's key."""
    from sync.queue.sale_queue import SaleQueue

    return SaleQueue.open(
        data_dir,
        device_id=identity.device_id,
        signing_key=identity.key,
        limits=config.limits,
        allow_tmpfs=config.queue.allow_tmpfs,
    )


class LazyGallery:
    """The kiosk's face gallery (`<data_dir>/gallery.db`), opened at the first change to apply:
    the face stack (faiss, numpy) costs seconds to load and most pulls bring no changes."""

    def __init__(self, data_dir: Path, config: KioskConfig) -> None:
        self.path = data_dir / "gallery.db"
        # Relative secret paths belong to the data directory the agent was started on.
        self.key_path = data_dir / config.secrets.template_key_file
        self._gallery: Any = None

    def _open(self) -> Any:
        if self._gallery is None:
            from models.gallery import Gallery

            self._gallery = Gallery.open(self.path, self.key_path)
        return self._gallery

    def apply_changes(self, changes: list[tuple[str, str, str, Any]]) -> list[str]:
        """Apply a page of upserts and deletions in one transaction (see Gallery.apply_changes)."""
        removed: list[str] = self._open().apply_changes(changes)
        return removed

    def template_or_none(self, customer_id: str) -> Any:
        """A customer's template to upload, or None if it is no longer here."""
        from models.gallery import read_template

        if self._gallery is not None:
            return self._gallery.template_or_none(customer_id)
        if not self.path.exists():
            return None
        return read_template(self.path, self.key_path, customer_id)


def run_agent(
    data_dir: Path, mode: RunMode, *, ledger_url: str | None = None, config_path: Path | None = None
) -> int:
    """Run the agent on `data_dir` until done (per `mode`) or SIGTERM/SIGINT; returns exit code."""
    configure_logging("sync")
    for chatty in ("alembic", "faiss"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    config = load_config(config_path)
    identity = DeviceIdentity.load(data_dir)
    url = ledger_url or identity.ledger_url
    trigger = SyncTrigger(data_dir, config.sync.trigger_poll_s)
    _install_signals(trigger)
    queue = open_queue(data_dir, identity, config)
    progress = Progress("synced", total=queue.status().backlog_count or None)
    with LedgerClient(url, identity.device_id, identity.key, config.sync) as client:
        agent = SyncAgent(
            queue,
            client,
            identity.key,
            config.sync,
            gallery=LazyGallery(data_dir, config),
            outbox=EnrolmentOutbox.open(data_dir / "gallery.db"),
            deletions=DeletionOutbox.open(data_dir / "gallery.db"),
            trigger=trigger,
            on_batch=lambda outcome: _advance(progress, outcome),
            refunds=_refund_queue(data_dir, identity, queue),
        )
        log.info(
            "sync agent started",
            extra={"device_id": identity.device_id, "ledger": url, "mode": mode},
        )
        with systemd_service(_agent_health(agent, config), f"syncing to {url}"):
            code = agent.run(mode)
    progress.finish()
    log.info("sync agent stopped", extra={"exit_code": code})
    return code


def _refund_queue(data_dir: Path, identity: DeviceIdentity, queue: Any) -> Any:
    """The kiosk's refund queue, when it has one (the terminal service makes it): pending
    refunds are sent with every cycle, as sales are."""
    from sync.queue.refunds import DB_NAME, RefundQueue

    if not (data_dir / DB_NAME).exists():
        return None
    return RefundQueue.open(data_dir, identity.device_id, identity.key, lambda: queue.limits)


def _agent_health(agent: SyncAgent, config: KioskConfig) -> Any:
    """Healthy while the agent's loop beats; the longest legitimate silence is one request."""
    from device.service import loops_health_check

    sync = config.sync
    max_age_s = sync.request_timeout_s + sync.read_timeout_s + 10.0
    return loops_health_check(lambda: {"sync": agent.heartbeat}, max_age_s)


def _advance(progress: Progress, outcome: PushOutcome) -> None:
    progress.advance(outcome.synced)


def _install_signals(trigger: SyncTrigger) -> None:
    signal.signal(signal.SIGTERM, lambda *_: trigger.stop())
    signal.signal(signal.SIGINT, lambda *_: trigger.stop())
    signal.signal(signal.SIGUSR1, lambda *_: trigger.poke())
