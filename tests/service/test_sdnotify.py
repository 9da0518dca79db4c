"""sd_notify and the watchdog glue, against a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from base.sdnotify import SdNotifier, watchdog_interval_s
from device.service import WatchdogPinger, kiosk_health_check, stale_loops, start_watchdog
from tests.timing import slow


class FakeManager:
    """The service manager's end: a bound datagram socket that collects messages."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(slow(5))

    def receive(self, timeout_s: float = 5.0) -> str:
        self.sock.settimeout(slow(timeout_s))
        return self.sock.recv(4096).decode("utf-8")

    def receive_until(self, wanted: str, timeout_s: float = 5.0) -> list[str]:
        seen = []
        while True:
            message = self.receive(timeout_s)
            seen.append(message)
            if wanted in message:
                return seen


@pytest.fixture
def manager() -> Iterator[tuple[FakeManager, str]]:
    # AF_UNIX paths are limited to 108 bytes: keep the directory short, not under tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="sdn-", dir="/tmp"))
    path = str(folder / "notify")
    fake = FakeManager(path)
    yield fake, path
    fake.sock.close()
    os.unlink(path)
    folder.rmdir()


def test_ready_status_watchdog_and_stopping_arrive_as_datagrams(manager) -> None:
    fake, path = manager
    notifier = SdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("serving the screen")
    assert fake.receive() == "READY=1\nSTATUS=serving the screen"
    assert notifier.watchdog()
    assert fake.receive() == "WATCHDOG=1"
    assert notifier.stopping()
    assert fake.receive() == "STOPPING=1"


def test_an_abstract_socket_address_is_reached_through_its_nul_prefix() -> None:
    name = f"smilepay-test-{uuid.uuid4().hex}"
    fake = FakeManager("\0" + name)
    try:
        assert SdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert fake.receive() == "READY=1"
    finally:
        fake.sock.close()


def test_outside_systemd_every_call_is_a_quiet_no_op() -> None:
    notifier = SdNotifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_a_vanished_manager_socket_does_not_crash_the_service(tmp_path: Path) -> None:
    notifier = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.watchdog() is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_ping_interval_is_half_the_watchdog_timeout_for_this_process(env, expected) -> None:
    assert watchdog_interval_s(env) == expected


def test_pings_are_withheld_while_unhealthy_and_the_reason_becomes_the_status(manager) -> None:
    fake, path = manager
    problem: list[str | None] = [None]
    pinger = WatchdogPinger(SdNotifier({"NOTIFY_SOCKET": path}), lambda: problem[0], 1.0)
    # GIVEN healthy loops THEN a beat pings
    assert pinger.beat()
    assert fake.receive() == "WATCHDOG=1"
    # WHEN the camera loop is stuck THEN no ping, and the status says why (once)
    problem[0] = "camera loop silent 9.0 s"
    assert not pinger.beat()
    assert not pinger.beat()
    assert fake.receive() == "STATUS=unhealthy: camera loop silent 9.0 s"
    # WHEN it recovers THEN the status clears and pings resume
    problem[0] = None
    assert pinger.beat()
    assert fake.receive() == "STATUS=healthy"
    assert fake.receive() == "WATCHDOG=1"


def test_a_health_check_that_raises_counts_as_unhealthy(manager) -> None:
    fake, path = manager

    def broken() -> str | None:
        raise RuntimeError("queue locked")

    pinger = WatchdogPinger(SdNotifier({"NOTIFY_SOCKET": path}), broken, 1.0)
    assert not pinger.beat()
    assert fake.receive() == "STATUS=unhealthy: health check failed: queue locked"


def test_the_background_pinger_stops_pinging_when_a_loop_gets_stuck(manager) -> None:
    fake, path = manager
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}  # ping every 0.05 s
    kiosk = SimpleNamespace(heartbeat=time.monotonic(), camera_loop=None)
    check = kiosk_health_check(kiosk, max_age_s=60)
    pinger = start_watchdog(SdNotifier(env), check)
    assert pinger is not None
    try:
        assert fake.receive() == "WATCHDOG=1"
        assert fake.receive() == "WATCHDOG=1"
        # WHEN the checkout loop stops beating
        kiosk.heartbeat = time.monotonic() - 120
        messages = fake.receive_until("STATUS=unhealthy")
        assert "checkout loop silent" in messages[-1]
        # THEN no ping follows
        with pytest.raises(TimeoutError):
            fake.receive(timeout_s=0.5)
    finally:
        pinger.stop()


def test_no_watchdog_thread_starts_without_a_watchdog_setting(manager) -> None:
    _, path = manager
    assert start_watchdog(SdNotifier({"NOTIFY_SOCKET": path}), lambda: None) is None


def test_stale_loops_names_each_stuck_loop_and_ignores_absent_ones() -> None:
    now = 100.0
    assert stale_loops({"checkout": 99.0, "camera": None}, now, 5.0) is None
    found = stale_loops({"checkout": 90.0, "camera": 80.0}, now, 5.0)
    assert found == "checkout loop silent over 5 s; camera loop silent over 5 s"


def test_a_service_block_is_ready_on_entry_and_stopping_on_exit(manager) -> None:
    from device.service import loops_health_check, systemd_service

    fake, path = manager
    beat = [time.monotonic()]
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}
    check = loops_health_check(lambda: {"sync": beat[0]}, max_age_s=60)
    with systemd_service(check, "syncing", SdNotifier(env)):
        assert fake.receive() == "READY=1\nSTATUS=syncing"
        assert fake.receive() == "WATCHDOG=1"
    messages = fake.receive_until("STOPPING=1")
    assert messages[-1] == "STOPPING=1\nSTATUS=stopping"
