"""The device's durable sale queue: every sale numbered, timestamped, chained, signed and on disk
before `enqueue_sale` returns; an outbox row per sale for the sync agent; offline risk limits."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import wire
from base.keys import public_key_b64
from base.limits import OfflineLimits
from sync.queue import hlc
from sync.queue import statements as sql
from sync.queue.chain import ChainVerifier, StoredSale
from sync.queue.clock import DeviceClock, SystemClock, iso_utc
from sync.queue.db import Row, SqlRunner, apply_pragmas
from sync.queue.draft import SaleDraft, new_sale_id
from sync.queue.errors import (
    IdentityMismatch,
    InvalidResult,
    LimitExceeded,
    QueueUnavailable,
    SaleConflict,
    TokenAlreadyUsed,
)
from sync.queue.limits import ExposureTotals, limit_reason
from sync.queue.used_nonces import nonce_of, split_token

DB_NAME = "device.db"
STATE_DEVICE_ID = "queue.device_id"
STATE_PUBLIC_KEY = "queue.public_key"
STATE_LIMITS = "queue.offline_limits"
STATE_LAST_SYNC_OK_AT = "last_sync_ok_at"  # unix seconds; set by apply_results (and the agent)
STATE_LAST_ERROR = "last_error"  # the agent's last sync error text, or None
SYNCED_STATUSES = frozenset({"accepted", "duplicate", "declined"})
ROWS_PER_READ = 500


@dataclass(frozen=True)
class QueueStatus:
    """What the screen and `smilepay queue status` show. Backlog = every sale not yet confirmed
    by the ledger (pending and rejected)."""

    backlog_count: int
    backlog_amount_minor: int
    oldest_unsynced_age_s: float | None
    rejected_count: int
    last_sync_ok_at: float | None
    last_error: str | None
    last_seq: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


class SaleQueue:
    """The durable queue on one SQLite connection. Thread-safe (one lock); several processes
    may open the same file (transactions take SQLite's write lock first)."""

    def __init__(
        self,
        runner: SqlRunner,
        *,
        device_id: str,
        signing_key: Ed25519PrivateKey,
        limits: OfflineLimits,
        clock: DeviceClock,
    ) -> None:
        self._runner = runner
        self.device_id = device_id
        self._key = signing_key
        self._limits = limits
        self._clock = clock
        self._lock = threading.RLock()
        self._exposure: ExposureTotals | None = None  # offline exposure cache, see _limit_reason

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        device_id: str,
        signing_key: Ed25519PrivateKey,
        limits: OfflineLimits,
        allow_tmpfs: bool = False,
        clock: DeviceClock | None = None,
    ) -> SaleQueue:
        """Open (or create) `<data_dir>/device.db`: check the directory is persistent and
        writable, set and verify WAL + synchronous=FULL, run migrations, check the identity."""
        from sync.queue.db import open_migrated
        from sync.queue.storage import check_data_dir

        directory = check_data_dir(data_dir, allow_tmpfs=allow_tmpfs)
        runner = open_migrated(directory / DB_NAME)
        try:
            return cls.attach(
                runner, device_id=device_id, signing_key=signing_key, limits=limits, clock=clock
            )
        except BaseException:
            runner.close()
            raise

    @classmethod
    def attach(
        cls,
        runner: SqlRunner,
        *,
        device_id: str,
        signing_key: Ed25519PrivateKey,
        limits: OfflineLimits,
        clock: DeviceClock | None = None,
    ) -> SaleQueue:
        """A queue on an already migrated connection (verifies pragmas and identity).
        Limits the ledger sent earlier (set_limits) take precedence over `limits`."""
        apply_pragmas(runner)
        queue = cls(
            runner,
            device_id=device_id,
            signing_key=signing_key,
            limits=limits,
            clock=clock or SystemClock(),
        )
        queue._claim_identity()
        stored = queue.get_state(STATE_LIMITS)
        if stored is not None:
            queue._limits = OfflineLimits.model_validate(stored)
        return queue

    def _claim_identity(self) -> None:
        public_key = public_key_b64(self._key)
        with self._transaction(write=True):
            for key, value in ((STATE_DEVICE_ID, self.device_id), (STATE_PUBLIC_KEY, public_key)):
                stored = self._get(key)
                if stored is None:
                    self._put(key, value)
                elif stored != value:
                    raise IdentityMismatch(
                        f"this device database belongs to {key.split('.')[1]} {stored!r}, "
                        f"not {value!r}"
                    )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._runner.close()

    def __enter__(self) -> SaleQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[None]:
        with self._lock:
            self._runner.run(sql.BEGIN_WRITE if write else sql.BEGIN_READ)
            try:
                yield
                self._runner.run(sql.COMMIT)
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # SQLite may already have rolled back (disk full, I/O error): only roll back if open.
        try:
            if self._runner.in_transaction():
                self._runner.run(sql.ROLLBACK)
        except QueueUnavailable:
            pass

    def _one(self, statement: str, params: Mapping[str, Any] | None = None) -> Row:
        return self._runner.run(statement, params)[0]

    # --- enqueue -------------------------------------------------------------------------------

    def enqueue_sale(self, draft: SaleDraft) -> dict[str, Any]:
        """Record a sale durably and return its signed record.

        One transaction writes the sale, its outbox row and the new chain head; when this
        returns, the sale is fsynced. An offline draft over a limit raises LimitExceeded; a
        storage failure raises QueueUnavailable; neither leaves anything half-written or burns a
        seq. The same sale id with the same content returns the queued record (a safe retry)."""
        sale_id = draft.sale_id or new_sale_id()
        draft = without_token(draft)
        with self._lock:
            try:
                with self._transaction(write=True):
                    existing = self._runner.run(sql.RECORD_BY_SALE_ID, {"sale_id": sale_id})
                    if existing:
                        return _same_sale(json.loads(existing[0][1]), draft)
                    if draft.offline:
                        reason = self._limit_reason(draft)
                        if reason:
                            raise LimitExceeded(reason)
                    self._spend_token(draft, sale_id)
                    record, created_at = self._append(sale_id, draft)
            except QueueUnavailable:
                self._exposure = None  # the transaction may or may not have reached the disk
                raise
            if draft.offline and self._exposure is not None:
                self._exposure.add(draft.customer_id, draft.amount_minor, created_at)
            return record

    def token_used_by(self, nonce_sha256: str) -> str | None:
        """The sale a customer token (by its nonce hash) already paid on this kiosk, or None."""
        with self._transaction(write=False):
            rows = self._runner.run(sql.USED_NONCE, {"nonce": nonce_sha256})
        return str(rows[0][0]) if rows else None

    def _spend_token(self, draft: SaleDraft, sale_id: str) -> None:
        """Record the nonce of the token paying this sale; a token that paid before is refused."""
        used = nonce_of(draft.evidence)
        if used is None:
            return
        rows = self._runner.run(sql.USED_NONCE, {"nonce": used[0]})
        if rows:
            raise TokenAlreadyUsed(str(rows[0][0]))
        now = self._clock.wall_ms() / 1000
        params = {"nonce": used[0], "sale_id": sale_id, "expires_at": used[1], "now": now}
        self._runner.run(sql.INSERT_USED_NONCE, params)

    def _append(self, sale_id: str, draft: SaleDraft) -> tuple[dict[str, Any], float]:
        last_seq, last_hash, last_hlc = self._one(sql.CHAIN_HEAD)
        wall_ms = self._clock.wall_ms()
        stamp = hlc.tick(hlc.HlcTimestamp.parse(last_hlc), wall_ms)
        body = {
            **draft.content(),
            "sale_id": sale_id,
            "device_id": self.device_id,
            "seq": last_seq + 1,
            "hlc": stamp.text(),
            "wall_time": iso_utc(wall_ms),
            "monotonic_ns": self._clock.monotonic_ns(),
            "boot_id": self._clock.boot_id(),
            "prev_hash": last_hash,
        }
        record, text, digest = self._sign(body)
        self._runner.run(
            sql.INSERT_SALE,
            {
                "seq": body["seq"],
                "sale_id": sale_id,
                "record": text,
                "hash": digest,
                "amount_minor": draft.amount_minor,
                "currency": draft.currency,
                "customer_id": draft.customer_id,
                "offline": int(draft.offline),
                "created_at": wall_ms / 1000,
            },
        )
        self._runner.run(sql.INSERT_OUTBOX, {"seq": body["seq"], "created_at": wall_ms / 1000})
        self._runner.run(
            sql.SET_CHAIN_HEAD, {"seq": body["seq"], "hash": digest, "hlc": stamp.text()}
        )
        return record, wall_ms / 1000

    def _sign(self, body: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        """The signed record, its stored JSON text and its hash. Encodes once for all three
        (what wire.sign_sale and wire.sale_hash each do again); the tests check records with
        wire's own functions."""
        canonical = wire.canonical_bytes(wire.sale_body(body))
        signature = base64.b64encode(self._key.sign(canonical)).decode()
        # The canonical body is a JSON object: append the signature member to it.
        text = canonical[:-1].decode() + f',"signature":"{signature}"}}'
        return {**body, "signature": signature}, text, hashlib.sha256(canonical).hexdigest()

    # --- offline limits ------------------------------------------------------------------------

    @property
    def limits(self) -> OfflineLimits:
        """The offline limits in force."""
        return self._limits

    def set_limits(self, limits: OfflineLimits) -> None:
        """Replace the offline limits (e.g. pulled from the ledger) and persist them."""
        with self._transaction(write=True):
            self._put(STATE_LIMITS, limits.model_dump())
            self._limits = limits

    def check_offline_limits(self, draft: SaleDraft) -> str | None:
        """Why this draft would be refused offline, or None. Online drafts always pass."""
        if not draft.offline:
            return None
        with self._transaction(write=False):
            return self._limit_reason(draft)

    def _limit_reason(self, draft: SaleDraft) -> str | None:
        totals = self._exposure_totals()
        exposure = totals.exposure(draft.customer_id, self._age(totals.oldest_created_at))
        return limit_reason(self._limits, draft.amount_minor, draft.customer_id, exposure)

    def _exposure_totals(self) -> ExposureTotals:
        # Summing the unsynced offline sales on every sale would cost O(backlog); re-read them
        # only when another connection (the sync agent) has committed since the last reading.
        data_version = int(self._one(sql.DATA_VERSION)[0])
        if self._exposure is None or self._exposure.data_version != data_version:
            rows = self._runner.run(sql.OFFLINE_EXPOSURE)
            self._exposure = ExposureTotals.from_rows(data_version, rows)
        return self._exposure

    def _age(self, created_at: float | None) -> float | None:
        if created_at is None:
            return None
        return max(0.0, self._clock.wall_ms() / 1000 - created_at)

    # --- for the sync agent --------------------------------------------------------------------

    def pending_batch(self, max_count: int, max_bytes: int) -> list[dict[str, Any]]:
        """The oldest pending records, consecutive in seq: at most `max_count`, and at most
        `max_bytes` of record JSON (but always the first one). A rejected sale does not block
        the ones after it: the ledger keeps the chain link of an authentic sale it rejects, so
        the next batch starts after it and still links (the rejected one stays visible, see
        `status` and `records`). A batch stops at a seq gap (the ledger wants consecutive seq)."""
        if max_count < 1 or max_bytes < 1:
            raise ValueError("pending_batch needs max_count >= 1 and max_bytes >= 1")
        with self._transaction(write=False):
            rows = self._runner.run(sql.UNSYNCED_FROM, {"limit": max_count})
        batch: list[dict[str, Any]] = []
        size = 0
        for seq, _state, record_text in rows:
            size += len(record_text.encode())
            if batch and (size > max_bytes or seq != batch[-1]["seq"] + 1):
                break
            batch.append(json.loads(record_text))
        return batch

    def apply_results(self, results: list[wire.SaleResult]) -> None:
        """Apply the ledger's per-sale answers in one transaction: accepted, duplicate and
        declined sales become synced; rejected ones are flagged with the reason (and kept).
        An answer that matches no queued sale raises InvalidResult and applies nothing."""
        now = self._clock.wall_ms() / 1000
        self._exposure = None  # synced sales leave the offline exposure
        with self._transaction(write=True):
            for result in results:
                self._apply_result(result, now)
            if any(r.status in SYNCED_STATUSES for r in results):
                self._put(STATE_LAST_SYNC_OK_AT, now)

    def _apply_result(self, result: wire.SaleResult, now: float) -> None:
        rows = self._runner.run(sql.OUTBOX_BY_SEQ, {"seq": result.seq})
        if not rows or rows[0][1] != result.sale_id:
            raise InvalidResult(f"answer for sale {result.sale_id} seq {result.seq}: no such sale")
        if result.status not in SYNCED_STATUSES | {"rejected"}:
            raise InvalidResult(f"answer for seq {result.seq}: unknown status {result.status!r}")
        if rows[0][0] == "synced":
            return  # the first confirmation stands; the ledger is idempotent per (device, seq)
        state = "rejected" if result.status == "rejected" else "synced"
        self._runner.run(
            sql.MARK_RESULT,
            {
                "seq": result.seq,
                "state": state,
                "ledger_status": result.status,
                "reason": result.reason,
                "settle_later": int(result.settle_later),
                "now": now,
            },
        )

    def requeue_rejected(self) -> int:
        """Put rejected sales back in the outbox (after the operator fixed the cause)."""
        self._exposure = None
        with self._transaction(write=True):
            count = int(self._one("SELECT count(*) FROM outbox WHERE state = 'rejected'")[0])
            self._runner.run(sql.REQUEUE_REJECTED, {"now": self._clock.wall_ms() / 1000})
        return count

    def observe_ledger_time(self, ledger_time_ms: int) -> None:
        """Move the hybrid logical clock past the ledger's time (never backwards)."""
        with self._transaction(write=True):
            last = hlc.HlcTimestamp.parse(self._one(sql.CHAIN_HEAD)[2])
            remote = hlc.HlcTimestamp(ledger_time_ms, 0)
            stamp = hlc.receive(last, remote, self._clock.wall_ms())
            self._runner.run(sql.SET_HLC, {"hlc": stamp.text()})

    # --- status and state ----------------------------------------------------------------------

    def status(self) -> QueueStatus:
        """Backlog, rejections and the agent's last success and error."""
        with self._transaction(write=False):
            count, amount, oldest, rejected = self._one(sql.BACKLOG)
            last_seq = self._one(sql.CHAIN_HEAD)[0]
            last_ok = self._get(STATE_LAST_SYNC_OK_AT)
            last_error = self._get(STATE_LAST_ERROR)
        return QueueStatus(
            backlog_count=count,
            backlog_amount_minor=amount,
            oldest_unsynced_age_s=self._age(oldest),
            rejected_count=rejected,
            last_sync_ok_at=last_ok,
            last_error=last_error,
            last_seq=last_seq,
        )

    def get_state(self, key: str) -> Any:
        """A value the agent stored (JSON-compatible), or None."""
        with self._transaction(write=False):
            return self._get(key)

    def put_state(self, key: str, value: Any) -> None:
        """Store a JSON-compatible value under `key` (keys starting `queue.` are the queue's)."""
        if key.startswith("queue."):
            raise ValueError(f"state key {key!r}: keys starting with 'queue.' are reserved")
        with self._transaction(write=True):
            self._put(key, value)

    def _get(self, key: str) -> Any:
        rows = self._runner.run(sql.GET_STATE, {"key": key})
        return json.loads(rows[0][0]) if rows else None

    def _put(self, key: str, value: Any) -> None:
        self._runner.run(sql.PUT_STATE, {"key": key, "value": json.dumps(value)})

    # --- reading and verifying -----------------------------------------------------------------

    def get_record(self, sale_id: str) -> wire.SaleRecord | None:
        """The signed record of a queued sale, or None."""
        with self._transaction(write=False):
            rows = self._runner.run(sql.RECORD_BY_SALE_ID, {"sale_id": sale_id})
        return json.loads(rows[0][1]) if rows else None

    def records(self) -> Iterator[StoredSale]:
        """Every queued sale in seq order, with its sync state (read in chunks)."""
        after = 0
        while True:
            with self._transaction(write=False):
                rows = self._runner.run(sql.ROWS_FROM, {"after": after, "limit": ROWS_PER_READ})
            if not rows:
                return
            for row in rows:
                yield _stored_sale(row)
            after = rows[-1][0]

    def verify_chain(self) -> list[str]:
        """Recompute hashes, check signatures, seq gaps and the chain head: one line per problem
        (an edited, deleted or reordered row shows up here). Empty means intact."""
        verifier = ChainVerifier(self.device_id, self._key.public_key())
        for row in self.records():
            verifier.check(row)
        with self._transaction(write=False):
            head_seq, head_hash, _ = self._one(sql.CHAIN_HEAD)
        return verifier.finish(head_seq, head_hash)

    def integrity_check(self) -> str:
        """SQLite's own `PRAGMA integrity_check` ("ok" when the file is sound)."""
        with self._lock:
            rows = self._runner.run(sql.INTEGRITY_CHECK)
        return "; ".join(str(row[0]) for row in rows)


def _stored_sale(row: Row) -> StoredSale:
    seq, sale_id, record, digest, amount, customer_id, offline, state, status, reason, later = row
    return StoredSale(
        seq=seq,
        sale_id=sale_id,
        record_text=record,
        hash=digest,
        amount_minor=amount,
        customer_id=customer_id,
        offline=bool(offline),
        state=state,
        ledger_status=status,
        reason=reason,
        settle_later=bool(later),
    )


def without_token(draft: SaleDraft) -> SaleDraft:
    """The draft with a customer token's `code` replaced by its nonce hash and expiry."""
    evidence, token = split_token(dict(draft.evidence))
    return draft if token is None else dataclasses.replace(draft, evidence=evidence)


def _same_sale(record: dict[str, Any], draft: SaleDraft) -> dict[str, Any]:
    queued = {key: record[key] for key in draft.content()}
    if queued != draft.content():
        raise SaleConflict(f"sale {record['sale_id']} is already queued with different content")
    return record


def recorded_device_id(data_dir: Path) -> str | None:
    """The device id a data directory's database was created for (None if there is none yet).
    Reads without migrating or writing."""
    path = data_dir / DB_NAME
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            row = connection.execute(sql.GET_STATE, {"key": STATE_DEVICE_ID}).fetchone()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None
