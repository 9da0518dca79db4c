"""Run the screen app under a real uvicorn server in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from base.errors import SmilepayError

START_TIMEOUT_S = 10.0


@dataclass
class ScreenServer:
    """A running screen server: its `url`, and `stop()` to end it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Starlette

    @property
    def launch_url(self) -> str:
        """The address the kiosk's own browser is started on: it carries the screen secret."""
        secret = getattr(self.app.state, "screen_secret", None)
        return f"{self.url}/?key={secret}" if secret else self.url

    def stop(self, timeout_s: float = 5.0) -> None:
        """End open event streams, then shut the server down and wait for its thread."""
        broadcaster = getattr(self.app.state, "broadcaster", None)
        if broadcaster is not None:
            broadcaster.close_streams_threadsafe()
        self.server.should_exit = True
        self.thread.join(timeout_s)


def serve_screen_in_thread(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> ScreenServer:
    """Serve `app` on host:port (0 picks a free port) from a daemon thread; returns once it
    accepts connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio turns Nagle off only on sockets whose proto is IPPROTO_TCP,
    # and with it on every small response waited for a delayed ACK (45 ms per request here).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SmilepayError(f"screen: cannot listen on {host}:{port}: {exc}") from None
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="screen-server", daemon=True
    )
    thread.start()
    _wait_started(server, thread)
    url_host = f"[{host}]" if ":" in host else host
    return ScreenServer(f"http://{url_host}:{bound_port}", server, thread, app)


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise SmilepayError("screen: the server stopped while starting (see the log)")
        if time.monotonic() > deadline:
            raise SmilepayError(f"screen: the server did not start within {START_TIMEOUT_S} s")
        time.sleep(0.01)
