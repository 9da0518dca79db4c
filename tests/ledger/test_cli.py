"""The ledger's commands: export, reconcile, serve, and the benchmark (tiny run)."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from base.child import smilepay_argv
from device.cli import main
from sync.ledger.bench import _free_port
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.reports import reconcile
from tests.ledger.conftest import LedgerUnderTest
from tests.timing import slow


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Run commands in-process; put back the logging set-up they replace."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)


def test_export_prints_one_json_object_per_transfer(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator, cli: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a top-up and a sale
    customer = operator.customer(1000)
    sale = kiosk.sale(250, customer)
    assert kiosk.post_batch([sale]).status_code == 200
    # WHEN the ledger is exported
    assert main(["ledger", "export", "--db", ledger.db_url, "--json"]) == 0
    lines = [json.loads(line) for line in cli.readouterr().out.splitlines()]
    # THEN both transfers are there, each a balanced pair of accounts
    mine = [t for t in lines if customer in t["debit_account_id"] + t["credit_account_id"]]
    assert [(t["kind"], t["amount_minor"]) for t in mine] == [("topup", 1000), ("sale", 250)]
    assert mine[1]["sale_id"] == sale["sale_id"]
    assert mine[1]["credit_account_id"] == "merchant:merchant-1:EUR"


def test_reconcile_reports_what_each_device_sent(
    ledger: LedgerUnderTest, kiosk: Kiosk, operator: Operator, cli: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a device that sent: a batch, the same batch again, a gap, a decline, a settle-later
    customer = operator.customer(300)
    records = [
        kiosk.sale(200, customer),
        kiosk.sale(200, customer),
        kiosk.sale(50, None),
        kiosk.sale(10, customer),
        kiosk.sale(10, customer),
    ]
    kiosk.post_batch(records[:3])
    kiosk.post_batch(records[:3])
    kiosk.post_batch(records[4:])
    # WHEN reconcile runs for it
    code = main(
        ["ledger", "reconcile", "--db", ledger.db_url, "--device", kiosk.device_id, "--json"]
    )
    report = json.loads(cli.readouterr().out.splitlines()[-1])
    [device] = report["devices"]
    # THEN every fact is reported, and the money balances
    assert code == 0
    assert (device["arrived"], device["accepted"], device["declined"]) == (4, 3, 1)
    assert device["duplicates_rejected"] == 3
    assert device["gaps"] == [[4, 4]]
    assert [d["reason"] for d in device["declines"]] == ["no customer on the sale"]
    [eur] = device["totals"]
    assert eur["by_kind"]["settle_later"] == {"count": 1, "amount_minor": 200}
    assert eur["sales_minor"] == 200 + 200 + 50 + 10 and eur["balanced"]
    assert all(total["balanced"] for total in report["ledger"])


def test_reconcile_of_an_unknown_device_is_a_clear_error(
    ledger: LedgerUnderTest, cli: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "reconcile", "--db", ledger.db_url, "--device", "nope"]) == 2
    assert "no device nope" in cli.readouterr().err


def test_a_bad_database_url_is_a_clear_error(cli: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "export", "--db", "mysql://x/y"]) == 2
    assert "only sqlite" in cli.readouterr().err


def test_serve_runs_the_ledger_and_logs_json_lines(ledger: LedgerUnderTest, tmp_path: Path) -> None:
    # GIVEN `smilepay ledger serve` with an admin token file
    token = tmp_path / "admin.token"
    token.write_text("serve-test-token-0123456789\n")
    token.chmod(0o600)
    port = _free_port()
    command = smilepay_argv(
        "ledger",
        "serve",
        "--db",
        ledger.db_url,
        "--port",
        str(port),
        "--admin-token-file",
        str(token),
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + slow(60)  # a loaded CI machine can take a while to import
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{url}/v1/time", timeout=slow(1))
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        # THEN operator calls need the token, and answer with it
        assert (
            httpx.post(f"{url}/v1/customers", json={"name": "x", "currency": "EUR"}).status_code
            == 401
        )
        headers = {"Authorization": "Bearer serve-test-token-0123456789"}
        assert (
            httpx.post(
                f"{url}/v1/customers", json={"name": "x", "currency": "EUR"}, headers=headers
            ).status_code
            == 201
        )
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=slow(30))
    # AND its stdout is JSON lines from the ledger service
    events = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert any(e["event"] == "ledger starting" and e["service"] == "ledger" for e in events)


def test_the_benchmark_prints_its_figures_as_the_last_json_line(
    ledger: LedgerUnderTest, cli: pytest.CaptureFixture[str]
) -> None:
    # A tiny run: the figures themselves belong to the README, not to a test.
    code = main(
        [
            "bench",
            "ledger",
            "--db",
            ledger.db_url,
            "--json",
            "--sales",
            "60",
            "--batch",
            "20",
            "--devices",
            "2",
            "--customers",
            "3",
        ]
    )
    result = json.loads(cli.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert result["accepted"] == 60 and result["batch"] == 20
    assert {"db", "sales_per_s", "raw_rows_per_s", "ratio"} <= set(result)


def start_serve(db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = smilepay_argv(
        "ledger",
        "serve",
        "--db",
        db_url,
        "--port",
        str(port),
        "--insecure-dev",
    )
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + slow(60)
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{url}/v1/time", timeout=slow(1))
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("ledger serve did not start")


def test_a_batch_cut_off_by_a_crash_is_booked_exactly_once_when_resent(
    ledger: LedgerUnderTest,
) -> None:
    # GIVEN a ledger process receiving large batches, killed (SIGKILL) while they arrive
    process, url = start_serve(ledger.db_url)
    operator, kiosk = Operator(url), Kiosk(url)
    assert kiosk.register().status_code == 201
    # batches of 400 offline sales to one customer: a kiosk whose operator allows that much
    roomy = {"unsynced_count_max": 10**6, "unsynced_total_max": 10**12}
    roomy["per_customer_unsynced_max"] = 10**12
    assert operator.http.put(f"/v1/devices/{kiosk.device_id}/limits", json=roomy).is_success
    customer = operator.customer(10**8)
    batches = [[kiosk.sale(100, customer) for _ in range(400)] for _ in range(5)]
    bodies = [kiosk.batch_body(batch) for batch in batches]
    path = f"/v1/devices/{kiosk.device_id}/sales:batch"

    def send_all() -> None:
        for body in bodies:
            try:
                kiosk.send("POST", path, body)
            except httpx.HTTPError:
                return  # the server died mid-request: the device will resend

    sender = threading.Thread(target=send_all)
    sender.start()
    time.sleep(0.3)
    process.kill()
    process.wait()
    sender.join()
    kiosk.close()
    # WHEN the ledger restarts and the device resends everything
    process, url = start_serve(ledger.db_url)
    try:
        kiosk2 = Kiosk(url, kiosk.device_id, key=kiosk.key)
        answers = [kiosk2.send("POST", path, body) for body in bodies]
        statuses = [r["status"] for a in answers for r in a.json()["results"]]
        # THEN every sale is booked exactly once, and charged once
        assert set(statuses) <= {"accepted", "duplicate"}
        assert Operator(url).view(customer)["balance_minor"] == 10**8 - 2000 * 100
        with ledger.engine.connect() as conn:
            assert reconcile(conn, kiosk.device_id)["devices"][0]["accepted"] == 2000
    finally:
        process.terminate()
        process.wait(timeout=slow(30))
