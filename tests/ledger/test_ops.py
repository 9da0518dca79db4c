"""Operations surface of the ledger: Prometheus `/metrics` (operator or metrics token), the
`/fleet` page (operator token) and the public receipt page `/r/<sale_id>`; on SQLite and
PostgreSQL, against a real server, with sales sent by the real sync agent."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from sync.agent.agent import SyncAgent
from sync.agent.client import LedgerClient
from sync.agent.device_identity import DeviceIdentity
from sync.ledger.app import create_app
from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.server import serve_in_thread
from sync.ledger.tables import sales
from sync.queue.draft import SaleDraft
from tests.ledger.conftest import LedgerUnderTest
from tests.sync.harness import fast_sync_config, new_device, open_queue
from tests.timing import slow

ADMIN, METRICS = "operator-token-0123456789", "metrics-token-0123456789"


@pytest.fixture(scope="module")
def secured(db_url: str) -> Iterator[LedgerUnderTest]:
    """A ledger with an operator token and a separate metrics token."""
    app = create_app(db_url, admin_token=ADMIN, metrics_token=METRICS)
    server = serve_in_thread(app)
    yield LedgerUnderTest(server.url, app.state.ledger, db_url, server)
    server.stop()
    app.state.ledger.engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scrape(url: str, token: str = METRICS) -> dict[str, float]:
    """`/metrics` as {series with labels: value} (comment lines dropped)."""
    answer = httpx.get(f"{url}/metrics", headers=bearer(token), timeout=slow(10))
    assert answer.status_code == 200, answer.text
    series = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            series[name] = float(value)
    return series


def registration_code(url: str) -> str:
    """A single-use registration code the operator mints for one kiosk."""
    answer = httpx.post(
        f"{url}/v1/registration-codes", json={}, headers=bearer(ADMIN), timeout=slow(10)
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["code"])


def synced_device(url: str, tmp_path: Path, amounts: list[int]) -> tuple[DeviceIdentity, list]:
    """A registered device whose queue sold `amounts` to a funded customer, synced by the real
    agent until drained."""
    operator = Operator(url, admin_token=ADMIN)
    customer_id = operator.customer(sum(amounts))
    operator.close()
    identity = new_device(tmp_path, url, limits=None, registration_token=registration_code(url))
    queue = open_queue(identity)
    records = [
        queue.enqueue_sale(
            SaleDraft(amount_minor=a, currency="EUR", method="face", customer_id=customer_id)
        )
        for a in amounts
    ]
    config = fast_sync_config()
    client = LedgerClient(url, identity.device_id, identity.key, config)
    assert SyncAgent(queue, client, identity.key, config).run("until-drained") == 0
    return identity, records


def test_metrics_count_the_sales_a_device_synced(secured: LedgerUnderTest, tmp_path: Path) -> None:
    # GIVEN the ledger's counters before
    before = scrape(secured.url)
    # WHEN a kiosk's agent syncs three sales
    identity, _ = synced_device(secured.url, tmp_path, [120, 250, 330])
    after = scrape(secured.url)
    # THEN the smilepay_ series count them, time the batch, and show the device as just seen
    key = 'smilepay_ledger_sales_total{status="accepted"}'
    assert after[key] - before.get(key, 0) == 3
    amount = 'smilepay_ledger_sales_amount_minor_total{currency="EUR"}'
    assert after[amount] - before.get(amount, 0) == 700
    assert after["smilepay_ledger_batch_seconds_count"] >= 1
    device = f'{{device_id="{identity.device_id}"}}'
    assert after[f"smilepay_ledger_device_last_seen_timestamp_seconds{device}"] > 0
    assert after[f"smilepay_ledger_device_backlog_sales{device}"] == 0
    assert abs(after[f"smilepay_ledger_device_clock_offset_seconds{device}"]) <= 2
    assert after[f"smilepay_ledger_device_revoked{device}"] == 0
    assert "smilepay_ledger_refunds_total" in after and "smilepay_ledger_declines_total" in after


def test_metrics_need_the_operator_or_metrics_token(secured: LedgerUnderTest) -> None:
    # GIVEN no token, a wrong token, the operator token, and the metrics token as Basic auth
    url = f"{secured.url}/metrics"
    basic = base64.b64encode(f"prometheus:{METRICS}".encode()).decode()
    # THEN only the right tokens are let in
    assert httpx.get(url, timeout=slow(10)).status_code == 401
    assert (
        httpx.get(url, headers=bearer("wrong-token-0123456789"), timeout=slow(10)).status_code
        == 401
    )
    assert httpx.get(url, headers=bearer(ADMIN), timeout=slow(10)).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Basic {basic}"}, timeout=slow(10)).is_success


def test_the_fleet_page_lists_devices_with_backlog_gaps_and_revocation(
    secured: LedgerUnderTest,
) -> None:
    # GIVEN a kiosk that sent sales 1-2 and 5 (3-4 missing), reporting 7 more queued, then revoked
    kiosk = Kiosk(secured.url)
    assert kiosk.register(token=registration_code(secured.url)).status_code == 201
    records = [kiosk.sale(100, None) for _ in range(5)]
    body = kiosk.batch_body(records[:2])
    path = f"/v1/devices/{kiosk.device_id}/sales:batch"
    headers = {**kiosk_headers(kiosk, path, body), "X-Smilepay-Backlog": "7"}
    assert kiosk.http.post(path, content=body, headers=headers).status_code == 200
    assert kiosk.post_batch(records[4:]).status_code == 200
    revoke = f"{secured.url}/v1/devices/{kiosk.device_id}:revoke"
    assert httpx.post(revoke, headers=bearer(ADMIN), timeout=slow(10)).status_code == 200
    # WHEN the operator opens the fleet page (and its JSON form)
    page = httpx.get(f"{secured.url}/fleet", headers=bearer(ADMIN), timeout=slow(10))
    rows = httpx.get(f"{secured.url}/fleet?format=json", headers=bearer(ADMIN), timeout=slow(10))
    # THEN the device is listed with what the ledger knows of it
    row = next(r for r in rows.json()["devices"] if r["device_id"] == kiosk.device_id)
    assert row["gaps"] == [[3, 4]] and row["missing_sales"] == 2
    assert row["backlog"] == 7 and row["revoked"] is True and row["last_seen_s"] is not None
    assert page.status_code == 200 and kiosk.device_id in page.text and "3-4" in page.text
    kiosk.close()


def kiosk_headers(kiosk: Kiosk, path: str, body: bytes) -> dict[str, str]:
    from base import wire

    headers = wire.sign_request(kiosk.device_id, kiosk.key, "POST", path, body)
    return {**headers, "Content-Type": "application/json"}


def test_the_fleet_page_needs_the_operator_token_not_the_metrics_token(
    secured: LedgerUnderTest,
) -> None:
    answer = httpx.get(f"{secured.url}/fleet", headers=bearer(METRICS), timeout=slow(10))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")  # a browser prompts


def test_a_synced_sale_s_receipt_page_shows_it_and_its_checks(
    secured: LedgerUnderTest, tmp_path: Path
) -> None:
    # GIVEN two sales synced by a device
    _, records = synced_device(secured.url, tmp_path, [450, 275])
    second = records[1]
    # WHEN the second one's receipt link is opened (no token: it is the customer's)
    answer = httpx.get(f"{secured.url}/r/{second['sale_id']}", timeout=slow(10))
    # THEN the page shows the amount and that signature and chain check out
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    text = answer.text
    assert "2.75 EUR" in text and second["sale_id"] in text and second["wall_time"] in text
    assert "valid: signed by the kiosk" in text
    assert "links to the device&#x27;s previous sale" in text


def test_a_tampered_sale_s_receipt_page_says_the_signature_does_not_check_out(
    secured: LedgerUnderTest, tmp_path: Path
) -> None:
    # GIVEN a synced sale whose stored record was later altered in the database
    _, records = synced_device(secured.url, tmp_path, [500])
    sale_id = records[0]["sale_id"]
    altered = json.dumps({**sale_record(records[0]), "amount_minor": 5})
    with secured.engine.begin() as conn:
        conn.execute(update(sales).where(sales.c.sale_id == sale_id).values(record_json=altered))
    # WHEN its receipt is opened
    text = httpx.get(f"{secured.url}/r/{sale_id}", timeout=slow(10)).text
    # THEN the page says so
    assert "INVALID" in text


def sale_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "signature"}


def test_a_receipt_not_synced_yet_says_so_and_a_damaged_link_is_refused(
    secured: LedgerUnderTest,
) -> None:
    pending = httpx.get(f"{secured.url}/r/0b6c2f7e5a4d4c1b9a572d0e8f3b1c42", timeout=slow(10))
    assert pending.status_code == 404 and "has not reached the ledger yet" in pending.text
    damaged = httpx.get(f"{secured.url}/r/%3Cscript%3E", timeout=slow(10))
    assert damaged.status_code == 400 and "<script>" not in damaged.text


def test_the_grafana_dashboard_names_only_metrics_the_services_export(
    secured: LedgerUnderTest, tmp_path: Path
) -> None:
    # GIVEN every series name the ledger and the kiosk export
    from device.metrics import KIOSK_METRIC_NAMES

    synced_device(secured.url, tmp_path, [100])
    answer = httpx.get(f"{secured.url}/metrics", headers=bearer(METRICS), timeout=slow(10))
    exported = declared_series(answer.text) | KIOSK_METRIC_NAMES
    # WHEN the dashboard's queries are read
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    named = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            named |= set(re.findall(r"\bsmilepay_[a-z0-9_]+", target["expr"]))
    # THEN every metric it names exists, and it shows both services
    assert named, "the dashboard queries no smilepay_ metric"
    assert named <= exported, sorted(named - exported)
    assert any(n.startswith("smilepay_kiosk_") for n in named)
    assert any(n.startswith("smilepay_ledger_") for n in named)


SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum")}


def declared_series(exposition: str) -> set[str]:
    """Every series name the exposition declares (`# TYPE`), samples or not (a counter of
    anomalies has no sample until the first one)."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            name = name.removesuffix("_total") if kind == "counter" else name
            names |= {name + suffix for suffix in SUFFIXES.get(kind, ("",))}
    return names


DASHBOARD = Path(__file__).resolve().parents[2] / "systemd" / "grafana" / "smilepay.json"


def test_one_sale_can_be_followed_by_its_id_through_agent_and_ledger_json_logs(
    secured: LedgerUnderTest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from base.logs import JsonLineFormatter

    # GIVEN the agent and the ledger logging as their services do (JSON lines)
    caplog.set_level("INFO")
    # WHEN a device syncs two sales
    _, records = synced_device(secured.url, tmp_path, [110, 220])
    sale_id = records[1]["sale_id"]
    lines = [json.loads(JsonLineFormatter("any").format(r)) for r in caplog.records]
    # THEN the agent's and the ledger's batch lines both carry it as a JSON field
    carrying = [x["logger"] for x in lines if sale_id in (x.get("sale_ids") or [])]
    assert "smilepay.sync" in carrying and "sync.ledger.app" in carrying
