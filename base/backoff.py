"""The one exponential backoff: capped, with full jitter (the AWS architecture blog's "full
jitter") for network retries, or without it for reconnecting local hardware."""

from __future__ import annotations

import random


class Backoff:
    """Delays for consecutive failures: uniform(0, min(cap, base * 2**failures)).

    Full jitter spreads a fleet of kiosks that lost the ledger at the same moment, so they do
    not all come back in lock-step when it returns. Without jitter the delays are the ceilings
    (base, 2·base, 4·base, ... up to cap): a camera or a serial port has no herd to spread.
    """

    def __init__(
        self, base_s: float, cap_s: float, rng: random.Random | None = None, jitter: bool = True
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(f"backoff needs 0 < base ({base_s}) <= cap ({cap_s})")
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self.jitter = jitter
        self._rng = rng or random.Random()

    def ceiling_s(self) -> float:
        """The largest delay the next failure may draw."""
        # min() before the power would be nicer, but 2**failures overflows float only past 1023
        return min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 64))

    def next_delay_s(self) -> float:
        """Record one more failure and return how long to wait before trying again."""
        ceiling = self.ceiling_s()
        delay = self._rng.uniform(0.0, ceiling) if self.jitter else ceiling
        self.failures += 1
        return delay

    def reset(self) -> None:
        """A request succeeded: the next failure starts from the base again."""
        self.failures = 0
