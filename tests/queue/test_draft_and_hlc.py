"""Sale drafts refuse bad input with the field's name; the hybrid logical clock only moves on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sync.queue.draft import SaleDraft
from sync.queue.errors import InvalidSale
from sync.queue.hlc import MAX_LOGICAL, HlcTimestamp, receive, tick
from tests.queue.conftest import draft


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount_minor": 0}, "amount_minor must be a positive integer"),
        ({"amount_minor": 2.5}, "amount_minor must be a positive integer"),
        ({"amount_minor": True}, "amount_minor must be a positive integer"),
        ({"currency": "eur"}, "currency must be three capital letters"),
        ({"method": "cash"}, "method must be one of"),
        ({"customer_id": ""}, "customer_id must be a non-empty string"),
        ({"evidence": {"score": 0.31}}, "evidence['score'] must be str, int or bool"),
        ({"items": [{"name": "x", "quantity": 0, "amount_minor": 1}]}, "items[0] must be"),
        ({"items": [{"name": "x"}]}, "items[0] must be"),
        ({"offline": False}, "an online sale (offline=False) needs the ledger's auth_id"),
        ({"auth_id": "a-1"}, "an offline sale has no auth_id"),
        ({"sale_id": "not-a-uuid"}, "sale_id must be a UUID"),
    ],
)
def test_a_bad_draft_is_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSale, match=re.escape(message)):
        draft(**changes)


def test_a_good_draft_keeps_its_content() -> None:
    sale = SaleDraft(
        amount_minor=100,
        currency="EUR",
        method="customer_qr",
        customer_id=None,
        evidence={"token": "abc"},
        offline=False,
        auth_id="auth-9",
    )
    assert sale.content()["auth_id"] == "auth-9" and sale.content()["evidence"] == {"token": "abc"}


def test_hlc_follows_a_forward_wall_clock() -> None:
    assert tick(HlcTimestamp(1000, 5), 2000) == HlcTimestamp(2000, 0)


def test_hlc_counts_when_the_wall_clock_stands_still_or_goes_back() -> None:
    assert tick(HlcTimestamp(1000, 5), 1000) == HlcTimestamp(1000, 6)
    assert tick(HlcTimestamp(1000, 5), 10) == HlcTimestamp(1000, 6)


def test_hlc_borrows_a_millisecond_when_the_counter_is_full() -> None:
    assert tick(HlcTimestamp(1000, MAX_LOGICAL), 1000) == HlcTimestamp(1001, 0)


def test_hlc_receive_is_after_both_clocks() -> None:
    assert receive(HlcTimestamp(1000, 3), HlcTimestamp(5000, 2), 900) == HlcTimestamp(5000, 3)
    assert receive(HlcTimestamp(5000, 3), HlcTimestamp(5000, 7), 900) == HlcTimestamp(5000, 8)
    assert receive(HlcTimestamp(5000, 3), HlcTimestamp(10, 7), 900) == HlcTimestamp(5000, 4)
    assert receive(HlcTimestamp(10, 3), HlcTimestamp(20, 7), 900) == HlcTimestamp(900, 0)


def test_hlc_text_sorts_like_the_timestamps() -> None:
    stamps = [HlcTimestamp(999, 7), HlcTimestamp(1000, 0), HlcTimestamp(1000, 12)]
    assert sorted(s.text() for s in stamps) == [s.text() for s in stamps]
    assert HlcTimestamp.parse(stamps[2].text()) == stamps[2]
    with pytest.raises(ValueError, match="not an HLC timestamp"):
        HlcTimestamp.parse("yesterday")
