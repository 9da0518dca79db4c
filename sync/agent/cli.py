"""Sync agent commands: `device init`, `sync run`, `sync now`, and the sync benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.cli import not_built


def register(commands: Any, benches: Any) -> None:
    """Add the device and sync commands and benchmark."""
    device = commands.add_parser("device", help="this device's identity")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    init = device_sub.add_parser("init", help="create device keys and register with the ledger")
    init.add_argument("--data-dir", type=Path, required=True)
    init.add_argument("--ledger-url", required=True)
    init.set_defaults(handler=not_built("device init"))

    sync = commands.add_parser("sync", help="the sync agent")
    sync_sub = sync.add_subparsers(dest="sync_command", required=True)
    run = sync_sub.add_parser("run", help="forward the queue to the ledger")
    run.add_argument("--data-dir", type=Path, required=True)
    run.add_argument("--ledger-url", required=True)
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one push and pull, then exit")
    mode.add_argument("--until-drained", action="store_true", help="exit when nothing is left")
    run.set_defaults(handler=not_built("sync run"))

    bench = benches.add_parser("sync", help="time to drain a backlog to a ledger over loopback")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=not_built("bench sync"))
