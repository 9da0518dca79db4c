"""The sync agent: pushes the queue to the ledger exactly once, pulls gallery, limits and time.

Exactly once comes from two halves: the ledger is idempotent on (device, seq) and sale id, and
the device marks sales synced only from the ledger's per-sale answer, in one local transaction.
So any request may be lost, repeated, delayed or answered after a crash: the worst case is a
resend that the ledger answers `duplicate`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from base.backoff import Backoff
from base.limits import OfflineLimits
from sync.agent.client import LedgerClient, LedgerError, LedgerUnavailable
from sync.agent.clock import ClockSample, ClockWatch
from sync.agent.config import SyncConfig
from sync.agent.gallery_sync import (
    DeletionsLike,
    EnrolmentsHeld,
    OutboxLike,
    local_changes,
    push_deletions,
    push_enrolments,
)
from sync.agent.refunds import push_refunds
from sync.agent.trigger import SyncTrigger
from sync.queue.refunds import RefundQueue

WAIT_SLICE_S = 1.0
log = logging.getLogger("smilepay.sync")

STATUS_KEY = "sync.status"
GALLERY_CURSOR_KEY = "sync.gallery_cursor"
# Read by `SaleQueue.status()` for the screen and `smilepay queue status`.
QUEUE_LAST_OK_KEY = "last_sync_ok_at"
QUEUE_LAST_ERROR_KEY = "last_error"
SYNCED_STATUSES = ("accepted", "duplicate", "declined")
RunMode = Literal["forever", "once", "until-drained"]


class SaleQueueLike(Protocol):
    """The part of `sync.queue.SaleQueue` the agent uses."""

    def pending_batch(self, max_count: int, max_bytes: int) -> list[dict[str, Any]]: ...
    def apply_results(self, results: list[wire.SaleResult]) -> Any: ...
    def set_limits(self, limits: OfflineLimits) -> Any: ...
    def observe_ledger_time(self, ledger_time_ms: int) -> Any: ...
    def get_state(self, key: str) -> Any: ...
    def put_state(self, key: str, value: Any) -> Any: ...
    def status(self) -> Any: ...


class GalleryLike(Protocol):
    """The part of `models.gallery.Gallery` the agent uses."""

    def apply_changes(self, changes: list[tuple[str, str, str, Any]]) -> list[str]: ...
    def template_or_none(self, customer_id: str) -> Any: ...


@dataclass
class PushOutcome:
    """What one push did: records sent and how the ledger answered them."""

    sent: int = 0
    synced: int = 0
    rejected: int = 0
    batches: int = 0
    drained: bool = False  # the queue had nothing (more) to send
    stalled: bool = False  # a batch changed nothing (no sale synced or flagged rejected)


@dataclass
class SyncStatus:
    """What the screen and `smilepay queue ls` show about the link to the ledger."""

    online: bool | None = None
    last_ok_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    consecutive_failures: int = 0
    clock: dict[str, Any] = field(default_factory=dict)
    # Why enrolments wait in the outbox although the ledger answers (None: they do not).
    enrolments_held: str | None = None


class ProtocolViolation(LedgerUnavailable):
    """The ledger's answer does not match what was sent; nothing is applied."""


class SyncAgent:
    """Moves sales from the device queue to the ledger and ledger state back to the device."""

    def __init__(
        self,
        queue: SaleQueueLike,
        client: LedgerClient,
        key: Ed25519PrivateKey,
        config: SyncConfig | None = None,
        *,
        gallery: GalleryLike | None = None,
        outbox: OutboxLike | None = None,
        trigger: SyncTrigger | None = None,
        rng: random.Random | None = None,
        on_batch: Callable[[PushOutcome], None] | None = None,
        refunds: RefundQueue | None = None,
        deletions: DeletionsLike | None = None,
    ) -> None:
        self.queue = queue
        self.refunds = refunds  # the device's refund queue (sync/queue/refunds.py), if any
        self.client = client
        self.config = config or client.config
        self.gallery = gallery
        self.outbox = outbox
        self.deletions = deletions  # deletions customers asked for while offline
        self.trigger = trigger
        self._key = key
        self.backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s, rng)
        self.clock = ClockWatch(self.config.clock_drift_alarm_s)
        self.status = SyncStatus()
        self._last_sample: ClockSample | None = None
        self._on_batch = on_batch
        # time.monotonic() of the loop's last sign of life, for the systemd watchdog.
        self.heartbeat = time.monotonic()

    # --- push ----------------------------------------------------------------------------------

    def push_batch(self) -> PushOutcome:
        """Send the oldest pending sales as one signed batch and apply the ledger's answers."""
        records = self.queue.pending_batch(self.config.batch_size, self.config.max_batch_bytes)
        if not records:
            return PushOutcome(drained=True)
        head = wire.sign_head(self.client.device_id, records, self._key)
        backlog_after = max(int(self.queue.status().backlog_count) - len(records), 0)
        answer = self.client.send_batch(records, head, backlog_after)
        self._note_clock()
        results = _matching_results(records, answer.results)
        self.queue.apply_results(results)
        synced = sum(r.status in SYNCED_STATUSES for r in results)
        rejected = [r for r in results if r.status == "rejected"]
        for result in rejected:
            log.error(
                "sale rejected by ledger",
                extra={"sale_id": result.sale_id, "seq": result.seq, "reason": result.reason},
            )
        log.info(
            "batch synced",
            extra={
                "sent": len(records),
                "synced": synced,
                "backlog_after": backlog_after,
                "sale_ids": [record["sale_id"] for record in records],
            },
        )
        # A rejected sale is applied (flagged for the operator) and the push moves past it:
        # only a batch that changed nothing at all is a stall.
        progress = synced + len(rejected)
        outcome = PushOutcome(len(records), synced, len(rejected), 1, stalled=progress == 0)
        if self._on_batch is not None:
            self._on_batch(outcome)
        return outcome

    def push(self, max_batches: int | None = None) -> PushOutcome:
        """Send batches until the queue is drained, a batch makes no progress, or the limit."""
        total = PushOutcome()
        while max_batches is None or total.batches < max_batches:
            outcome = self.push_batch()
            total.sent += outcome.sent
            total.synced += outcome.synced
            total.rejected += outcome.rejected
            total.batches += outcome.batches
            if outcome.drained or outcome.stalled:
                total.drained, total.stalled = outcome.drained, outcome.stalled
                break
            if self._stop_requested():
                break
        return total

    # --- pull ----------------------------------------------------------------------------------

    def pull(self) -> None:
        """Fetch this device's limits, the ledger's time and gallery changes."""
        ledger_config = self.client.get_config()
        self._note_clock()
        self.queue.set_limits(_limits_from(ledger_config.limits))
        if self.gallery is not None:
            self.pull_gallery()

    def pull_gallery(self) -> int:
        """Apply gallery changes since the stored cursor, a page per local transaction; confirm
        the page's deletions; return how many changes were applied."""
        assert self.gallery is not None
        cursor = int(self._get_state(GALLERY_CURSOR_KEY) or 0)
        applied = 0
        while True:
            page = self.client.gallery_changes(cursor)
            if page.cursor == cursor:
                return applied
            steps = local_changes(page.changes, self._key)
            if steps:
                self.gallery.apply_changes(steps)
            deleted = [change.customer_id for change in page.changes if change.action == "delete"]
            # Confirm only after applying: a crash in between re-applies (upsert/delete are
            # idempotent) and confirms again.
            self.client.ack_gallery(page.cursor, deleted)
            self._put_state(GALLERY_CURSOR_KEY, page.cursor)
            log.info("gallery updated", extra={"changes": len(steps), "deleted": len(deleted)})
            cursor = page.cursor
            applied += len(steps)

    def push_enrolments(self) -> int:
        """Upload the enrolments waiting in the outbox (exactly once; see gallery_sync), then
        the deletions customers asked for while the ledger was away. When
        the ledger takes none (no template key), they stay queued, the error is logged once and
        kept in the status, and the cycle goes on: sales and gallery pulls never wait on it."""
        pushed = 0
        try:
            if self.outbox is not None and self.gallery is not None:
                pushed += push_enrolments(self.outbox, self.gallery, self.client)
            if self.deletions is not None:
                pushed += push_deletions(self.deletions, self.client)
        except EnrolmentsHeld as exc:
            if self.status.enrolments_held != str(exc):
                log.error("enrolments held in the outbox", extra={"error": str(exc)})
            self.status.enrolments_held = str(exc)
            return 0
        self.status.enrolments_held = None
        return pushed

    # --- one cycle and the loop ----------------------------------------------------------------

    def cycle(self) -> PushOutcome | None:
        """Push until drained, then pull. Returns the push outcome, or None if the ledger failed."""
        try:
            outcome = self.push()
            if self.refunds is not None:
                push_refunds(self.refunds, self.client)
            self.push_enrolments()
            self.pull()
        except LedgerError as exc:
            self._record_failure(exc)
            return None
        self._record_success(outcome)
        return outcome

    def run(self, mode: RunMode = "forever") -> int:
        """Run cycles: `once` (one cycle), `until-drained`, or `forever`. Returns an exit code."""
        while not self._stop_requested():
            self.heartbeat = time.monotonic()
            outcome = self.cycle()
            if mode == "once":
                return 0 if outcome is not None else 1
            if outcome is not None and mode == "until-drained" and outcome.drained:
                return self._drained_exit_code()
            if outcome is not None and mode == "until-drained" and outcome.stalled:
                log.error("queue cannot drain: the ledger rejects the oldest pending sale")
                return 1
            if outcome is None and mode == "until-drained" and self.status.online:
                # The ledger answered 4xx: retrying the same request cannot drain the queue.
                return 1
            self._wait(self._pause_after(outcome))
        return 0

    def _drained_exit_code(self) -> int:
        if self.status.enrolments_held is not None:
            log.error(
                "sales drained, enrolments still queued: the ledger takes none",
                extra={"error": self.status.enrolments_held},
            )
            return 1
        rejected = int(self.queue.status().rejected_count)
        if rejected:
            log.error(
                "queue drained up to a sale the ledger rejected; operator action needed",
                extra={"rejected": rejected},
            )
            return 1
        return 0

    def _pause_after(self, outcome: PushOutcome | None) -> float:
        if outcome is None:
            return self.backoff.next_delay_s()
        if not outcome.drained and not outcome.stalled:
            return 0.0  # stopped mid-backlog by a batch limit: continue at once
        return self.config.interval_s

    def _wait(self, seconds: float) -> None:
        # Waits in slices so the heartbeat keeps beating through a long backoff: only a hung
        # request or database call silences it.
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self._stop_requested():
            self.heartbeat = time.monotonic()
            if self.trigger is None:
                time.sleep(min(left, WAIT_SLICE_S))
            elif self.trigger.wait(min(left, WAIT_SLICE_S)):
                log.info("sync requested")
                self.backoff.reset()
                return

    def _stop_requested(self) -> bool:
        return self.trigger is not None and self.trigger.stopping.is_set()

    # --- status --------------------------------------------------------------------------------

    def _record_success(self, outcome: PushOutcome) -> None:
        if self.status.online is not True:
            log.info("ledger reachable", extra={"online": True})
        self.backoff.reset()
        self.status.online = True
        self.status.last_ok_at = time.time()
        self.status.consecutive_failures = 0
        if outcome.synced or outcome.rejected:
            log.info(
                "pushed",
                extra={
                    "synced": outcome.synced,
                    "rejected": outcome.rejected,
                    "batches": outcome.batches,
                },
            )
        self._save_status()

    def _record_failure(self, exc: LedgerError) -> None:
        online = not isinstance(exc, LedgerUnavailable)
        if online:
            log.error("ledger refused a request", extra={"error": str(exc)})
        elif self.status.online is not False:
            log.warning("ledger unreachable", extra={"online": False, "error": str(exc)})
        self.status.online = online
        self.status.last_error = str(exc)
        self.status.last_error_at = time.time()
        self.status.consecutive_failures += 1
        self._save_status()

    def _note_clock(self) -> None:
        sample = self.client.last_clock_sample
        if sample is None or sample is self._last_sample:
            return
        self._last_sample = sample
        # Keeps the sale timestamps' logical clock ahead of the ledger's; wall_time stays as is.
        self.queue.observe_ledger_time(sample.ledger_ms)
        estimate = self.clock.add(sample)
        if estimate.drift_alarm and not self.status.clock.get("drift_alarm"):
            log.warning("device clock drifts from the ledger's", extra=estimate.as_state())
        self.status.clock = estimate.as_state()

    def _save_status(self) -> None:
        self._put_state(STATUS_KEY, dict(self.status.__dict__))
        if self.status.last_ok_at is not None:
            self._put_state(QUEUE_LAST_OK_KEY, self.status.last_ok_at)
        last_error = None if self.status.online else self.status.last_error
        self._put_state(QUEUE_LAST_ERROR_KEY, last_error)

    def _get_state(self, key: str) -> Any:
        return self.queue.get_state(key)

    def _put_state(self, key: str, value: Any) -> None:
        self.queue.put_state(key, value)


def load_status(queue: SaleQueueLike) -> SyncStatus:
    """The agent's last saved status (for the screen and `queue ls`); empty before its first run."""
    data = queue.get_state(STATUS_KEY)
    if not isinstance(data, dict):
        return SyncStatus()
    return SyncStatus(**{k: v for k, v in data.items() if k in SyncStatus.__dataclass_fields__})


def _matching_results(
    records: list[dict[str, Any]], results: list[wire.SaleResult]
) -> list[wire.SaleResult]:
    """The answers, after checking each names a sale that was in the batch."""
    sent = {(r["sale_id"], int(r["seq"])) for r in records}
    strays = [r for r in results if (r.sale_id, r.seq) not in sent]
    unknown = [r for r in results if r.status not in (*SYNCED_STATUSES, "rejected")]
    if strays or unknown:
        raise ProtocolViolation(f"batch answer names other sales {strays[:3]} or {unknown[:3]}")
    return results


def _limits_from(data: dict[str, Any]) -> OfflineLimits:
    known = {k: v for k, v in data.items() if k in OfflineLimits.model_fields}
    try:
        return OfflineLimits(**known)
    except ValueError as exc:
        raise ProtocolViolation(f"ledger limits invalid: {exc}") from None
