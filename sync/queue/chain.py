"""Checking a queue's rows against the hash chain, the signatures and the sequence numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from base import wire


@dataclass(frozen=True)
class StoredSale:
    """One row of the queue as stored: the signed record and the columns indexed beside it."""

    seq: int
    sale_id: str
    record_text: str
    hash: str
    amount_minor: int
    customer_id: str | None
    offline: bool
    state: str | None  # None: the sale has no outbox row
    ledger_status: str | None = None
    reason: str | None = None
    settle_later: bool = False

    def record(self) -> dict[str, Any]:
        """The signed record."""
        value: dict[str, Any] = json.loads(self.record_text)
        return value


@dataclass
class ChainVerifier:
    """Feed rows in seq order with `check`; `finish` compares the end with the chain head."""

    device_id: str
    public_key: Ed25519PublicKey
    problems: list[str] = field(default_factory=list)
    last_seq: int = 0
    prev_hash: str = wire.GENESIS_HASH

    def check(self, row: StoredSale) -> None:
        """Note what is wrong with `row`: edited, reordered, missing neighbours, bad signature."""
        if row.seq != self.last_seq + 1:
            self.problems.append(f"seq {self.last_seq + 1}..{row.seq - 1} missing (deleted?)")
        try:
            record = row.record()
            self._check_record(row, record)
            self.prev_hash = wire.sale_hash(record)
        except (ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"seq {row.seq}: record unreadable ({exc})")
            self.prev_hash = row.hash
        self.last_seq = row.seq

    def _check_record(self, row: StoredSale, record: dict[str, Any]) -> None:
        where = f"seq {row.seq}"
        if record["seq"] != row.seq:
            self.problems.append(
                f"{where}: row holds the record of seq {record['seq']} (reordered?)"
            )
        if record["prev_hash"] != self.prev_hash:
            self.problems.append(f"{where}: prev_hash does not match the sale before it")
        if wire.sale_hash(record) != row.hash:
            self.problems.append(f"{where}: content does not match its stored hash (edited?)")
        if not wire.verify_sale_signature(record, self.public_key):
            self.problems.append(f"{where}: signature does not verify (edited?)")
        if record["device_id"] != self.device_id:
            self.problems.append(f"{where}: record of device {record['device_id']!r}")
        indexed = (row.sale_id, row.amount_minor, row.customer_id, row.offline)
        signed = (
            record["sale_id"],
            record["amount_minor"],
            record["customer_id"],
            record["offline"],
        )
        if indexed != signed:
            self.problems.append(
                f"{where}: indexed columns differ from the signed record (edited?)"
            )
        if row.state is None:
            self.problems.append(f"{where}: no outbox row")

    def finish(self, head_seq: int, head_hash: str) -> list[str]:
        """Compare the last row with the chain head; return all problems found."""
        if head_seq != self.last_seq:
            self.problems.append(
                f"chain head is seq {head_seq} but the last sale is seq {self.last_seq} "
                "(tail deleted?)"
            )
        elif head_hash != self.prev_hash:
            self.problems.append(f"chain head hash does not match seq {head_seq} (edited?)")
        return self.problems
