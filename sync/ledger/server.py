"""Running the ledger under uvicorn in a background thread (tests and the demo), on a real
socket; `serve` runs it in the foreground for `smilepay ledger serve`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from base.errors import SmilepayError

START_TIMEOUT_S = 30.0


@dataclass
class RunningServer:
    """A uvicorn server running in a thread; `url` is its base URL."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Ask uvicorn to shut down and wait for the thread to end."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start `app` under uvicorn in a daemon thread; port 0 picks a free port."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"ledger-{host}:{port}")
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SmilepayError(f"the ledger did not start on {host}:{port}")
        time.sleep(0.01)
    bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
    return RunningServer(f"http://{bound_host}:{bound_port}", server, thread)


def serve(app: Any, host: str, port: int) -> None:
    """Run `app` in the foreground until interrupted."""
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")


def serve_workers(factory: str, host: str, port: int, workers: int) -> None:
    """Run `workers` processes of the app made by `factory` ("module:function"), sharing one
    socket: stateless HTTP nodes on one machine."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
