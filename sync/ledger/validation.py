"""What an authentic sale record must look like before the ledger books it: ids and text
without control characters and within length caps, bounded evidence and items, and items that
add up to the amount. A record that fails is answered `rejected` with the reason (and its chain
link kept, see ingestion), never a 500."""

from __future__ import annotations

import re
from typing import Any

ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_EVIDENCE_KEYS = 16
MAX_EVIDENCE_TEXT = 200
MAX_ITEMS = 100
MAX_ITEM_NAME = 100
MAX_QUANTITY = 10_000
TEXT_FIELDS = {"hlc": 40, "wall_time": 40, "boot_id": 64}


def record_problem(record: dict[str, Any]) -> str | None:
    """Why this record may not be booked, or None."""
    for check in (_ids_problem, _text_problem, _evidence_problem, _items_problem):
        problem = check(record)
        if problem:
            return f"malformed: {problem}"
    return None


def is_id(value: Any) -> bool:
    """A usable id: 1-64 of letters, digits and ._:@-"""
    return isinstance(value, str) and ID.fullmatch(value) is not None


def _ids_problem(record: dict[str, Any]) -> str | None:
    if not is_id(record["sale_id"]):
        return "sale_id must be 1-64 of letters, digits and ._:@-"
    for name in ("customer_id", "auth_id"):
        if record[name] is not None and not is_id(record[name]):
            return f"{name} must be null or 1-64 of letters, digits and ._:@-"
    return None


def _text_problem(record: dict[str, Any]) -> str | None:
    for name, cap in TEXT_FIELDS.items():
        if not _clean_text(record[name], cap):
            return f"{name} must be text of at most {cap} characters, without control characters"
    monotonic = record["monotonic_ns"]
    if not isinstance(monotonic, int) or isinstance(monotonic, bool) or not 0 <= monotonic < 2**63:
        return "monotonic_ns must be a non-negative integer"
    return None


def _evidence_problem(record: dict[str, Any]) -> str | None:
    evidence = record["evidence"]
    if not isinstance(evidence, dict) or len(evidence) > MAX_EVIDENCE_KEYS:
        return f"evidence must be an object of at most {MAX_EVIDENCE_KEYS} keys"
    for key, value in evidence.items():
        if not _clean_text(key, 40) or not _scalar(value, MAX_EVIDENCE_TEXT):
            return f"evidence[{key[:40]!r}] must be text (<= {MAX_EVIDENCE_TEXT}), int or bool"
    return None


def _items_problem(record: dict[str, Any]) -> str | None:
    items = record["items"]
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        return f"items must be a list of at most {MAX_ITEMS}"
    for index, item in enumerate(items):
        if not _good_item(item):
            return (
                f"items[{index}] must be {{name: text <= {MAX_ITEM_NAME}, quantity: 1-"
                f"{MAX_QUANTITY}, amount_minor: integer >= 0}}"
            )
    total = sum(item["amount_minor"] for item in items)
    if items and total != record["amount_minor"]:
        return f"items add up to {total}, not to amount_minor {record['amount_minor']}"
    return None


def _good_item(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and set(item) == {"name", "quantity", "amount_minor"}
        and _clean_text(item["name"], MAX_ITEM_NAME)
        and _int_in(item["quantity"], 1, MAX_QUANTITY)
        and _int_in(item["amount_minor"], 0, 10**12 - 1)
    )


def _clean_text(value: Any, cap: int) -> bool:
    return isinstance(value, str) and len(value) <= cap and not CONTROL.search(value)


def _scalar(value: Any, cap: int) -> bool:
    return isinstance(value, bool | int) or _clean_text(value, cap)


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
