"""`smilepay bench kiosk`: how long the kiosk process takes from launch until its screen answers
/healthz (models loaded: the kiosk assembles them before serving), and how much memory it holds.

Each run launches a fresh process on simulated drivers with a registered device identity (a
local ledger serves the registration), listens on a real $NOTIFY_SOCKET as systemd would, and
ends the process with SIGTERM as systemd would.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from base.errors import SmilepayError
from base.progress import Progress

LAUNCH_TIMEOUT_S = 60.0
SETTLE_S = 2.0  # idle time after ready before reading the resident memory
TAPS = 20
WATCHDOG_USEC = 20_000_000  # WatchdogSec=20 in smilepay-kiosk.service


@dataclass(frozen=True)
class KioskRun:
    """One launch: seconds to READY=1 and to /healthz, memory, and a clean exit."""

    notify_ready_s: float | None
    ready_s: float
    ready_cpu_s: float  # CPU time the process used until ready: less sensitive to a busy machine
    tap_to_view_ms: list[float]  # POST an action -> the new view arrives on the event stream
    rss_mb: float
    peak_rss_mb: float
    exit_code: int
    stopping_sent: bool
    watchdog_pings: int


SIMULATED_HARDWARE_TOML = """\
# A test rig: every role on its simulator, named (the kiosk has no hardware defaults).
[camera]
type = "synthetic"

[scanner]
type = "simulated"

[printer]
type = "simulated"

[indicator]
type = "simulated"
"""


def prepare_kiosk_home(stack: ExitStack, root: Path) -> Path:
    """A data dir with a registered device and the token issuer's key; returns the TOML path."""
    from device.demo import demo_config, install_issuer_public_key, start_ledger, token_issuer
    from sync.agent.device_identity import init_device

    ledger_dir, device_dir = root / "ledger", root / "device"
    ledger_dir.mkdir(parents=True)
    issuer = token_issuer(ledger_dir)
    ledger = start_ledger(f"sqlite:///{ledger_dir / 'ledger.db'}", issuer)
    stack.callback(ledger.stop)
    init_device(device_dir, ledger.url, name="bench kiosk")
    install_issuer_public_key(demo_config(device_dir, ledger.url, 0), issuer)
    config = root / "kiosk.toml"
    shelf = "".join(
        f'[[catalogue.items]]\nid = "bench-{n}"\nname = "item {n}"\nunit_minor = 100\n\n'
        for n in range(TAPS)
    )
    config.write_text(
        f'[device]\ndata_dir = "{device_dir}"\n\n'
        f'[sync]\nledger_url = "{ledger.url}"\n\n'
        f'[screen]\nhost = "127.0.0.1"\nport = {_free_port()}\n'
        f'launch_url_file = "{root / "run" / "screen-url"}"\n\n{shelf}' + SIMULATED_HARDWARE_TOML,
        encoding="utf-8",
    )
    return config


def service_environment(
    root: Path, notify_path: Path, watchdog_usec: int = WATCHDOG_USEC
) -> dict[str, str]:
    """The environment systemd gives the kiosk unit (see systemd/smilepay-kiosk.service)."""
    cache = root / "cache"
    cache.mkdir(exist_ok=True)
    return {
        **os.environ,
        "NOTIFY_SOCKET": str(notify_path),
        "WATCHDOG_USEC": str(watchdog_usec),
        "PYTHONUNBUFFERED": "1",
        # python-escpos parses a large YAML file at import (1.9 s here) unless it finds its pickle.
        "ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache),
    }


class NotifyListener:
    """systemd's end of $NOTIFY_SOCKET: keeps every message with the time it arrived."""

    def __init__(self, path: Path, started: float) -> None:
        self.path = path
        self.started = started
        self.messages: list[tuple[float, str]] = []
        self._arrived = threading.Condition()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                message = self._sock.recv(4096).decode("utf-8", errors="replace")
            except TimeoutError:
                continue
            with self._arrived:
                self.messages.append((time.monotonic() - self.started, message))
                self._arrived.notify_all()

    def first(self, wanted: str, timeout_s: float = 0.0) -> float | None:
        """Seconds from launch until a message containing `wanted` arrived (waits up to
        `timeout_s` for it), or None."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._find(wanted) is not None, timeout_s)
            return self._find(wanted)

    def count(self, wanted: str) -> int:
        """How many messages contained `wanted`."""
        with self._arrived:
            return sum(wanted in message for _, message in self.messages)

    def _find(self, wanted: str) -> float | None:
        return next((at for at, message in self.messages if wanted in message), None)

    def close(self) -> None:
        """Stop listening."""
        self._closed.set()
        self._thread.join()
        self._sock.close()
        self.path.unlink(missing_ok=True)


def launch_once(
    config: Path,
    root: Path,
    wrapper: Sequence[str] = (),
    watchdog_usec: int = WATCHDOG_USEC,
    patience: float = 1.0,
) -> KioskRun:
    """Start the kiosk process, time it to ready, read its memory, stop it with SIGTERM.
    `wrapper` is a command to launch it through (as `taskset ...`, or a sandbox); `patience`
    multiplies how long start-up and stopping may take (a slow or emulated machine)."""
    url = f"http://127.0.0.1:{_screen_port(config)}"
    launch_file = _launch_url_file(config)
    started = time.monotonic()
    notify = NotifyListener(root / f"notify-{time.monotonic_ns()}", started)
    process = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "device.cli", "kiosk", "--config", str(config)],
        env=service_environment(root, notify.path, watchdog_usec),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ready_s = _wait_healthy(process, url, started, LAUNCH_TIMEOUT_S * patience)
        ready_cpu_s = _cpu_seconds(process.pid)
        time.sleep(SETTLE_S)
        taps = tap_to_view_ms(url, TAPS, launch_file.read_text(encoding="utf-8").strip())
        rss, peak = _memory_mb(process.pid)
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30 * patience)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stopping = notify.first("STOPPING=1", timeout_s=5.0 * patience) is not None
        notify.close()
    ready = notify.first("READY=1")
    pings = notify.count("WATCHDOG=1")
    return KioskRun(ready, ready_s, ready_cpu_s, taps, rss, peak, exit_code, stopping, pings)


def tap_to_view_ms(url: str, taps: int, launch_url: str) -> list[float]:
    """Milliseconds from each POST /api/items until the view with that item arrives over SSE
    (the real path: HTTP, the kiosk's checkout thread, step(), the listener, the stream), as
    the kiosk's own browser (launched on `launch_url`, which carries the screen secret)."""
    views: queue.Queue[dict[str, Any]] = queue.Queue()
    with httpx.Client(base_url=url, timeout=10) as http:
        http.get(launch_url)
        reader = threading.Thread(target=_read_views, args=(http, views), daemon=True)
        reader.start()
        views.get(timeout=10)  # the current view, sent on connect
        timings = []
        for tap in range(taps):
            started = time.perf_counter()
            http.post("/api/items", json={"item_id": f"bench-{tap}"})
            while len(views.get(timeout=10)["items"]) != tap + 1:
                pass
            timings.append((time.perf_counter() - started) * 1000)
        http.post("/api/cancel", json={})
    return timings


def _read_views(http: httpx.Client, views: queue.Queue[dict[str, Any]]) -> None:
    with (
        contextlib.suppress(httpx.HTTPError),
        http.stream("GET", "/events", timeout=None) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                views.put(json.loads(line[6:]))


def bench_kiosk(runs: int) -> dict[str, Any]:
    """Launch the kiosk `runs` times; the figures of each run and their medians."""
    progress = Progress("bench kiosk", runs)
    results = []
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smilepay-bench-")))
        config = prepare_kiosk_home(stack, root)
        for _ in range(runs):
            results.append(launch_once(config, root))
            progress.advance()
    progress.finish()
    return _summary(results)


def _summary(results: list[KioskRun]) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    notify = [r.notify_ready_s for r in results if r.notify_ready_s is not None]
    return {
        "bench": "kiosk",
        "runs": len(results),
        # The first launch also writes python-escpos's capabilities cache (a cold start).
        "first_ready_s": round(results[0].ready_s, 3),
        "ready_s": median([r.ready_s for r in results]),
        "ready_s_max": round(max(r.ready_s for r in results), 3),
        "ready_cpu_s": median([r.ready_cpu_s for r in results]),
        "notify_ready_s": median(notify) if notify else None,
        "tap_to_view_ms_p50": median([t for r in results for t in r.tap_to_view_ms]),
        "tap_to_view_ms_max": round(max(t for r in results for t in r.tap_to_view_ms), 1),
        "rss_mb": median([r.rss_mb for r in results]),
        "peak_rss_mb": median([r.peak_rss_mb for r in results]),
        "clean_exits": sum(r.exit_code == 0 and r.stopping_sent for r in results),
        "watchdog_pings": sum(r.watchdog_pings for r in results),
        "goal": {"ready_s": 3.0, "rss_mb": 250.0},
        "command": "smilepay kiosk --config kiosk.toml (synthetic camera, simulators)",
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _wait_healthy(
    process: subprocess.Popen[bytes], url: str, started: float, limit_s: float = LAUNCH_TIMEOUT_S
) -> float:
    """Seconds from launch until /healthz answers 200 (at most `limit_s`)."""
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() - started < limit_s:
            _fail_if_exited(process)
            try:
                if http.get(url + "/healthz").status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.01)
    raise SmilepayError(f"the kiosk did not answer {url}/healthz within {limit_s:g} s")


def _fail_if_exited(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        return
    err = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
    raise SmilepayError(f"the kiosk exited with {process.returncode}: {err}")


def _cpu_seconds(pid: int) -> float:
    # /proc/PID/stat: fields 14 and 15 (after the parenthesised name) are utime and stime.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 3)


def _memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return _kb_to_mb(fields["VmRSS"]), _kb_to_mb(fields["VmHWM"])


def _kb_to_mb(value: str) -> float:
    return round(int(value.split()[0]) / 1024, 1)


def _launch_url_file(config: Path) -> Path:
    import tomllib

    return Path(tomllib.loads(config.read_text(encoding="utf-8"))["screen"]["launch_url_file"])


def _screen_port(config: Path) -> int:
    import tomllib

    return int(tomllib.loads(config.read_text(encoding="utf-8"))["screen"]["port"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
