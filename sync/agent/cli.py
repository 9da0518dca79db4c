"""Sync agent commands: `device init`, `sync run`, `sync now`, and the sync benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any, benches: Any) -> None:
    """Add the device and sync commands and benchmark."""
    device = commands.add_parser("device", help="this device's identity")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    init = device_sub.add_parser("init", help="create device keys and register with the ledger")
    init.add_argument("--data-dir", type=Path, required=True)
    init.add_argument("--ledger-url", required=True)
    init.add_argument("--merchant-id", default="demo-merchant")
    init.add_argument("--store-id", default="demo-store")
    init.add_argument("--name", default="Demo kiosk")
    init.add_argument("--registration-token-file", type=Path)
    init.set_defaults(handler=_device_init)

    sync = commands.add_parser("sync", help="the sync agent")
    sync_sub = sync.add_subparsers(dest="sync_command", required=True)
    run = sync_sub.add_parser("run", help="forward the queue to the ledger")
    run.add_argument("--data-dir", type=Path, required=True)
    run.add_argument("--ledger-url", help="default: the one in DATA_DIR/device.json")
    run.add_argument("--config", type=Path, help="kiosk TOML config (its [sync] section)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one push and pull, then exit")
    mode.add_argument("--until-drained", action="store_true", help="exit when nothing is left")
    run.set_defaults(handler=_sync_run)
    now = sync_sub.add_parser("now", help="ask the running agent to sync at once")
    now.add_argument("--data-dir", type=Path, required=True)
    now.set_defaults(handler=_sync_now)

    bench = benches.add_parser("sync", help="time to drain a backlog to a ledger over loopback")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--db", help="ledger database URL (default: a temporary SQLite file)")
    bench.add_argument("--backlog", type=int, default=100_000)
    bench.add_argument("--batch-size", type=int, default=500)
    bench.set_defaults(handler=_bench_sync)


def _device_init(args: argparse.Namespace) -> int:
    from sync.agent.device_identity import init_device

    token_file = args.registration_token_file
    token = token_file.read_text().strip() if token_file else None
    identity = init_device(
        args.data_dir,
        args.ledger_url,
        merchant_id=args.merchant_id,
        store_id=args.store_id,
        name=args.name,
        registration_token=token,
    )
    print(identity.device_id)
    return 0


def _sync_run(args: argparse.Namespace) -> int:
    from device.sync_service import run_agent
    from sync.agent.agent import RunMode

    mode: RunMode = "once" if args.once else "until-drained" if args.until_drained else "forever"
    return run_agent(args.data_dir, mode, ledger_url=args.ledger_url, config_path=args.config)


def _sync_now(args: argparse.Namespace) -> int:
    from sync.agent.trigger import request_sync_now

    print(request_sync_now(args.data_dir))
    return 0


def _bench_sync(args: argparse.Namespace) -> int:
    from sync.agent.bench import run_bench

    return run_bench(args.db, args.backlog, args.batch_size)
