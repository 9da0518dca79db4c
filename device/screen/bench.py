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

from device.errors import SmilepayError
from device.progress import Progress

LAUNCH_TIMEOUT_S = 60.0
SETTLE_S = 2.0  # idle time after ready before reading the resident memory
TAPS = 20


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


def prepare_kiosk_home(stack: ExitStack, root: Path) -> Path:
    """A data dir with a registered device and the token issuer's key; returns the TOML path."""
    from device.demo import demo_config, start_ledger, token_issuer
    from sync.agent.device_identity import init_device

    ledger_dir, device_dir = root / "ledger", root / "device"
    ledger_dir.mkdir(parents=True)
    ledger = start_ledger(f"sqlite:///{ledger_dir / 'ledger.db'}")
    stack.callback(ledger.stop)
    init_device(device_dir, ledger.url, name="bench kiosk")
    token_issuer(demo_config(device_dir, ledger.url, 0), ledger_dir)
    config = root / "kiosk.toml"
    config.write_text(
        f'[device]\ndata_dir = "{device_dir}"\n\n'
        f'[sync]\nledger_url = "{ledger.url}"\n\n'
        f'[screen]\nhost = "127.0.0.1"\nport = {_free_port()}\n',
        encoding="utf-8",
    )
    return config


def service_environment(root: Path, notify_path: Path) -> dict[str, str]:
    """The environment systemd gives the kiosk unit (see systemd/smilepay-kiosk.service)."""
    cache = root / "cache"
    cache.mkdir(exist_ok=True)
    return {
        **os.environ,
        "NOTIFY_SOCKET": str(notify_path),
        "PYTHONUNBUFFERED": "1",
        # python-escpos parses a large YAML file at import (1.9 s here) unless it finds its pickle.
        "ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache),
    }


def launch_once(config: Path, root: Path, wrapper: Sequence[str] = ()) -> KioskRun:
    """Start the kiosk process, time it to ready, read its memory, stop it with SIGTERM.
    `wrapper` is a command to launch it through (as `taskset ...`, or a sandbox)."""
    notify_path = root / f"notify-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        url = f"http://127.0.0.1:{_screen_port(config)}"
        started = time.monotonic()
        process = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "device.service", "--config", str(config)],
            env=service_environment(root, notify_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            ready_s, notify_ready_s = _wait_ready(process, url, notify, started)
            ready_cpu_s = _cpu_seconds(process.pid)
            if notify_ready_s is None:  # the screen may answer just before READY=1 is sent
                notify_ready_s = _first_message_time(notify, "READY=1", started)
            time.sleep(SETTLE_S)
            taps = tap_to_view_ms(url, TAPS)
            rss, peak = _memory_mb(process.pid)
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=30)
            stopping = _first_message_time(notify, "STOPPING=1", started) is not None
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return KioskRun(notify_ready_s, ready_s, ready_cpu_s, taps, rss, peak, exit_code, stopping)


def tap_to_view_ms(url: str, taps: int) -> list[float]:
    """Milliseconds from each POST /api/items until the view with that item arrives over SSE
    (the real path: HTTP, the kiosk's checkout thread, step(), the listener, the stream)."""
    views: queue.Queue[dict[str, Any]] = queue.Queue()
    reader = threading.Thread(target=_read_views, args=(url, views), daemon=True)
    reader.start()
    views.get(timeout=10)  # the current view, sent on connect
    timings = []
    with httpx.Client(base_url=url, timeout=10) as http:
        for tap in range(taps):
            started = time.perf_counter()
            http.post("/api/items", json={"name": f"item {tap}", "quantity": 1, "unit_minor": 100})
            while len(views.get(timeout=10)["items"]) != tap + 1:
                pass
            timings.append((time.perf_counter() - started) * 1000)
        http.post("/api/cancel", json={})
    return timings


def _read_views(url: str, views: queue.Queue[dict[str, Any]]) -> None:
    with (
        contextlib.suppress(httpx.HTTPError),
        httpx.stream("GET", url + "/events", timeout=None) as response,
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
        "goal": {"ready_s": 3.0, "rss_mb": 250.0},
        "command": "python -m device.service --config kiosk.toml (synthetic camera, simulators)",
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, notify: socket.socket, started: float
) -> tuple[float, float | None]:
    """Seconds until /healthz answers 200, and until READY=1 arrived (if it did by then)."""
    notify.setblocking(False)
    notified: float | None = None
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() - started < LAUNCH_TIMEOUT_S:
            notified = notified or _ready_seen(notify, started)
            _fail_if_exited(process)
            try:
                if http.get(url + "/healthz").status_code == 200:
                    return time.monotonic() - started, notified
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.01)
    raise SmilepayError(f"the kiosk did not answer {url}/healthz within {LAUNCH_TIMEOUT_S} s")


def _ready_seen(notify: socket.socket, started: float) -> float | None:
    try:
        message = notify.recv(4096).decode("utf-8", errors="replace")
    except BlockingIOError:
        return None
    return time.monotonic() - started if "READY=1" in message else None


def _fail_if_exited(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        return
    err = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
    raise SmilepayError(f"the kiosk exited with {process.returncode}: {err}")


def _first_message_time(notify: socket.socket, wanted: str, started: float) -> float | None:
    """Read the notify socket until `wanted` arrives (or 5 s pass); its arrival time, if any."""
    notify.settimeout(5.0)
    try:
        while True:
            if wanted in notify.recv(4096).decode("utf-8", errors="replace"):
                return time.monotonic() - started
    except TimeoutError:
        return None


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


def _screen_port(config: Path) -> int:
    import tomllib

    return int(tomllib.loads(config.read_text(encoding="utf-8"))["screen"]["port"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
