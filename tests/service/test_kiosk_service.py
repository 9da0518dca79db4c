"""The kiosk as systemd runs it: a real process with a real $NOTIFY_SOCKET, that reports READY=1
once its screen answers, pings the watchdog while healthy, and STOPPING=1 then exit 0 on
SIGTERM."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from device.screen.bench import launch_once, prepare_kiosk_home
from tests.timing import slow


def test_the_kiosk_process_notifies_ready_serves_its_screen_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack:
        config = prepare_kiosk_home(stack, tmp_path)
        # a watchdog ping every 0.1 s
        run = launch_once(config, tmp_path, watchdog_usec=200_000, patience=slow(1))
    assert run.notify_ready_s is not None, "no READY=1 on the notify socket"
    assert run.exit_code == 0
    assert run.stopping_sent, "no STOPPING=1 on SIGTERM"
    assert run.watchdog_pings >= 1, "a healthy kiosk must ping the watchdog"
    assert run.rss_mb > 0
