"""The ledger's time as seen from the device: offset estimated NTP-style, drift raised as an alarm.

The device clock is never corrected here and recorded timestamps are never rewritten: the
offset is stored beside them so the ledger and the operator can judge a sale's wall time.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockSample:
    """One exchange: device time before and after the request, ledger time inside it (ms)."""

    sent_ms: int
    ledger_ms: int
    received_ms: int

    @property
    def rtt_ms(self) -> int:
        """Round-trip time of the exchange."""
        return max(self.received_ms - self.sent_ms, 0)

    @property
    def offset_ms(self) -> float:
        """ledger clock minus device clock, assuming the ledger read its clock mid-flight."""
        return self.ledger_ms - (self.sent_ms + self.received_ms) / 2


@dataclass(frozen=True)
class ClockEstimate:
    """The best current estimate: offset (ledger - device), its uncertainty, and the alarm."""

    offset_ms: float
    uncertainty_ms: float
    drift_alarm: bool

    def as_state(self) -> dict[str, float | bool]:
        """A JSON-friendly form for the status shown by the screen and the CLI."""
        return {
            "offset_ms": round(self.offset_ms, 1),
            "uncertainty_ms": round(self.uncertainty_ms, 1),
            "drift_alarm": self.drift_alarm,
        }


def device_time_ms() -> int:
    """The device's wall clock in milliseconds (the clock whose error we estimate)."""
    return time.time_ns() // 1_000_000


class ClockWatch:
    """Keeps the last samples and trusts the one with the smallest round trip (least queueing)."""

    def __init__(self, drift_alarm_s: float, window: int = 8) -> None:
        self.drift_alarm_ms = drift_alarm_s * 1000
        self._samples: deque[ClockSample] = deque(maxlen=window)

    def add(self, sample: ClockSample) -> ClockEstimate:
        """Record one exchange and return the updated estimate."""
        self._samples.append(sample)
        estimate = self.estimate()
        assert estimate is not None
        return estimate

    def estimate(self) -> ClockEstimate | None:
        """The current estimate, or None before any exchange."""
        if not self._samples:
            return None
        best = min(self._samples, key=lambda s: s.rtt_ms)
        # The true offset lies within half the round trip of the estimate.
        uncertainty = best.rtt_ms / 2
        alarm = abs(best.offset_ms) - uncertainty > self.drift_alarm_ms
        return ClockEstimate(best.offset_ms, uncertainty, alarm)
