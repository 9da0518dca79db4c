"""Screen and service commands: the kiosk benchmark."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(commands: Any, benches: Any) -> None:
    """Add the kiosk benchmark."""
    bench = benches.add_parser("kiosk", help="kiosk start-up time and memory")
    bench.add_argument("--json", action="store_true", help="last line: one JSON object")
    bench.add_argument("--runs", type=int, default=3, help="launches to take the median of")
    bench.set_defaults(handler=_bench_kiosk)


def _bench_kiosk(args: argparse.Namespace) -> int:
    from base.errors import SmilepayError
    from device.screen.bench import bench_kiosk

    if args.runs < 1:
        raise SmilepayError("--runs must be at least 1")
    result = bench_kiosk(args.runs)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
