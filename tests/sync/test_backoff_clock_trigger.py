"""Backoff with full jitter, the NTP-style clock estimate, and the sync-now trigger."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from base.backoff import Backoff
from sync.agent.clock import ClockSample, ClockWatch
from sync.agent.trigger import SyncTrigger, request_sync_now
from tests.timing import slow


def test_backoff_delays_stay_within_a_doubling_ceiling_up_to_the_cap() -> None:
    # GIVEN a backoff of base 0.5 s and cap 8 s
    backoff = Backoff(0.5, 8.0, random.Random(1))
    # WHEN failures accumulate
    ceilings, delays = [], []
    for _ in range(10):
        ceilings.append(backoff.ceiling_s())
        delays.append(backoff.next_delay_s())
    # THEN the ceiling doubles until the cap and each delay is drawn below it
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_backoff_jitter_is_full_not_just_a_fraction_of_the_ceiling() -> None:
    # GIVEN a backoff at its cap
    backoff = Backoff(1.0, 1.0, random.Random(7))
    # WHEN many delays are drawn
    delays = [backoff.next_delay_s() for _ in range(2000)]
    # THEN they spread over the whole range [0, cap]
    assert min(delays) < 0.05 and max(delays) > 0.95


def test_backoff_reset_starts_again_from_the_base() -> None:
    backoff = Backoff(0.5, 60.0)
    for _ in range(5):
        backoff.next_delay_s()
    backoff.reset()
    assert backoff.ceiling_s() == 0.5


def test_backoff_refuses_a_cap_below_the_base() -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(2.0, 1.0)


def test_clock_offset_is_the_ledger_time_minus_the_midpoint_of_the_exchange() -> None:
    # GIVEN a ledger 5 s ahead and a 40 ms round trip
    sample = ClockSample(sent_ms=1_000_000, ledger_ms=1_005_020, received_ms=1_000_040)
    # THEN the offset is 5 s and the RTT 40 ms
    assert sample.offset_ms == 5000
    assert sample.rtt_ms == 40


def test_clock_watch_trusts_the_sample_with_the_shortest_round_trip() -> None:
    # GIVEN one congested exchange (asymmetric delay skews it) and one quick exchange
    watch = ClockWatch(drift_alarm_s=30)
    watch.add(ClockSample(0, 900, 1000))
    estimate = watch.add(ClockSample(10_000, 10_005, 10_010))
    # THEN the quick one wins, with half its RTT as uncertainty
    assert estimate.offset_ms == 0
    assert estimate.uncertainty_ms == 5
    assert not estimate.drift_alarm


def test_clock_watch_raises_the_drift_alarm_beyond_the_threshold() -> None:
    # GIVEN a device clock 2 minutes behind the ledger
    watch = ClockWatch(drift_alarm_s=30)
    # WHEN an exchange is recorded
    estimate = watch.add(ClockSample(0, 120_000, 20))
    # THEN the alarm is on (never a correction of recorded times: only the estimate)
    assert estimate.drift_alarm
    assert estimate.as_state()["offset_ms"] == pytest.approx(119_990)


def test_sync_now_file_wakes_a_waiting_trigger_once(tmp_path: Path) -> None:
    # GIVEN an agent waiting for a long interval
    trigger = SyncTrigger(tmp_path, poll_s=0.01)
    request_sync_now(tmp_path)
    # WHEN it waits
    woke = trigger.wait(slow(30))
    # THEN it wakes for the request, and the request is used up
    assert woke
    assert not (tmp_path / "sync-now").exists()
    assert trigger.wait(0.05) is False


def test_trigger_stop_ends_a_wait_from_another_thread(tmp_path: Path) -> None:
    trigger = SyncTrigger(tmp_path, poll_s=0.01)
    threading.Timer(0.05, trigger.stop).start()
    assert trigger.wait(slow(30)) is False
    assert trigger.stopping.is_set()


def test_trigger_poke_wakes_a_wait_in_the_same_process(tmp_path: Path) -> None:
    trigger = SyncTrigger(tmp_path, poll_s=0.01)
    threading.Timer(0.05, trigger.poke).start()
    assert trigger.wait(slow(30)) is True
