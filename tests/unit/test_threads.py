"""The one loop-thread skeleton: starts, stops within a round, and can start again."""

from __future__ import annotations

import threading

from base.threads import LoopThread
from tests.timing import slow


def _counting_loop(rounds: list[int], loop: list[LoopThread], ran: threading.Event) -> None:
    while not loop[0].stopping.is_set():
        rounds.append(1)
        ran.set()
        loop[0].stopping.wait(0.01)


def test_a_loop_runs_until_stopped_and_can_run_again() -> None:
    # GIVEN a loop thread that counts its rounds
    rounds: list[int] = []
    ran = threading.Event()
    holder: list[LoopThread] = []
    loop = LoopThread("counter", lambda: _counting_loop(rounds, holder, ran))
    holder.append(loop)
    # WHEN it starts THEN it runs on its own named thread
    loop.start()
    assert ran.wait(slow(5)) and loop.alive
    assert any(t.name == "counter" for t in threading.enumerate())
    # WHEN it stops THEN the thread is gone and no more rounds run
    loop.stop()
    assert not loop.alive
    counted = len(rounds)
    assert not ran.clear() and not ran.wait(0.05) and len(rounds) == counted
    # WHEN started again THEN it runs again
    loop.start()
    assert ran.wait(slow(5))
    loop.stop()
    assert not loop.alive


def test_starting_a_running_loop_twice_keeps_one_thread() -> None:
    # GIVEN a running loop
    stop_seen = threading.Event()
    holder: list[LoopThread] = []
    loop = LoopThread("once", lambda: stop_seen.set() if holder[0].stopping.wait(slow(5)) else None)
    holder.append(loop)
    loop.start()
    # WHEN it is started again THEN still one thread carries its name
    loop.start()
    assert sum(t.name == "once" for t in threading.enumerate()) == 1
    loop.stop()
    assert stop_seen.is_set()
