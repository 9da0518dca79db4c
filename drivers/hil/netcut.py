"""A TCP link between the kiosk and its ledger that a scenario can cut, as a dropped Wi-Fi does.

While the link is down, bytes on open connections and on new ones are swallowed without an
answer (a black hole, not a refusal): the kiosk sees what it sees when the network vanishes,
its requests time out. Bringing the link up closes the swallowed connections and forwards again.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

POLL_S = 0.05


class NetworkLink:
    """Forwards 127.0.0.1:<port> to `target`; `down()` / `up()` cut and restore it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.is_up = True
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_S)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    @property
    def url(self) -> str:
        """The address the kiosk should use instead of the target's."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def down(self) -> None:
        """Cut the link: everything sent from now on vanishes unanswered."""
        self.is_up = False

    def up(self) -> None:
        """Restore the link for new connections (swallowed ones are closed)."""
        self.is_up = True

    def close(self) -> None:
        """Stop forwarding and close every connection."""
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self._listener.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        if self.is_up:
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                return
        with client, upstream or contextlib.nullcontext():
            self._pump(client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket | None) -> None:
        cut = upstream is None
        ends = [s for s in (client, upstream) if s is not None]
        while not self._stop.is_set():
            if not self.is_up:
                cut = True
            elif cut:
                return  # the link is back, but this connection lost bytes: close it
            readable, _, _ = select.select(ends, [], [], POLL_S)
            for end in readable:
                data = end.recv(65536)
                if not data:
                    return
                if not cut and upstream is not None:
                    (upstream if end is client else client).sendall(data)
