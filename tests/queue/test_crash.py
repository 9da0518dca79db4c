"""Crash test: SIGKILL the selling process at random moments; nothing acknowledged is lost."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from sync.queue.standalone import open_standalone
from tests.queue.crashloop import crash_loop, stress_command
from tests.timing import slow


def check_survivors(data_dir: Path, acknowledged: list[str]) -> None:
    with open_standalone(data_dir, create_key=False) as queue:
        sale_ids = [sale.sale_id for sale in queue.records()]
        seqs = [sale.seq for sale in queue.records()]
        problems = queue.verify_chain()
        integrity = queue.integrity_check()
    assert [i for i, n in Counter(acknowledged).items() if n > 1] == [], "an id acked twice"
    assert set(acknowledged) - set(sale_ids) == set(), "acknowledged sales lost"
    assert len(sale_ids) == len(set(sale_ids)), "a sale stored twice"
    assert seqs == list(range(1, len(seqs) + 1)), "seq numbers have gaps"
    assert problems == []
    assert integrity == "ok"


def test_sigkill_at_random_moments_loses_no_acknowledged_sale(tmp_path: Path) -> None:
    # GIVEN `smilepay queue stress --print-acks` selling into one data directory
    # WHEN it is killed with SIGKILL 100 times at random moments and restarted each time
    tally = crash_loop(tmp_path / "data", kills=100, seed=5)
    # THEN every acknowledged sale is there once, seq has no gaps, chain and file are intact
    assert tally.kills == 100 and len(tally.acknowledged) > 100
    check_survivors(tmp_path / "data", tally.acknowledged)


@pytest.mark.slow
@pytest.mark.timeout(slow(7200))
def test_a_thousand_sigkills_lose_no_acknowledged_sale(tmp_path: Path) -> None:
    tally = crash_loop(tmp_path / "data", kills=1000, seed=1000)
    assert tally.kills == 1000
    check_survivors(tmp_path / "data", tally.acknowledged)
    print(
        f"kills={tally.kills} during_startup={tally.kills_during_startup} "
        f"acknowledged={len(tally.acknowledged)}"
    )


def test_two_processes_selling_at_once_share_one_gapless_chain(tmp_path: Path) -> None:
    # GIVEN one data directory (key and database made first)
    data = tmp_path / "data"
    open_standalone(data, create_key=True).close()
    # WHEN two stress processes sell into it at the same time
    children = [
        subprocess.Popen(stress_command(data, 40), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    acked = [line for child in children for line in child.communicate(timeout=slow(120))[0].split()]
    # THEN all 80 are there, numbered 1..80 with one intact chain
    assert len(acked) == 80
    check_survivors(data, acked)
