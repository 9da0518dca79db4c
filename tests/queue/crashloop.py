"""Kill `smilepay queue stress --print-acks` with SIGKILL at random moments, again and again."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.timing import slow


@dataclass
class CrashTally:
    acknowledged: list[str] = field(default_factory=list)
    kills: int = 0
    kills_during_startup: int = 0
    finished_runs: int = 0


class AckReader(threading.Thread):
    """Collects complete lines from the child's stdout (a torn last line is not an ack)."""

    def __init__(self, stream: object) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.acks: list[str] = []
        self.first = threading.Event()

    def run(self) -> None:
        for line in self.stream:  # type: ignore[attr-defined]
            if line.endswith("\n"):
                self.acks.append(line.strip())
                self.first.set()
        self.first.set()


def stress_command(data_dir: Path, count: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "device.cli",
        "queue",
        "stress",
        "--data-dir",
        str(data_dir),
        "--count",
        str(count),
        "--print-acks",
    ]


def one_life(data_dir: Path, rng: random.Random, tally: CrashTally) -> None:
    """Start the child, kill it at a random moment (sometimes while it starts up, mostly while
    it sells), and keep the ids it acknowledged before dying."""
    child = subprocess.Popen(
        stress_command(data_dir, 100_000),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    reader = AckReader(child.stdout)
    reader.start()
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0.0, 0.6))
        tally.kills_during_startup += not reader.first.is_set()
    else:
        reader.first.wait(timeout=slow(60))
        time.sleep(rng.uniform(0.0, 0.03))
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
        tally.kills += 1
    else:
        tally.finished_runs += 1
    child.wait()
    reader.join(timeout=slow(10))
    tally.acknowledged += reader.acks


def crash_loop(data_dir: Path, kills: int, seed: int) -> CrashTally:
    rng = random.Random(seed)
    tally = CrashTally()
    while tally.kills < kills:
        one_life(data_dir, rng, tally)
        if tally.kills % 50 == 0:
            print(
                f"crash loop: {tally.kills}/{kills} kills, {len(tally.acknowledged)} acked",
                file=sys.stderr,
                flush=True,
            )
    return tally
