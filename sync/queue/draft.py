"""A sale as the kiosk describes it, before the queue numbers, timestamps, chains and signs it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from base.token import MAX_TOKEN_CHARS
from sync.queue.errors import InvalidSale

METHODS = ("face", "customer_qr", "merchant_qr")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The ledger's bounds (sync/ledger/validation.py): a draft past them would be rejected there.
MAX_EVIDENCE_KEYS = 16
MAX_TEXT = 200
MAX_ITEMS = 100
MAX_ITEM_NAME = 100
EvidenceValue = str | int | bool


@dataclass(frozen=True)
class SaleDraft:
    """What the kiosk knows about a sale. Validated on creation: a bad field raises InvalidSale.

    `sale_id` may be made by the caller first (before asking for online authorisation) so that
    a retry never records the sale twice; without one the queue makes it.
    """

    amount_minor: int
    currency: str
    method: str
    customer_id: str | None = None
    evidence: dict[str, EvidenceValue] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    offline: bool = True
    auth_id: str | None = None
    sale_id: str | None = None

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise InvalidSale(f"sale draft: {problem}")

    def content(self) -> dict[str, Any]:
        """The fields the kiosk chose (everything but the sale id), as they go into the record."""
        return {
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "method": self.method,
            "customer_id": self.customer_id,
            "evidence": dict(self.evidence),
            "items": [dict(item) for item in self.items],
            "offline": self.offline,
            "auth_id": self.auth_id,
        }


def new_sale_id() -> str:
    """A fresh sale id (UUID4 text)."""
    return str(uuid.uuid4())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(draft: SaleDraft) -> list[str]:
    problems = []
    if not _is_int(draft.amount_minor) or draft.amount_minor <= 0:
        problems.append(f"amount_minor must be a positive integer, got {draft.amount_minor!r}")
    if not isinstance(draft.currency, str) or not _CURRENCY.match(draft.currency):
        problems.append(f"currency must be three capital letters, got {draft.currency!r}")
    if draft.method not in METHODS:
        problems.append(f"method must be one of {', '.join(METHODS)}, got {draft.method!r}")
    if draft.customer_id is not None and (
        not isinstance(draft.customer_id, str) or not draft.customer_id
    ):
        problems.append(
            f"customer_id must be a non-empty string or None, got {draft.customer_id!r}"
        )
    problems += _evidence_problems(draft.evidence)
    problems += _item_problems(draft.items)
    problems += _total_problems(draft)
    problems += _authorisation_problems(draft)
    if draft.sale_id is not None and not _is_uuid(draft.sale_id):
        problems.append(f"sale_id must be a UUID, got {draft.sale_id!r}")
    return problems


def _evidence_problems(evidence: Any) -> list[str]:
    if not isinstance(evidence, dict):
        return [f"evidence must be a dict, got {type(evidence).__name__}"]
    if len(evidence) > MAX_EVIDENCE_KEYS:
        return [f"evidence has {len(evidence)} keys, at most {MAX_EVIDENCE_KEYS} are booked"]
    return [
        f"evidence[{key!r}] must be str, int or bool (scores travel as text; text at most "
        f"{MAX_TEXT} characters, no control characters), got {value!r:.80}"
        for key, value in evidence.items()
        if not _clean(key, 40) or not (isinstance(value, int | bool) or _clean(value, _cap(key)))
    ]


def _cap(key: str) -> int:
    # A customer token (up to 512 characters) may be handed in as `code`: the queue replaces
    # it by its nonce hash before recording (see used_nonces.split_token).
    return MAX_TOKEN_CHARS if key == "code" else MAX_TEXT


def _clean(text: Any, cap: int = MAX_TEXT) -> bool:
    """Text the ledger books: bounded, without NUL or other control characters."""
    return isinstance(text, str) and len(text) <= cap and not _CONTROL.search(text)


def _item_problems(items: Any) -> list[str]:
    if not isinstance(items, list):
        return [f"items must be a list, got {type(items).__name__}"]
    if len(items) > MAX_ITEMS:
        return [f"items: {len(items)} lines, at most {MAX_ITEMS}"]
    problems = []
    for index, item in enumerate(items):
        ok = (
            isinstance(item, dict)
            and set(item) == {"name", "quantity", "amount_minor"}
            and _clean(item["name"], MAX_ITEM_NAME)
            and _is_int(item["quantity"])
            and item["quantity"] > 0
            and _is_int(item["amount_minor"])
            and item["amount_minor"] >= 0
        )
        if not ok:
            problems.append(
                f"items[{index}] must be {{name: str, quantity: int > 0, amount_minor: int >= 0}},"
                f" got {item!r}"
            )
    return problems


def _total_problems(draft: SaleDraft) -> list[str]:
    """Lines must add up to the amount (the ledger rejects a sale whose lines do not)."""
    if not isinstance(draft.items, list) or not draft.items or not _is_int(draft.amount_minor):
        return []
    try:
        total = sum(item["amount_minor"] for item in draft.items)
    except (TypeError, KeyError):
        return []  # reported by _item_problems
    if total != draft.amount_minor:
        return [f"items add up to {total}, not to amount_minor {draft.amount_minor}"]
    return []


def _authorisation_problems(draft: SaleDraft) -> list[str]:
    if not isinstance(draft.offline, bool):
        return [f"offline must be True or False, got {draft.offline!r}"]
    if draft.offline and draft.auth_id is not None:
        return ["an offline sale has no auth_id (auth_id is the ledger's online authorisation)"]
    if not draft.offline and (not isinstance(draft.auth_id, str) or not draft.auth_id):
        return ["an online sale (offline=False) needs the ledger's auth_id"]
    return []


def _is_uuid(text: Any) -> bool:
    try:
        return isinstance(text, str) and str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False
