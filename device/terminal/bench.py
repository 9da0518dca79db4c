"""`smilepay bench pos`: a POS payment request to its approved outcome, with the simulated
customer (the demo's kiosk, ledger and sync agent on this machine), and the API's own share.

- `request_to_approved_ms`: from the POS sending `POST /v1/payments` to it holding the signed
  approved answer (the customer's smile or wallet code, the face pipeline, online authorisation
  at the ledger, the durable queue write, all included).
- `api_overhead_ms`: that minus the kiosk's own time from taking up the payment to its outcome
  (events `payment_started` .. `payment_finished`): HTTP, signatures, the terminal's store
  writes and thread hand-offs.
- `info_round_trip_ms`: an authenticated `GET /v1/info` (signature, nonce store write, signed
  answer), the floor of any terminal request.
The kiosk returns to idle between payments (its result screen shows for 6 s); that wait is not
counted.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from base.errors import SmilepayError
from base.progress import Progress

INFO_CALLS = 200
AMOUNT_MINOR = 250


def bench_pos(payments: int, method: str = "face") -> dict[str, Any]:
    """Run `payments` payments through the terminal API; figures in milliseconds."""
    if payments < 1:
        raise SmilepayError("--payments must be at least 1")
    with tempfile.TemporaryDirectory(prefix="smilepay-bench-pos-") as folder, ExitStack() as stack:
        pos, setup, events = _rig(stack, Path(folder))
        _fund(setup, (payments + 1) * AMOUNT_MINOR)
        _pay(pos, setup, events, method, "warm-up")
        progress = Progress("bench pos", payments)
        totals, overheads = [], []
        for number in range(payments):
            total, overhead = _pay(pos, setup, events, method, f"bench-{number}")
            totals.append(total)
            overheads.append(overhead)
            progress.advance()
        progress.finish()
        info = _info_round_trips(pos)
    return {
        "bench": "pos",
        "method": method,
        "payments": payments,
        "request_to_approved_ms": _summary(totals),
        "api_overhead_ms": _summary(overheads),
        "info_round_trip_ms": _summary(info),
    }


def _rig(stack: ExitStack, root: Path) -> tuple[Any, Any, Any]:
    from base.logs import configure_logging
    from device.demo import DEMO_POS_KEY, _start_background, set_up
    from device.terminal.auth import load_pos_key_file
    from device.terminal.pos_client import PosClient
    from device.terminal.service import start_terminal

    configure_logging("bench-pos", "WARNING")
    setup = set_up(stack, root, 0, terminal_mode=True)
    stack.callback(lambda: setup.ledger.stop())
    _start_background(stack, setup)
    server = start_terminal(stack, setup.kiosk, setup.config.terminal)
    key = load_pos_key_file(setup.config.secret_path(DEMO_POS_KEY))
    pos = stack.enter_context(PosClient(server.url, key, timeout_s=30))
    return pos, setup, server.terminal.events


def _fund(setup: Any, amount_minor: int) -> None:
    """Top the demo customer up so every payment is covered (the demo funds 100.00)."""
    import httpx

    body = {"amount_minor": amount_minor, "currency": "EUR", "reference": "bench-pos-top-up"}
    path = f"/v1/customers/{setup.customer_id}/topups"
    with httpx.Client(base_url=setup.ledger.url, timeout=10) as http:
        http.post(path, json=body).raise_for_status()


def _pay(pos: Any, setup: Any, events: Any, method: str, reference: str) -> tuple[float, float]:
    from device.demo_world import wait_until

    wait_until(lambda: setup.kiosk.view()["phase"] == "idle", 30, "the kiosk to be idle")
    seen = events.last_id
    started = time.monotonic()
    answer = pos.pay(AMOUNT_MINOR, "EUR", reference, methods=[method], wait_s=120)
    total = time.monotonic() - started
    if answer["status"] != "approved":
        raise SmilepayError(f"payment {reference} ended {answer['status']}: {answer['reason']}")
    mine = events.after(seen, 0, reference)
    kiosk_s = _span(mine, "payment_started", "payment_finished")
    return total * 1000, (total - kiosk_s) * 1000


def _span(events: list[dict[str, Any]], first: str, last: str) -> float:
    times = {e["type"]: e["at"] for e in events if e["type"] in (first, last)}
    return float(times[last] - times[first])


def _info_round_trips(pos: Any) -> list[float]:
    samples = []
    for _ in range(INFO_CALLS):
        started = time.monotonic()
        pos.info()
        samples.append((time.monotonic() - started) * 1000)
    return samples


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(p99, 2),
        "max": round(ordered[-1], 2),
    }
