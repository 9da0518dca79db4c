"""How to run a `smilepay` command as a child process with this very interpreter (benchmarks and
tests start ledgers and kiosks this way, so the child runs the same code as the parent)."""

from __future__ import annotations

import sys


def smilepay_argv(*args: str) -> list[str]:
    """The argv of `smilepay ARGS...` run by the current interpreter (`python -m device.cli`)."""
    return [sys.executable, "-m", "device.cli", *args]
