"""Fan the kiosk's view changes out to every open server-sent-events stream.

The kiosk calls listeners from its own thread and they must not block, so the listener only
hands the view to the event loop; each stream has its own queue that keeps just the newest view
(a slow browser skips intermediate views rather than holding memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from device.ports import KioskPort, ScreenView

# A ping this often lets the page notice a dead stream within a few seconds.
HEARTBEAT_S = 1.5
_CLOSED = object()
PING = "event: ping\ndata: {}\n\n"


class ViewBroadcaster:
    """Subscribes once to the kiosk and feeds every connected stream the latest view."""

    def __init__(self, kiosk: KioskPort, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.kiosk = kiosk
        self.heartbeat_s = heartbeat_s
        self._streams: set[asyncio.Queue[object]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Begin listening; call from the event loop that serves the streams."""
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.kiosk.subscribe(self._on_view)

    def stop(self) -> None:
        """Stop listening and end every open stream."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for queue in list(self._streams):
            _replace_latest(queue, _CLOSED)

    def close_streams_threadsafe(self) -> None:
        """End every open stream from another thread (so a server can shut down promptly)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.stop)

    @property
    def stream_count(self) -> int:
        """How many streams are open."""
        return len(self._streams)

    def _on_view(self, view: ScreenView) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # The loop may close between the check and the call: then nobody is listening.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._publish, view)

    def _publish(self, view: ScreenView) -> None:
        for queue in self._streams:
            _replace_latest(queue, view)

    async def stream(self) -> AsyncIterator[str]:
        """SSE text: the current view at once, then every change, with heartbeat comments."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)
        self._streams.add(queue)
        try:
            yield "retry: 1000\n\n"
            # view() may read the queue's status from disk: keep it off the event loop.
            yield sse_data(await asyncio.to_thread(self.kiosk.view))
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.heartbeat_s)
                except TimeoutError:
                    yield PING
                    continue
                if item is _CLOSED:
                    return
                yield sse_data(item)  # type: ignore[arg-type]
        finally:
            self._streams.discard(queue)


def sse_data(view: ScreenView) -> str:
    """One SSE message carrying the view as JSON."""
    return f"data: {json.dumps(view, ensure_ascii=False, default=str)}\n\n"


def _replace_latest(queue: asyncio.Queue[object], item: object) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)
