"""A POS against a running kiosk: the kiosk assembled with simulators as the demo does (the
simulated customer smiles when the screen asks), a real ledger (SQLite file), the sync agent,
and the terminal API on a real socket, reached through a link the test can cut."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from device.demo import DEMO_POS_KEY, DemoSetup, _start_background, set_up
from device.terminal.auth import PosKey, load_pos_key_file
from device.terminal.pos_client import PosClient
from device.terminal.service import TerminalServer, start_terminal
from drivers.hil.netcut import NetworkLink
from tests.timing import slow


@dataclass
class Rig:
    """The running kiosk and ledger, the terminal API and the POS's link to it."""

    setup: DemoSetup
    server: TerminalServer
    link: NetworkLink
    key: PosKey
    key_file: Path

    def pos(self, timeout_s: float = slow(10.0)) -> PosClient:
        """A POS client through the cuttable link."""
        return PosClient(self.link.url, self.key, timeout_s=timeout_s)

    @property
    def kiosk(self) -> Any:
        return self.setup.kiosk


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="smilepay-terminal-") as folder, ExitStack() as stack:
        setup = set_up(stack, Path(folder), 0, terminal_mode=True)
        stack.callback(lambda: setup.ledger.stop())
        _start_background(stack, setup)
        server = start_terminal(stack, setup.kiosk, setup.config.terminal)
        port = int(server.url.rsplit(":", 1)[1])
        link = NetworkLink("127.0.0.1", port)
        stack.callback(link.close)
        key_file = setup.config.secret_path(DEMO_POS_KEY)
        yield Rig(setup, server, link, load_pos_key_file(key_file), key_file)
