"""Handlers of the queue commands (imported only when one runs)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from base.limits import OfflineLimits
from sync.queue.chain import StoredSale
from sync.queue.draft import SaleDraft, new_sale_id
from sync.queue.standalone import open_standalone

# Stress sales are offline sales; these limits let a long run go on without a ledger.
STRESS_LIMITS = OfflineLimits(
    per_sale_max=10**9,
    unsynced_total_max=10**15,
    unsynced_count_max=10**9,
    oldest_unsynced_max_s=10.0**9,
    per_customer_unsynced_max=10**15,
)


def stress_draft(index: int) -> SaleDraft:
    """A synthetic offline sale."""
    return SaleDraft(
        amount_minor=100 + index % 900,
        currency="EUR",
        method="face",
        customer_id=f"stress-customer-{index % 25}",
        evidence={"score": "0.3000", "margin": "0.2000", "step_up": False},
        items=[{"name": "stress item", "quantity": 1, "amount_minor": 100 + index % 900}],
        sale_id=new_sale_id(),
    )


def stress(args: argparse.Namespace) -> int:
    """Enqueue `--count` synthetic sales; with --print-acks print each id once it is durable."""
    if args.count < 0:
        raise ValueError("--count must be >= 0")
    with open_standalone(args.data_dir, create_key=True, limits=STRESS_LIMITS) as queue:
        for index in range(args.count):
            record = queue.enqueue_sale(stress_draft(index))
            if args.print_acks:
                sys.stdout.write(record["sale_id"] + "\n")
                sys.stdout.flush()
        print(
            f"queue stress: {args.count} sales queued, last seq {queue.status().last_seq}",
            file=sys.stderr,
        )
    return 0


def listing(sale: StoredSale) -> dict[str, Any]:
    """One line of `queue ls`."""
    record = sale.record()
    return {
        "seq": sale.seq,
        "sale_id": sale.sale_id,
        "state": sale.state,
        "ledger_status": sale.ledger_status,
        "reason": sale.reason,
        "settle_later": sale.settle_later,
        "amount_minor": sale.amount_minor,
        "currency": record.get("currency"),
        "method": record.get("method"),
        "customer_id": sale.customer_id,
        "offline": sale.offline,
        "hlc": record.get("hlc"),
        "wall_time": record.get("wall_time"),
    }


def ls(args: argparse.Namespace) -> int:
    """Print every queued sale (JSON lines with --json, else a table)."""
    with open_standalone(args.data_dir, create_key=False) as queue:
        for sale in queue.records():
            line = listing(sale)
            if args.json:
                print(json.dumps(line))
            else:
                print(
                    f"{line['seq']:>8} {line['sale_id']} {line['state']:<8} "
                    f"{line['amount_minor']:>10} {line['currency']} {line['reason'] or ''}"
                )
    return 0


def status(args: argparse.Namespace) -> int:
    """Print the backlog (one JSON object with --json)."""
    with open_standalone(args.data_dir, create_key=False) as queue:
        summary = queue.status().as_dict()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def verify(args: argparse.Namespace) -> int:
    """Check the chain, signatures, seq numbers and SQLite integrity; exit 1 on any problem."""
    with open_standalone(args.data_dir, create_key=False) as queue:
        problems = queue.verify_chain()
        integrity = queue.integrity_check()
    if integrity != "ok":
        problems.append(f"sqlite integrity_check: {integrity}")
    for problem in problems:
        print(problem)
    print(f"queue verify: {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def bench(args: argparse.Namespace) -> int:
    """Run the queue benchmark; the last stdout line is its JSON summary."""
    from sync.queue.bench import main

    result = main(args.data_dir, args.count, args.rounds)
    if not args.json:
        for key, value in result.items():
            print(f"{key}: {value}")
    print(json.dumps(result))
    return 0
