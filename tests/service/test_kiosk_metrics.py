"""The kiosk's Prometheus metrics: counted from real checkout phase changes, and served by the
kiosk process on its own port behind a bearer token."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from prometheus_client import generate_latest

from device.checkout import Method, Phase, State
from device.metrics import CheckoutMetrics
from device.screen.bench import (
    LAUNCH_TIMEOUT_S,
    _free_port,
    _launch_url_file,
    _wait_healthy,
    prepare_kiosk_home,
    service_environment,
)
from tests.timing import slow

TOKEN = "kiosk-metrics-token-0123456789"


def series(text: str) -> dict[str, float]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines)}


def test_checkout_phase_changes_count_sales_and_time_the_face_step() -> None:
    # GIVEN the checkout metrics of a kiosk
    metrics = CheckoutMetrics()
    face = State(phase=Phase.FACE_CAPTURE, method=Method.FACE)
    # WHEN a customer is captured for 2.5 s, authorised and approved offline, and another declined
    metrics.transition(State(phase=Phase.CHOOSE_PAYMENT), face, now=10.0)
    metrics.transition(face, State(phase=Phase.AUTHORIZING, method=Method.FACE), now=12.5)
    approved = State(phase=Phase.APPROVED, method=Method.FACE, offline=True)
    metrics.transition(State(phase=Phase.AUTHORIZING), approved, now=12.7)
    declined = State(phase=Phase.DECLINED, method=Method.CUSTOMER_QR)
    metrics.transition(State(phase=Phase.AUTHORIZING), declined, now=20.0)
    # THEN the counters and the face timing say so
    got = series(generate_latest(metrics.registry).decode())
    assert got['smilepay_kiosk_sales_total{method="face",mode="offline"}'] == 1
    assert got['smilepay_kiosk_declines_total{method="customer_qr"}'] == 1
    assert got["smilepay_kiosk_face_seconds_count"] == 1
    assert got["smilepay_kiosk_face_seconds_sum"] == 2.5
    assert got["smilepay_kiosk_qr_seconds_count"] == 0


def test_the_kiosk_process_serves_its_metrics_with_a_token(tmp_path: Path) -> None:
    # GIVEN a kiosk configured with a metrics port and a 0600 token file
    token_file = tmp_path / "metrics.token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    port = _free_port()
    with ExitStack() as stack:
        config = prepare_kiosk_home(stack, tmp_path)
        with config.open("a") as extra:
            extra.write(f'\n[metrics]\nport = {port}\ntoken_file = "{token_file}"\n')
        screen = f"http://127.0.0.1:{_screen_port(config)}"
        env = service_environment(tmp_path, tmp_path / "no-notify")
        env.pop("NOTIFY_SOCKET")
        process = subprocess.Popen(
            [sys.executable, "-m", "device.cli", "kiosk", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        stack.callback(stop, process)
        _wait_healthy(process, screen, time.monotonic(), slow(LAUNCH_TIMEOUT_S))
        # WHEN an item goes in the basket and the metrics are scraped with and without the token
        # (as the kiosk's own browser: launched on the URL with the screen secret, by item id)
        with httpx.Client(base_url=screen, timeout=slow(10)) as browser:
            browser.get(_launch_url_file(config).read_text(encoding="utf-8").strip())
            added = browser.post("/api/items", json={"item_id": "bench-0"})
            assert added.status_code == 200, added.text
        url = f"http://127.0.0.1:{port}/metrics"
        denied = httpx.get(url, timeout=slow(10))
        got = wait_for_phase(url, "basket")
    # THEN the token is required, and the kiosk reports its phase, queue and camera
    assert denied.status_code == 401
    assert got['smilepay_kiosk_phase{phase="basket"}'] == 1
    assert got['smilepay_kiosk_phase{phase="idle"}'] == 0
    assert got["smilepay_kiosk_queue_backlog_sales"] == 0
    assert any(name.startswith("smilepay_kiosk_camera_state{") for name in got)


def wait_for_phase(url: str, phase: str) -> dict[str, float]:
    deadline = time.monotonic() + slow(10)
    while True:
        answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=slow(10))
        got = series(answer.text)
        if got.get(f'smilepay_kiosk_phase{{phase="{phase}"}}') == 1 or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _screen_port(config: Path) -> int:
    import tomllib

    return int(tomllib.loads(config.read_text(encoding="utf-8"))["screen"]["port"])


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=slow(30))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
