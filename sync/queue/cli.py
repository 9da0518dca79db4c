"""Queue commands: `queue stress`, `queue ls`, `queue status`, and the queue benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.cli import not_built


def register(commands: Any, benches: Any) -> None:
    """Add the queue commands and benchmark."""
    queue = commands.add_parser("queue", help="the device's durable sale queue")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True)
    stress = queue_sub.add_parser("stress", help="enqueue synthetic sales")
    stress.add_argument("--data-dir", type=Path, required=True)
    stress.add_argument("--count", type=int, required=True)
    stress.add_argument("--print-acks", action="store_true", help="print each id after commit")
    stress.set_defaults(handler=not_built("queue stress"))
    ls = queue_sub.add_parser("ls", help="list queued sales")
    ls.add_argument("--data-dir", type=Path, required=True)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=not_built("queue ls"))
    status = queue_sub.add_parser("status", help="backlog count, amount, oldest age")
    status.add_argument("--data-dir", type=Path, required=True)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=not_built("queue status"))

    bench = benches.add_parser("queue", help="durable sales per second vs raw sqlite3")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=not_built("bench queue"))
