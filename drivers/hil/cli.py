"""`smilepay scenario` (run scenario scripts without pytest, e.g. on a Pi rig) and
`smilepay bench peripherals` (scanner framing and pty round trips, receipt size and print time)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any, benches: Any) -> None:
    """Add `scenario` and `bench peripherals`."""
    scenario = commands.add_parser("scenario", help="run scenario scripts on the assembled kiosk")
    scenario.add_argument("files", nargs="+", type=Path, metavar="SCENARIO.toml")
    scenario.add_argument("--kiosk-env", type=Path, help="TOML naming the rig's real devices")
    scenario.add_argument("--json", action="store_true", help="last line: one JSON object")
    scenario.set_defaults(handler=_run_scenarios)

    bench = benches.add_parser("peripherals", help="scanner and printer over real ptys")
    bench.add_argument("--codes", type=int, default=2000, help="codes sent through the pty")
    bench.add_argument("--receipts", type=int, default=50, help="receipts printed over the pty")
    bench.add_argument("--framing-mb", type=float, default=2.0, help="MB through the framer")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=_bench)


def _run_scenarios(args: argparse.Namespace) -> int:
    from drivers.hil.scenario_command import run_scenario_files

    return run_scenario_files(args.files, args.kiosk_env, args.json)


def _bench(args: argparse.Namespace) -> int:
    from drivers.hil.bench import run_bench

    return run_bench(args.codes, args.receipts, args.json, int(args.framing_mb * 1e6))
