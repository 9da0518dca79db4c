"""Hybrid logical clock (Kulkarni et al. 2014): a timestamp that follows the wall clock when it
moves forward and never goes backwards when it does not (the Pi has no real-time clock, so the
wall clock may jump back after a reboot or an NTP step).

A timestamp is (physical_ms, logical). Its text form `PPPPPPPPPPPPPPP-LLLLLL` sorts in the same
order as the timestamps. The queue persists the last one in the same transaction as each sale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LOGICAL = 999_999
_TEXT = re.compile(r"^(\d{15})-(\d{6})$")


@dataclass(frozen=True, order=True)
class HlcTimestamp:
    """One hybrid logical clock reading."""

    physical_ms: int
    logical: int = 0

    def text(self) -> str:
        """Sortable text form, e.g. `001763768638123-000002`."""
        return f"{self.physical_ms:015d}-{self.logical:06d}"

    @classmethod
    def parse(cls, text: str) -> HlcTimestamp:
        """Parse the text form; raises ValueError naming the bad text."""
        match = _TEXT.match(text)
        if not match:
            raise ValueError(f"not an HLC timestamp: {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))


GENESIS = HlcTimestamp(0, 0)


def _after(physical_ms: int, logical: int) -> HlcTimestamp:
    # The logical counter has a fixed width; past it, borrow the next millisecond.
    if logical > MAX_LOGICAL:
        return HlcTimestamp(physical_ms + 1, 0)
    return HlcTimestamp(physical_ms, logical)


def tick(last: HlcTimestamp, wall_ms: int) -> HlcTimestamp:
    """The timestamp of a local event (a sale), strictly after `last`."""
    if wall_ms > last.physical_ms:
        return HlcTimestamp(wall_ms, 0)
    return _after(last.physical_ms, last.logical + 1)


def receive(last: HlcTimestamp, remote: HlcTimestamp, wall_ms: int) -> HlcTimestamp:
    """The timestamp after learning a remote reading (e.g. the ledger's time): after both."""
    physical = max(last.physical_ms, remote.physical_ms, wall_ms)
    if physical == last.physical_ms == remote.physical_ms:
        return _after(physical, max(last.logical, remote.logical) + 1)
    if physical == last.physical_ms:
        return _after(physical, last.logical + 1)
    if physical == remote.physical_ms:
        return _after(physical, remote.logical + 1)
    return HlcTimestamp(physical, 0)
