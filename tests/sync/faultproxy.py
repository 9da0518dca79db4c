"""A seeded fault-injecting TCP proxy for HTTP/1.1 between the sync agent and a real ledger.

It understands just enough HTTP to find where each request and response ends, so it can fault
one exchange at a precise moment:

- drop          close the client's connection (FIN) before forwarding anything
- reset_before  reset (RST) the client's connection before the request reaches the ledger
- reset_after   forward, let the ledger commit and answer, then reset instead of answering
- delay         forward, then hold the answer past the client's timeout
- duplicate     send the same request bytes to the ledger twice at once; answer with the first
- reorder       hold a request until one that arrived after it has been forwarded first
                (counted as `hold` instead when nothing overtook it within reorder_hold_s)
- restart       forward, then kill the ledger process mid-request and start it again

Each upstream exchange uses its own connection, so a fault never leaks into the next request.
Choices come from `random.Random(seed)`; thread timing still varies, but the seed fixes which
faults are drawn and in what order, so a failing seed is the thing to replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from tests.timing import slow

FAULT_KINDS = (
    "drop",
    "reset_before",
    "reset_after",
    "delay",
    "duplicate",
    "reorder",
    "restart",
)


class HttpFramingError(Exception):
    """The bytes are not an HTTP/1.1 message this proxy can frame."""


@dataclass(frozen=True)
class FaultPlan:
    """How often and which faults to inject."""

    seed: int
    rate: float = 0.3  # probability that an exchange is faulted
    kinds: tuple[str, ...] = FAULT_KINDS
    delay_s: float = 1.0  # must exceed the client's timeout for `delay` to bite
    reorder_hold_s: float = slow(0.3)  # a wait for a later request to overtake
    max_restarts: int = 3
    script: tuple[str | None, ...] | None = None  # fixed faults for the first exchanges


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 message (head and body), or None if the peer closed before a new one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise HttpFramingError("connection closed inside a message head") from None
        return None
    headers = _header_map(head)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return head + await _read_chunked(reader)
    length = int(headers.get("content-length", "0"))
    return head + (await reader.readexactly(length) if length else b"")


def _header_map(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        body += size_line
        size = int(size_line.split(b";")[0], 16)
        body += await reader.readexactly(size + 2)
        if size == 0:
            return body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0), like a crashed middlebox."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Listens on 127.0.0.1:<ephemeral>, forwards to `upstream`, and injects faults per `plan`.

    `restart_ledger` (called in a worker thread) must kill the ledger abruptly and start it
    again at the same address; without it, `restart` faults are not drawn.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        plan: FaultPlan,
        restart_ledger: Callable[[], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.plan = plan
        self.restart_ledger = restart_ledger
        self.injected: Counter[str] = Counter()
        self.exchanges = 0
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._arrivals = 0  # requests received so far; each gets its arrival number
        self._latest_forwarded = 0  # highest arrival number forwarded so far
        self._forwarded_changed: asyncio.Condition | None = None
        self._restarting = False
        self._clients: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """The address the agent should use as its ledger URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        """Start listening in a background thread."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=slow(10))
        return self

    def stop(self) -> None:
        """Stop listening and end the background thread."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=slow(10))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=slow(10))

    def summary(self) -> str:
        """Faults injected so far, for test output."""
        kinds = ", ".join(f"{kind}={self.injected[kind]}" for kind in self.plan.kinds)
        return f"seed={self.plan.seed} exchanges={self.exchanges} faults={self.total()} ({kinds})"

    def total(self) -> int:
        """Number of faults injected."""
        return sum(self.injected.values())

    async def _listen(self) -> None:
        self._forwarded_changed = asyncio.Condition()
        self._server = await asyncio.start_server(self._serve_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        for writer in list(self._clients):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _draw(self) -> str | None:
        with self._lock:
            self.exchanges += 1
            if self.plan.script is not None:
                script = self.plan.script
                return script[self.exchanges - 1] if self.exchanges <= len(script) else None
            if self._rng.random() >= self.plan.rate:
                return None
            kinds = [k for k in self.plan.kinds if self._allowed(k)]
            return self._rng.choice(kinds) if kinds else None

    def _allowed(self, kind: str) -> bool:
        if kind != "restart":
            return True
        budget_left = self.injected["restart"] < self.plan.max_restarts
        return self.restart_ledger is not None and budget_left and not self._restarting

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._clients.add(writer)
        try:
            while True:
                request = await read_message(reader)
                if request is None:
                    break
                if not await self._exchange(request, writer):
                    return
        except (OSError, asyncio.IncompleteReadError, HttpFramingError):
            pass
        finally:
            self._clients.discard(writer)
        with contextlib.suppress(Exception):
            writer.close()

    async def _exchange(self, request: bytes, client: asyncio.StreamWriter) -> bool:
        """Handle one request; False if the client connection was ended on purpose."""
        self._arrivals += 1
        arrival = self._arrivals
        fault = self._draw()
        if fault == "reorder" and not await self._hold_until_overtaken(arrival):
            fault = "hold"  # nothing overtook it in time: a short delay, not a reordering
        if fault is not None:
            self.injected[fault] += 1
        if fault == "drop":
            client.close()
            return False
        if fault == "reset_before":
            _reset(client)
            return False
        response = await self._forward(
            request, arrival, duplicate=fault == "duplicate", restart=fault == "restart"
        )
        if response is None or fault in ("reset_after", "restart"):
            _reset(client)
            return False
        if fault == "delay":
            await asyncio.sleep(self.plan.delay_s)
        client.write(response)
        await client.drain()
        return True

    async def _hold_until_overtaken(self, arrival: int) -> bool:
        """Hold this request until one that arrived after it is forwarded; False if none
        did within reorder_hold_s."""
        assert self._forwarded_changed is not None
        async with self._forwarded_changed:
            try:
                await asyncio.wait_for(
                    self._forwarded_changed.wait_for(lambda: self._latest_forwarded > arrival),
                    self.plan.reorder_hold_s,
                )
            except TimeoutError:
                return False
            return True

    async def _note_forwarded(self, arrival: int) -> None:
        assert self._forwarded_changed is not None
        async with self._forwarded_changed:
            self._latest_forwarded = max(self._latest_forwarded, arrival)
            self._forwarded_changed.notify_all()

    async def _forward(
        self, request: bytes, arrival: int, duplicate: bool, restart: bool
    ) -> bytes | None:
        """Send the request upstream (maybe twice, maybe killing the ledger); first answer."""
        if restart:
            await self._note_forwarded(arrival)
            return await self._forward_then_restart(request)
        try:
            if not duplicate:
                return await self._one_upstream_exchange(request)
            copies = [asyncio.ensure_future(self._one_upstream_exchange(request)) for _ in range(2)]
            answers = await asyncio.gather(*copies)
            return next((answer for answer in answers if answer is not None), None)
        finally:
            # Only once the upstream has answered: a held request released earlier could still
            # reach the server first (seen under load), and then nothing was reordered.
            await self._note_forwarded(arrival)

    async def _forward_then_restart(self, request: bytes) -> bytes | None:
        exchange = asyncio.ensure_future(self._one_upstream_exchange(request))
        # Kill the ledger a moment after the request reached it: mid-batch, not between batches.
        await asyncio.sleep(self._rng.uniform(0.0, 0.02))
        self._restarting = True
        try:
            assert self.restart_ledger is not None
            await asyncio.get_running_loop().run_in_executor(None, self.restart_ledger)
        finally:
            self._restarting = False
        with contextlib.suppress(Exception):
            await asyncio.wait_for(exchange, 5)
        return None

    async def _one_upstream_exchange(self, request: bytes) -> bytes | None:
        try:
            reader, writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            return None
        try:
            writer.write(request)
            await writer.drain()
            return await read_message(reader)
        except (OSError, asyncio.IncompleteReadError, HttpFramingError):
            return None
        finally:
            writer.close()
