"""The kiosk's idle link probe: asks the ledger for its time (`GET /v1/time`, cheap and unsigned)
every few seconds, so the screen knows the link is down before a customer finds out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from base.threads import LoopThread

log = logging.getLogger("smilepay.kiosk.link")
PROBE_EVERY_S = 3.0


class LinkProbe:
    """A daemon thread probing the ledger; `last` is (clock time, answered) of the newest probe."""

    def __init__(
        self,
        new_client: Callable[[], Any],
        clock: Callable[[], float],
        may_probe: Callable[[], bool],
        every_s: float = PROBE_EVERY_S,
    ) -> None:
        self.new_client = new_client
        self.clock = clock
        self.may_probe = may_probe
        self.every_s = every_s
        self.last: tuple[float, bool] | None = None
        self._loop = LoopThread("link-probe", self._run)
        self._client: Any = None

    def start(self) -> None:
        """Probe now, then every `every_s`."""
        self._loop.start()

    def stop(self) -> None:
        """Stop probing and close the client."""
        self._loop.stop()
        if self._client is not None:
            self._client.close()

    def probe_once(self) -> bool:
        """One probe; records and returns whether the ledger answered."""
        try:
            if self._client is None:
                self._client = self.new_client()
            self._client.ledger_time()
            online = True
        except Exception as exc:  # any failure to get an answer means: not online
            online = False
            if self.last is None or self.last[1]:
                log.warning("ledger unreachable", extra={"error": str(exc)[:200]})
        if self.last is not None and online and not self.last[1]:
            log.info("ledger reachable again")
        self.last = (self.clock(), online)
        return online

    def _run(self) -> None:
        while not self._loop.stopping.is_set():
            if self.may_probe():
                self.probe_once()
            self._loop.stopping.wait(self.every_s)
