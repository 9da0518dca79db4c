"""The screen's HTTP side on a real uvicorn server: actions, validation, the SSE stream, the
camera frame, the operator PIN gate, and a page that loads nothing from outside the kiosk."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest

from base.errors import ConfigError, SmilepayError
from device.checkout import DECLINE_CODES, Phase
from device.ports import HealthReport
from device.screen.broadcast import ViewBroadcaster
from device.screen.config import ScreenConfig
from device.screen.guard import SCREEN_COOKIE
from device.screen.operator import FREE_ATTEMPTS, PinGate, PinGates, read_operator_pin
from device.screen.server import STATIC, create_screen_app, serve_screen_in_thread
from tests.screen.conftest import OPERATOR_PIN, RunningScreen, start_screen
from tests.screen.step_kiosk import StepKiosk
from tests.timing import slow

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
    """The kiosk's own browser: launched on the secret URL, so it holds the screen cookie."""
    with httpx.Client(base_url=plain_screen.url, timeout=slow(10)) as client:
        assert client.get(plain_screen.launch_url.removeprefix(plain_screen.url)).status_code == 303
        assert client.cookies.get(SCREEN_COOKIE)
        yield client


@pytest.fixture
def stranger(plain_screen: RunningScreen) -> Iterator[httpx.Client]:
    """Any other client on the device: no screen secret."""
    with httpx.Client(base_url=plain_screen.url, timeout=slow(10)) as client:
        yield client


def test_actions_reach_the_kiosk(plain_screen: RunningScreen, http: httpx.Client) -> None:
    assert http.post("/api/items", json={"item_id": "tea"}).json()
    assert http.post("/api/quantity", json={"index": 0, "delta": 1}).status_code == 200
    assert http.post("/api/pay", json={}).status_code == 200
    assert http.post("/api/payment", json={"method": "merchant_qr"}).status_code == 200
    view = plain_screen.kiosk.view()
    assert view["phase"] == "merchant_qr"
    assert view["total_minor"] == 500


def test_without_the_screen_secret_nothing_is_served_but_the_page(
    plain_screen: RunningScreen, stranger: httpx.Client
) -> None:
    # GIVEN a client that never got the launch URL (another program, another browser)
    # THEN it may load the page, but not act, watch the stream or see the camera
    assert stranger.get("/").status_code == 200
    assert stranger.post("/api/items", json={"item_id": "tea"}).status_code == 403
    assert stranger.get("/events").status_code == 401
    assert stranger.get("/camera.jpg").status_code == 401
    # AND a wrong secret in the launch URL earns no cookie
    assert stranger.get("/?key=guess").status_code == 200
    assert stranger.post("/api/pay", json={}).status_code == 403
    assert plain_screen.kiosk.view()["items"] == []


def test_a_foreign_host_or_origin_is_refused(
    plain_screen: RunningScreen, http: httpx.Client
) -> None:
    # GIVEN the kiosk's own browser cookie WHEN a DNS-rebinding page (Host: evil.example) asks
    rebound = http.post("/api/items", json={"item_id": "tea"}, headers={"host": "evil.example"})
    # THEN no host but the screen's own is answered
    assert rebound.status_code == 421
    assert http.get("/", headers={"host": "evil.example:8080"}).status_code == 421
    # AND a request from another origin is refused even with the cookie
    foreign = {"origin": "http://evil.example"}
    assert http.post("/api/items", json={"item_id": "tea"}, headers=foreign).status_code == 403
    own = {"origin": plain_screen.url}
    assert http.post("/api/items", json={"item_id": "tea"}, headers=own).status_code == 200
    assert http.get("/", headers={"host": "localhost"}).status_code == 200


def test_a_repeated_tap_within_300_ms_counts_once(
    plain_screen: RunningScreen, http: httpx.Client
) -> None:
    # WHEN the same product is posted twice at once THEN one is added
    first = http.post("/api/items", json={"item_id": "tea"}).json()
    second = http.post("/api/items", json={"item_id": "tea"}).json()
    assert (first, second) == ({"ok": True}, {"ok": True, "repeated": True})
    assert [i["quantity"] for i in plain_screen.kiosk.view()["items"]] == [1]
    # AND a different control right after counts
    assert http.post("/api/items", json={"item_id": "bun"}).json() == {"ok": True}
    time.sleep(0.31)
    assert http.post("/api/items", json={"item_id": "bun"}).json() == {"ok": True}
    assert [i["quantity"] for i in plain_screen.kiosk.view()["items"]] == [1, 2]


def test_face_payment_from_the_screen_needs_the_consent_and_records_it(
    plain_screen: RunningScreen, http: httpx.Client
) -> None:
    http.post("/api/items", json={"item_id": "tea"})
    http.post("/api/pay", json={})
    refused = http.post("/api/payment", json={"method": "face"})
    assert refused.status_code == 400 and "consent" in refused.json()["error"]
    old = http.post("/api/payment", json={"method": "face", "consent": "face-pay-v0"})
    assert old.status_code == 409 and plain_screen.kiosk.consents == []
    ok = http.post("/api/payment", json={"method": "face", "consent": "face-pay-v1"})
    assert ok.status_code == 200
    assert plain_screen.kiosk.consents == ["face-pay-v1"]
    assert plain_screen.kiosk.view()["phase"] == "face_capture"


def test_names_on_the_stream_are_masked(plain_screen: RunningScreen) -> None:
    kiosk = plain_screen.kiosk
    kiosk.add_item("Tea", 1, 250)
    kiosk.pay()
    kiosk.choose_payment("face")
    time.sleep(1.0)
    kiosk.decide_face("step_up", name="Eileen Astronaut")
    assert kiosk.view()["match_name"] == "E. A***"


@pytest.mark.parametrize(
    ("action", "body", "reason"),
    [
        ("items", b"{not json", "body is not valid JSON"),
        ("items", b"[1, 2]", "body must be a JSON object"),
        ("items", b'{"name": "Tea", "unit_minor": 1}', "name: unknown field"),
        ("items", b'{"item_id": ""}', "item_id: String should"),
        ("items", b"{}", "item_id: Field required"),
        ("quantity", b'{"index": 0, "delta": 5}', "delta: Input should be -1 or 1"),
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
    http.post("/api/items", json={"item_id": "bun"})
    # WHEN a bad request arrives
    response = http.post(
        f"/api/{action}", content=body, headers={"content-type": "application/json"}
    )
    # THEN 400 names what was wrong, and the basket is as it was
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert [i["name"] for i in plain_screen.kiosk.view()["items"]] == ["Sesame bun"]


def test_an_unknown_action_is_404_and_a_form_post_is_415(http: httpx.Client) -> None:
    assert http.post("/api/refund", json={}).json() == {"error": "no such action: refund"}
    response = http.post("/api/pay", data={"x": "1"})
    assert response.status_code == 415


def test_the_event_stream_sends_the_view_at_once_then_every_change(
    plain_screen: RunningScreen, http: httpx.Client
) -> None:
    phases: list[str] = []
    seen = threading.Condition()

    def listen() -> None:
        with http.stream("GET", "/events") as response:
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
            assert seen.wait_for(lambda: len(phases) >= count, slow(10)), phases

    reader = threading.Thread(target=listen)
    reader.start()
    wait_for(1)
    plain_screen.kiosk.add_item("Tea", 1, 250)
    wait_for(2)
    plain_screen.kiosk.pay()
    wait_for(3)
    reader.join(slow(10))
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


def test_a_quiet_stream_carries_pings_the_page_can_see() -> None:
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
    assert chunks[2] == "event: ping\ndata: {}\n\n"


def test_stopping_the_server_ends_open_streams(
    plain_screen: RunningScreen, http: httpx.Client
) -> None:
    ended = threading.Event()

    def listen() -> None:
        with http.stream("GET", "/events") as response:
            for _ in response.iter_lines():
                pass
        ended.set()

    threading.Thread(target=listen, daemon=True).start()
    with httpx.Client(base_url=plain_screen.url) as http:
        while http.get("/healthz").json()["streams"] == 0:
            pass
    plain_screen.server.stop(timeout_s=slow(5.0))
    assert ended.wait(slow(10))
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
    assert status["health"]["camera"]["state"] == "ok"
    assert status["health"]["limits_left"] == {"amount_minor": 20_000, "count": 20}
    assert status["view"]["online"] is True
    assert set(status["health"]) == set(HealthReport.__annotations__)
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
    # AND the page can show the countdown
    assert http.get("/api/operator/health").json()["retry_after_s"] >= 29


def test_a_lock_out_holds_only_the_client_that_typed_the_wrong_pins() -> None:
    gates = PinGates("2468", clock=lambda: 0.0)
    for _ in range(FREE_ATTEMPTS):
        gates.attempt("10.0.0.9", "0000")
    assert gates.attempt("10.0.0.9", "2468").retry_after_s > 0
    assert gates.attempt("127.0.0.1", "2468").ok
    assert gates.retry_after_s("127.0.0.1") == 0


def test_logout_ends_the_operator_session(http: httpx.Client) -> None:
    assert http.post("/operator/login", json={"pin": OPERATOR_PIN}).status_code == 200
    assert http.get("/api/operator/health").status_code == 200
    assert http.post("/operator/logout", json={}).status_code == 200
    assert http.get("/api/operator/health").status_code == 401


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


def _used_keys() -> set[str]:
    """Every string key the pages and scripts use, and one per reason code and phase."""
    used: set[str] = set()
    for name in ("index.html", "operator.html"):
        used |= set(re.findall(r'data-i18n="([^"]+)"', (STATIC / name).read_text(encoding="utf-8")))
    for name in ("screen.js", "operator.js"):
        used |= set(re.findall(r'\bt\("([a-z_0-9]+)"', (STATIC / name).read_text(encoding="utf-8")))
    used |= {f"guidance_{key}" for key in GUIDANCE_KEYS}
    used |= {f"reason_{code}" for code in reason_codes()}
    used |= {f"phase_{phase.value}" for phase in Phase} | {"language_name"}
    return used


def reason_codes() -> set[str]:
    """Every reason code the kiosk can put on screen (read from the code that sets them)."""
    import device

    codes = {"unknown", "code_rejected", "declined", "offline_limit", "fault"}
    for path in Path(device.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'reason="([a-z_]+)"', text))
        if path.name == "codes_input.py":  # CodeRejected(at, text, code)
            codes |= set(re.findall(r',\s*"([a-z][a-z_]+)"\s*\)', text))
        codes |= set(re.findall(r'_back_to_choice\([^)]*?"([a-z_]+)"\)', text, re.S))
        codes |= set(re.findall(r'_to_error\([^)]*?"([a-z_]+)"\)', text, re.S))
        codes |= set(re.findall(r'_result\([^)]*?"([a-z_]+)"\s*\)', text, re.S))
    codes |= set(DECLINE_CODES.values()) | {"no_match", "not_live", "no_face", "face_failed"}
    return codes


LANGUAGES = sorted(json.loads((STATIC / "strings.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_screen_uses_is_translated(language: str) -> None:
    # GIVEN every key used by the pages, the scripts, the reason codes and the phases
    strings = json.loads((STATIC / "strings.json").read_text(encoding="utf-8"))
    # THEN each language has a non-empty text for each (a missing key fails here)
    missing = sorted(k for k in _used_keys() if not strings[language].get(k, "").strip())
    assert missing == []


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    strings = json.loads((STATIC / "strings.json").read_text(encoding="utf-8"))
    english = strings["en"]
    for language, table in strings.items():
        assert set(table) == set(english), f"{language}: {set(table) ^ set(english)}"
        for key, text in table.items():
            wanted = set(re.findall(r"{[a-z_]+}", english[key]))
            assert set(re.findall(r"{[a-z_]+}", text)) == wanted, f"{language}.{key}"


def test_a_language_without_strings_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"screen\.languages"):
        create_screen_app(StepKiosk(), ScreenConfig(languages=("en", "fr")), None)


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
        settings = httpx.get(server.url + "/screen.json").json()
        assert settings["languages"] == ["zh", "en"]
        assert settings["consent_version"] == "face-pay-v1"
    finally:
        server.stop()


def test_the_listening_socket_is_tcp_so_small_responses_are_not_held_back(
    plain_screen: RunningScreen,
) -> None:
    # asyncio disables Nagle only on sockets whose proto is IPPROTO_TCP; with proto 0 every
    # small response waited for a delayed ACK (about 45 ms a request, measured).
    listening = plain_screen.server.server.servers[0].sockets[0]
    assert listening.proto == socket.IPPROTO_TCP
