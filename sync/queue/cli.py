"""Queue commands: `queue stress`, `queue ls`, `queue status`, `queue verify`, and the queue
benchmark. Registration imports argparse only; handlers load the queue when they run."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any


def _handler(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = getattr(importlib.import_module("sync.queue.commands"), name)(args)
        except ValueError as exc:
            from base.errors import SmilepayError

            raise SmilepayError(str(exc)) from None
        return result

    return run


def register(commands: Any, benches: Any) -> None:
    """Add the queue commands and benchmark."""
    queue = commands.add_parser("queue", help="the device's durable sale queue")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True)
    stress = queue_sub.add_parser("stress", help="enqueue synthetic sales")
    stress.add_argument("--data-dir", type=Path, required=True)
    stress.add_argument("--count", type=int, required=True)
    stress.add_argument("--print-acks", action="store_true", help="print each id after commit")
    stress.set_defaults(handler=_handler("stress"))
    ls = queue_sub.add_parser("ls", help="list queued sales")
    ls.add_argument("--data-dir", type=Path, required=True)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_handler("ls"))
    status = queue_sub.add_parser("status", help="backlog count, amount, oldest age")
    status.add_argument("--data-dir", type=Path, required=True)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_handler("status"))
    verify = queue_sub.add_parser("verify", help="check hash chain, signatures, seq, integrity")
    verify.add_argument("--data-dir", type=Path, required=True)
    verify.set_defaults(handler=_handler("verify"))

    bench = benches.add_parser("queue", help="durable sales per second vs raw sqlite3")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--count", type=int, default=4000, help="sales (and raw rows)")
    bench.add_argument("--rounds", type=int, default=8, help="alternating raw/queue rounds")
    bench.add_argument("--data-dir", type=Path, help="where to write (default: a temp dir)")
    bench.set_defaults(handler=_handler("bench"))
