"""Waits in tests scale with SMILEPAY_SLOWDOWN (default 1): under qemu-user emulation
(tools/check-arm64.sh sets it to 20) every step takes 10-30x longer, and a wait that is ample
natively is not. Use `slow(s)` for a wait for something to happen, never for a timeout the test
itself is checking (a client's deadline, a backoff)."""

from __future__ import annotations

import os

SLOWDOWN = max(float(os.environ.get("SMILEPAY_SLOWDOWN", "1") or 1), 1.0)


def slow(seconds: float) -> float:
    """`seconds` stretched by the environment's slowdown factor."""
    return seconds * SLOWDOWN
