"""The fault proxy does what each fault kind claims, so the harness's fault counts mean it."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sync.faultproxy import FaultPlan, FaultProxy
from tests.timing import slow


class CountingServer:
    """A tiny HTTP server that records the order of the paths it received."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                seen.append(self.path)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.server.server_address[1]


@pytest.fixture
def upstream() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.server.shutdown()


def proxy_with(upstream: CountingServer, kind: str, **plan: Any) -> FaultProxy:
    restart = plan.pop("restart", None)
    return FaultProxy(
        upstream.address, FaultPlan(seed=1, rate=1.0, kinds=(kind,), **plan), restart_ledger=restart
    ).start()


def post(url: str, path: str = "/x", timeout: float = slow(2.0)) -> httpx.Response:
    return httpx.post(f"{url}{path}", content=b"{}", timeout=timeout)


@pytest.mark.parametrize("kind", ["drop", "reset_before"])
def test_drop_and_reset_before_never_reach_the_server(upstream: CountingServer, kind: str) -> None:
    proxy = proxy_with(upstream, kind)
    with pytest.raises(httpx.TransportError):
        post(proxy.url)
    proxy.stop()
    assert upstream.paths == [] and proxy.injected[kind] == 1


def test_reset_after_reaches_the_server_but_the_client_gets_no_answer(
    upstream: CountingServer,
) -> None:
    proxy = proxy_with(upstream, "reset_after")
    with pytest.raises(httpx.TransportError):
        post(proxy.url)
    proxy.stop()
    assert upstream.paths == ["/x"]


def test_delay_holds_the_answer_past_the_client_timeout(upstream: CountingServer) -> None:
    proxy = proxy_with(upstream, "delay", delay_s=0.5)
    with pytest.raises(httpx.ReadTimeout):
        post(proxy.url, timeout=0.2)
    proxy.stop()
    assert upstream.paths == ["/x"]


def test_duplicate_delivers_the_request_twice_and_answers_once(upstream: CountingServer) -> None:
    proxy = proxy_with(upstream, "duplicate")
    assert post(proxy.url).json() == {"ok": True}
    proxy.stop()
    assert upstream.paths == ["/x", "/x"]


def test_restart_calls_the_restart_hook_mid_request_and_resets_the_client(
    upstream: CountingServer,
) -> None:
    restarts: list[float] = []
    proxy = proxy_with(upstream, "restart", restart=lambda: restarts.append(time.monotonic()))
    with pytest.raises(httpx.TransportError):
        post(proxy.url)
    proxy.stop()
    assert len(restarts) == 1 and proxy.injected["restart"] == 1


def test_reorder_lets_a_later_concurrent_request_overtake_the_held_one(
    upstream: CountingServer,
) -> None:
    # GIVEN a proxy that holds the first request until a later one has been forwarded
    proxy = proxy_with(upstream, "reorder", reorder_hold_s=10.0, script=("reorder", None))
    # WHEN /first is sent, then /second once /first has arrived
    first = threading.Thread(target=post, args=(proxy.url, "/first"))
    first.start()
    deadline = time.monotonic() + slow(10)
    while proxy.exchanges < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # /first must be the one held, so it has to arrive first
    post(proxy.url, "/second")
    first.join()
    proxy.stop()
    # THEN the server saw /second first
    assert upstream.paths == ["/second", "/first"]
    assert proxy.injected["reorder"] == 1


def test_a_held_request_nothing_overtakes_is_counted_as_a_hold_not_a_reorder(
    upstream: CountingServer,
) -> None:
    proxy = proxy_with(upstream, "reorder", reorder_hold_s=0.1)
    post(proxy.url)
    proxy.stop()
    assert proxy.injected["hold"] == 1 and proxy.injected["reorder"] == 0
