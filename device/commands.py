"""Commands of the kiosk app itself: `demo` and `kiosk`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any, benches: Any) -> None:
    """Add `demo` and `kiosk`."""
    demo = commands.add_parser("demo", help="run the demo kiosk on its embedded defaults")
    demo.add_argument("--scripted", action="store_true", help="run the whole journey and exit")
    demo.add_argument(
        "--json",
        action="store_true",
        help="scripted: last line one JSON summary; interactive: one JSON line once ready",
    )
    demo.add_argument("--port", type=int, default=8080, help="customer screen port")
    demo.add_argument("--data-dir", type=Path, help="keep state here (default: a temp dir)")
    demo.set_defaults(handler=_run_demo)

    kiosk = commands.add_parser("kiosk", help="run the kiosk from a config file")
    kiosk.add_argument("--config", type=Path, required=True, help="TOML config file")
    kiosk.add_argument(
        "--check",
        action="store_true",
        help="only show what each hardware role resolves to and whether the device answers",
    )
    kiosk.add_argument("--json", action="store_true", help="with --check: one JSON object")
    kiosk.set_defaults(handler=_run_kiosk)


def _run_kiosk(args: argparse.Namespace) -> int:
    if args.check:
        from device.config import load_config
        from device.hardware_check import run_check

        return run_check(load_config(args.config), args.json)
    from device.service import run_kiosk

    return run_kiosk(args.config)


def _run_demo(args: argparse.Namespace) -> int:
    from device.demo import run_interactive, run_scripted

    if args.scripted:
        return run_scripted(args.data_dir, args.port, args.json)
    return run_interactive(args.data_dir, args.port, args.json)
