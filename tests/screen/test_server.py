"""The screen's HTTP side on a real uvicorn server: actions, validation, the SSE stream, the
camera frame, the operator PIN gate, and a page that loads nothing from outside the kiosk."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest

from base.errors import ConfigError, SmilepayError
from device.screen.broadcast import ViewBroadcaster
from device.screen.config import ScreenConfig
from device.screen.operator import FREE_ATTEMPTS, PinGate, read_operator_pin
from device.screen.server import STATIC, create_screen_app, serve_screen_in_thread
from tests.screen.conftest import OPERATOR_PIN, RunningScreen, start_screen
from tests.screen.step_kiosk import StepKiosk

GUIDANCE_KEYS = [
    "no_face",
    "come_closer",
    "look_at_screen",
    "too_dark",
    "too_bright",
    "hold_still",
    "now_smile",
    "ok",
]


@pytest.fixture
def plain_screen() -> Iterator[RunningScreen]:
    running = start_screen(StepKiosk(frame_jpeg=b"\xff\xd8 a jpeg \xff\xd9"))
    yield running
    running.server.stop()


@pytest.fixture
def http(plain_screen: RunningScreen) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=plain_screen.url, timeout=10) as client:
        yield client


def test_actions_reach_the_kiosk(plain_screen: RunningScreen, http: httpx.Client) -> None:
    assert http.post("/api/items", json={"name": "Tea", "quantity": 2, "unit_minor": 250}).json()
    assert http.post("/api/pay", json={}).status_code == 200
    assert http.post("/api/payment", json={"method": "merchant_qr"}).status_code == 200
    view = plain_screen.kiosk.view()
    assert view["phase"] == "merchant_qr"
    assert view["total_minor"] == 500


@pytest.mark.parametrize(
    ("action", "body", "reason"),
    [
        ("items", b"{not json", "body is not valid JSON"),
        ("items", b"[1, 2]", "body must be a JSON object"),
        ("items", b'{"name": "Tea", "quantity": 0, "unit_minor": 250}', "quantity: Input should"),
        ("items", b'{"name": "Tea", "quantity": "2", "unit_minor": 250}', "quantity: Input should"),
        ("items", b'{"name": "", "quantity": 1, "unit_minor": 250}', "name: String should"),
        ("items", b'{"name": "Tea", "quantity": 1}', "unit_minor: Field required"),
        ("payment", b'{"method": "cash"}', "method: Input should be 'face'"),
        ("digits", b'{"digits": "12ab"}', "digits: String should match pattern"),
        ("pay", b'{"now": true}', "now: unknown field"),
        ("remove_item", b'{"index": -1}', "index: Input should be greater than or equal to 0"),
    ],
)
def test_a_bad_body_is_refused_with_the_reason_and_loses_nothing_accepted(
    plain_screen: RunningScreen, http: httpx.Client, action: str, body: bytes, reason: str
) -> None:
    # GIVEN an item already in the basket
    http.post("/api/items", json={"name": "Bun", "quantity": 1, "unit_minor": 300})
    # WHEN a bad request arrives
    response = http.post(
        f"/api/{action}", content=body, headers={"content-type": "application/json"}
    )
    # THEN 400 names what was wrong, and the basket is as it was
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert [i["name"] for i in plain_screen.kiosk.view()["items"]] == ["Bun"]


def test_an_unknown_action_is_404_and_a_form_post_is_415(http: httpx.Client) -> None:
    assert http.post("/api/refund", json={}).json() == {"error": "no such action: refund"}
    response = http.post("/api/pay", data={"x": "1"})
    assert response.status_code == 415


def test_the_event_stream_sends_the_view_at_once_then_every_change(
    plain_screen: RunningScreen,
) -> None:
    phases: list[str] = []
    seen = threading.Condition()

    def listen() -> None:
        with httpx.stream("GET", plain_screen.url + "/events", timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    with seen:
                        phases.append(json.loads(line[6:])["phase"])
                        seen.notify_all()
                if len(phases) == 3:
                    return

    def wait_for(count: int) -> None:
        with seen:
            assert seen.wait_for(lambda: len(phases) >= count, 10), phases

    reader = threading.Thread(target=listen)
    reader.start()
    wait_for(1)
    plain_screen.kiosk.add_item("Tea", 1, 250)
    wait_for(2)
    plain_screen.kiosk.pay()
    wait_for(3)
    reader.join(10)
    assert phases == ["idle", "basket", "choose_payment"]


def test_a_slow_stream_skips_to_the_newest_view() -> None:
    async def views_after_burst() -> list[str]:
        kiosk = StepKiosk()
        broadcaster = ViewBroadcaster(kiosk)
        broadcaster.start()
        stream = broadcaster.stream()
        await anext(stream)  # retry
        await anext(stream)  # the current view
        kiosk.add_item("Tea", 1, 250)
        kiosk.pay()  # two changes before the browser reads any
        await asyncio.sleep(0.05)  # let the loop run the listener callbacks
        newest = await anext(stream)
        await cast(AsyncGenerator[str, None], stream).aclose()
        broadcaster.stop()
        return [json.loads(newest[6:])["phase"]]

    assert asyncio.run(views_after_burst()) == ["choose_payment"]


def test_a_quiet_stream_carries_heartbeat_comments() -> None:
    async def first_chunks() -> list[str]:
        broadcaster = ViewBroadcaster(StepKiosk(), heartbeat_s=0.05)
        broadcaster.start()
        stream = broadcaster.stream()
        chunks = [await anext(stream) for _ in range(3)]
        await cast(AsyncGenerator[str, None], stream).aclose()
        broadcaster.stop()
        return chunks

    chunks = asyncio.run(first_chunks())
    assert chunks[0] == "retry: 1000\n\n"
    assert chunks[1].startswith("data: {")
    assert chunks[2] == ": heartbeat\n\n"


def test_stopping_the_server_ends_open_streams(plain_screen: RunningScreen) -> None:
    ended = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", plain_screen.url + "/events", timeout=10) as response:
            for _ in response.iter_lines():
                pass
        ended.set()

    threading.Thread(target=listen, daemon=True).start()
    with httpx.Client(base_url=plain_screen.url) as http:
        while http.get("/healthz").json()["streams"] == 0:
            pass
    plain_screen.server.stop()
    assert ended.wait(10)
    assert not plain_screen.server.thread.is_alive()


def test_the_camera_frame_is_served_as_jpeg_or_404_without_a_camera(
    plain_screen: RunningScreen, http: httpx.Client
) -> None:
    response = http.get("/camera.jpg")
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == b"\xff\xd8 a jpeg \xff\xd9"
    plain_screen.kiosk.frame_jpeg = None
    assert http.get("/camera.jpg").status_code == 404


def test_healthz_answers_with_the_phase(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"ok": True, "phase": "idle", "streams": 0}


def test_the_operator_api_needs_the_pin_and_then_requests_a_sync(
    plain_screen: RunningScreen, http: httpx.Client
) -> None:
    assert http.get("/api/operator/health").status_code == 401
    assert http.post("/api/operator/sync", json={}).status_code == 401
    assert http.post("/operator/login", json={"pin": "0000"}).status_code == 401
    assert http.post("/operator/login", json={"pin": OPERATOR_PIN}).status_code == 200
    status = http.get("/api/operator/health").json()
    assert status["health"]["camera"] == "ok"
    assert status["view"]["online"] is True
    assert http.post("/api/operator/sync", json={}).status_code == 202
    assert plain_screen.kiosk.sync_requests == 1


def test_repeated_wrong_pins_lock_the_operator_page_even_for_the_right_pin(
    http: httpx.Client,
) -> None:
    for _ in range(FREE_ATTEMPTS - 1):
        assert http.post("/operator/login", json={"pin": "1111"}).status_code == 401
    locked = http.post("/operator/login", json={"pin": "1111"})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 30
    assert http.post("/operator/login", json={"pin": OPERATOR_PIN}).status_code == 429


def test_without_a_configured_pin_the_operator_page_stays_closed() -> None:
    running = start_screen(StepKiosk(), pin=None)
    try:
        with httpx.Client(base_url=running.url) as http:
            response = http.post("/operator/login", json={"pin": "1234"})
        assert response.status_code == 403
        assert "operator_pin_file" in response.json()["error"]
    finally:
        running.server.stop()


def test_lockouts_double_and_expire() -> None:
    now = [0.0]
    gate = PinGate("2468", clock=lambda: now[0])
    for _ in range(FREE_ATTEMPTS - 1):
        assert gate.attempt("0000").retry_after_s == 0
    assert gate.attempt("0000").retry_after_s == 30
    now[0] = 31.0
    for _ in range(FREE_ATTEMPTS - 1):
        gate.attempt("0000")
    assert gate.attempt("0000").retry_after_s == 60
    now[0] = 100.0
    assert gate.attempt("2468").ok


def test_the_operator_pin_file_must_hold_4_to_12_digits(tmp_path: Path) -> None:
    good = tmp_path / "pin"
    good.write_text("482913\n")
    assert read_operator_pin(good) == "482913"
    good.write_text("12")
    with pytest.raises(ConfigError, match="4 to 12 digits"):
        read_operator_pin(good)
    with pytest.raises(ConfigError, match="cannot read"):
        read_operator_pin(tmp_path / "missing")


def test_every_response_forbids_external_resources(http: httpx.Client) -> None:
    policy = http.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy


def test_the_page_references_nothing_outside_the_kiosk() -> None:
    for path in STATIC.iterdir():
        urls = re.findall(r"https?://[^\s\"')]+", path.read_text(encoding="utf-8"))
        assert urls == [], f"{path.name} refers to {urls}"


def test_english_and_chinese_cover_every_string_on_the_page() -> None:
    strings = json.loads((STATIC / "strings.json").read_text(encoding="utf-8"))
    assert set(strings["en"]) == set(strings["zh"])
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="([^"]+)"', page))
    assert used <= set(strings["en"])
    assert {f"guidance_{key}" for key in GUIDANCE_KEYS} <= set(strings["en"])


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = create_screen_app(StepKiosk(), ScreenConfig(), None)
        with pytest.raises(SmilepayError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve_screen_in_thread(app, "127.0.0.1", port)


def test_the_page_learns_the_languages_on_offer_first_one_default() -> None:
    app = create_screen_app(StepKiosk(), ScreenConfig(languages=("zh", "en")), None)
    server = serve_screen_in_thread(app, "127.0.0.1", 0)
    try:
        assert httpx.get(server.url + "/screen.json").json() == {
            "languages": ["zh", "en"],
            "catalogue": [],
        }
    finally:
        server.stop()


def test_the_listening_socket_is_tcp_so_small_responses_are_not_held_back(
    plain_screen: RunningScreen,
) -> None:
    # asyncio disables Nagle only on sockets whose proto is IPPROTO_TCP; with proto 0 every
    # small response waited for a delayed ACK (about 45 ms a request, measured).
    listening = plain_screen.server.server.servers[0].sockets[0]
    assert listening.proto == socket.IPPROTO_TCP
