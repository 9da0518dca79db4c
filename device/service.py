"""Glue between a long-running service and systemd: READY once started, WATCHDOG pings only while
the main loops report healthy (a stuck loop stops the pings, so systemd restarts the service),
STOPPING on the way out."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.sdnotify import SdNotifier
from base.threads import LoopThread

if TYPE_CHECKING:
    from device.config import KioskConfig

log = logging.getLogger("smilepay.service")
HealthCheck = Callable[[], str | None]
"""Returns None while healthy, else what is wrong (shown as the unit's STATUS)."""

DEFAULT_MAX_LOOP_AGE_S = 5.0


class WatchdogPinger:
    """Pings systemd's watchdog every `interval_s` while `check()` says healthy."""

    def __init__(self, notifier: SdNotifier, check: HealthCheck, interval_s: float) -> None:
        self.notifier = notifier
        self.check = check
        self.interval_s = interval_s
        self.pings = 0
        self.last_problem: str | None = None
        self._loop = LoopThread("watchdog", self._run, join_timeout_s=interval_s + 1)

    def start(self) -> None:
        """Begin pinging in a background thread."""
        self._loop.start()

    def stop(self) -> None:
        """Stop pinging."""
        self._loop.stop()

    def beat(self) -> bool:
        """One round: ping if healthy; report a new problem once as STATUS. True if pinged."""
        try:
            problem = self.check()
        except Exception as exc:  # a failing health check is itself unhealthy
            problem = f"health check failed: {exc}"
        if problem is not None:
            if problem != self.last_problem:
                log.warning("unhealthy: withholding watchdog pings", extra={"problem": problem})
                self.notifier.status(f"unhealthy: {problem}")
            self.last_problem = problem
            return False
        if self.last_problem is not None:
            self.notifier.status("healthy")
            self.last_problem = None
        self.pings += 1
        return self.notifier.watchdog()

    def _run(self) -> None:
        while not self._loop.stopping.wait(self.interval_s):
            self.beat()


def stale_loops(heartbeats: Mapping[str, float | None], now: float, max_age_s: float) -> str | None:
    """None if every loop beat within `max_age_s`, else which loops are stuck (None = no loop).
    The text stays the same while the same loops stay stuck, so the status is sent once."""
    stuck = [
        f"{name} loop silent over {max_age_s:g} s"
        for name, at in heartbeats.items()
        if at is not None and now - at > max_age_s
    ]
    return "; ".join(stuck) or None


def loops_health_check(
    heartbeats: Callable[[], Mapping[str, float | None]], max_age_s: float
) -> HealthCheck:
    """Healthy while every loop's last beat (time.monotonic()) is at most `max_age_s` old."""
    return lambda: stale_loops(heartbeats(), time.monotonic(), max_age_s)


def kiosk_health_check(kiosk: Any, max_age_s: float = DEFAULT_MAX_LOOP_AGE_S) -> HealthCheck:
    """Healthy while the kiosk's checkout loop and camera loop (if any) keep beating."""

    def heartbeats() -> dict[str, float | None]:
        camera = getattr(kiosk, "camera_loop", None)
        return {
            "checkout": kiosk.heartbeat,
            "camera": camera.heartbeat if camera is not None else None,
        }

    return loops_health_check(heartbeats, max_age_s)


def start_watchdog(notifier: SdNotifier, check: HealthCheck) -> WatchdogPinger | None:
    """Start pinging if systemd set a watchdog for this process; None otherwise."""
    if notifier.watchdog_interval_s is None or not notifier.enabled:
        return None
    pinger = WatchdogPinger(notifier, check, notifier.watchdog_interval_s)
    pinger.start()
    return pinger


@contextmanager
def systemd_service(
    check: HealthCheck, ready_status: str, notifier: SdNotifier | None = None
) -> Iterator[SdNotifier]:
    """Tell systemd READY=1 on entry, ping its watchdog while `check()` is healthy, and send
    STOPPING=1 on exit. Outside systemd it does nothing. Wrap a service's main loop in it:
    `with systemd_service(loops_health_check(...), "syncing"): agent.run()`."""
    notifier = notifier or SdNotifier()
    notifier.ready(ready_status)
    pinger = start_watchdog(notifier, check)
    try:
        yield notifier
    finally:
        notifier.stopping("stopping")
        if pinger is not None:
            pinger.stop()


def run_kiosk(config_path: Path) -> int:
    """`smilepay kiosk --config PATH`: assemble the kiosk, serve its screen, tell systemd when
    ready, ping the watchdog while healthy, and stop cleanly on SIGTERM or SIGINT."""
    from base.logs import configure_logging
    from device.config import load_config, required_hardware

    configure_logging("kiosk")
    config = load_config(config_path)
    required_hardware(config, str(config_path))  # refuse before opening anything
    stop = _stop_on_signals()
    with ExitStack() as stack:
        kiosk, url = start_kiosk_and_screen(stack, config)
        with systemd_service(kiosk_health_check(kiosk), f"serving the screen at {url}"):
            log.info("kiosk ready", extra={"screen": url})
            stop.wait()
            log.info("kiosk stopping")
    return 0


def start_kiosk_and_screen(stack: ExitStack, config: KioskConfig) -> tuple[Any, str]:
    """Assemble and start the kiosk, then serve its screen; both stop when `stack` closes.
    Returns the kiosk and the screen's URL."""
    from device.app import Kiosk
    from device.screen.enrol import kiosk_enrolment
    from device.screen.forget import kiosk_forget
    from device.screen.guard import boot_secret, write_launch_url
    from device.screen.operator import read_operator_pin
    from device.screen.server import create_screen_app, serve_screen_in_thread

    pin_file = config.screen.operator_pin_file
    pin = read_operator_pin(config.secret_path(pin_file)) if pin_file else None
    metrics_token = _metrics_token(config)
    kiosk = Kiosk.assemble(config)
    kiosk.start()
    stack.callback(kiosk.stop)
    if config.terminal.pos_key_files:
        from device.terminal.service import start_terminal

        start_terminal(stack, kiosk, config.terminal)
    launch_file = config.screen.launch_url_file
    app = create_screen_app(
        kiosk,
        config.screen,
        pin,
        boot_secret(launch_file),
        enrolment=kiosk_enrolment(kiosk),
        forget=kiosk_forget(kiosk),
    )
    server = serve_screen_in_thread(app, config.screen.host, config.screen.port)
    stack.callback(server.stop)
    if launch_file is not None:
        write_launch_url(launch_file, server.launch_url)  # before READY: the browser waits
    if metrics_token is not None:
        stack.callback(serve_metrics(kiosk, config, metrics_token))
    return kiosk, server.url


def _metrics_token(config: KioskConfig) -> str | None:
    from device.metrics import read_metrics_token

    if config.metrics.port is None:
        return None
    return read_metrics_token(config.secret_path(config.metrics.token_file))


def serve_metrics(kiosk: Any, config: KioskConfig, token: str) -> Callable[[], None]:
    """Serve the kiosk's Prometheus metrics on [metrics] host:port; returns the stopper."""
    from device.metrics import kiosk_registry, metrics_app
    from device.screen.serving import serve_screen_in_thread

    app = metrics_app(kiosk_registry(kiosk, kiosk.metrics), token)
    server = serve_screen_in_thread(app, config.metrics.host, config.metrics.port or 0)
    log.info("metrics served", extra={"url": f"{server.url}/metrics"})
    return server.stop


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
