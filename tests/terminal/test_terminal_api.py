"""The terminal API's refusals and its other messages: every bad request gets a 4xx naming the
field and the reason, and leaves nothing behind; a busy kiosk says so; events follow a payment;
refunds work offline within limits and are booked once the ledger is back; the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from device.terminal import auth
from device.terminal.auth import create_pos_key_file
from device.terminal.pos_client import PosError
from tests.terminal.conftest import Rig
from tests.terminal.test_pos_journey import ledger_view, wait_for
from tests.timing import slow


def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(PosError) as refused:
        call()
    answer: dict[str, Any] = {"status": refused.value.status, **refused.value.answer}
    return answer


def test_bad_payment_requests_are_refused_with_the_field_and_nothing_starts(rig: Rig) -> None:
    with rig.pos() as pos:
        cases = [
            ({"amount_minor": 100, "currency": "EUR"}, "reference"),
            ({"reference": "x1", "amount_minor": 0, "currency": "EUR"}, "amount_minor"),
            ({"reference": "x2", "amount_minor": 100, "currency": "USD"}, "currency"),
            ({"reference": "x3", "amount_minor": 100, "currency": "EUR", "tip": 5}, "tip"),
            ({"reference": "bad ref!", "amount_minor": 100, "currency": "EUR"}, "reference"),
            (
                {"reference": "x4", "amount_minor": 100, "currency": "EUR", "methods": ["cash"]},
                "methods.0",
            ),
            (
                {
                    "reference": "x5",
                    "amount_minor": 100,
                    "currency": "EUR",
                    "lines": [{"name": "Tea", "quantity": 1, "unit_minor": 90}],
                },
                None,
            ),
        ]
        for body, field in cases:
            # WHEN the POS sends a bad payment request
            answer = refusal(lambda body=body: pos.call("POST", "/v1/payments", body))
            # THEN it is a 422 naming the field and why
            assert answer["status"] == 422, (body, answer)
            assert answer["reason"], answer
            if field is not None:
                assert answer["field"] == field, (body, answer)
        # AND nothing was started: the references are unknown and the kiosk is idle
        assert refusal(lambda: pos.status("x1"))["status"] == 404
        assert rig.kiosk.view()["phase"] == "idle"
        # AND a body that is not JSON is a 400
        raw = refusal(lambda: pos.call("POST", "/v1/refunds", None))
        assert raw["status"] == 400 and raw["error"] == "bad_json"


def test_one_payment_at_a_time_and_a_reference_means_one_request(rig: Rig) -> None:
    with rig.pos() as pos, rig.pos() as other:
        # GIVEN a payment waiting for the customer to choose how to pay
        answers: list[dict[str, Any]] = []
        payer = threading.Thread(
            target=lambda: answers.append(
                pos.pay(300, "EUR", "busy-1", methods=["face", "customer_qr"], wait_s=slow(60))
            )
        )
        payer.start()
        wait_for(lambda: rig.kiosk.view()["phase"] == "choose_payment", 20, "the choice screen")
        # THEN the screen offers only the POS's methods
        assert rig.kiosk.view()["methods"] == ["face", "customer_qr"]
        # AND its status says in progress, with the stage
        status = other.status("busy-1")
        assert status["status"] == "in_progress" and status["stage"] == "choose_payment"
        # WHEN another payment is asked for THEN it is refused: one is in progress
        busy = refusal(
            lambda: other.call(
                "POST",
                "/v1/payments",
                {"reference": "busy-2", "amount_minor": 100, "currency": "EUR"},
            )
        )
        assert busy["status"] == 409 and busy["error"] == "payment_in_progress"
        # WHEN the same reference comes with another amount THEN it is refused as reused
        reused = refusal(
            lambda: other.call(
                "POST",
                "/v1/payments",
                {"reference": "busy-1", "amount_minor": 999, "currency": "EUR"},
            )
        )
        assert reused["status"] == 409 and reused["field"] == "reference"
        # AND the events so far tell the POS what the kiosk shows
        events = other.events(after=0, wait_s=0)["events"]
        stages = [
            e["stage"] for e in events if e.get("reference") == "busy-1" and e["type"] == "stage"
        ]
        assert "choose_payment" in stages
        other.abort("busy-1")
        payer.join(slow(20))
        assert answers[0]["status"] == "aborted"
        wait_for(lambda: rig.kiosk.view()["phase"] == "idle", 10, "idle")


def test_server_sent_events_stream_a_payment_to_its_outcome(rig: Rig) -> None:
    with rig.pos() as pos:
        after = pos.events(after=0, wait_s=0)["last_id"]
        path, query = "/v1/events/stream", f"after={after}&reference=sse-1"
        headers = auth.sign_request(rig.key, "GET", path, query, b"")
        seen: list[dict[str, Any]] = []

        def listen() -> None:
            with httpx.stream(
                "GET", f"{rig.link.url}{path}?{query}", headers=headers, timeout=slow(60)
            ) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        seen.append(json.loads(line[6:]))
                        if seen[-1]["type"] == "payment_finished":
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.3)
        # WHEN a payment runs (the customer shows a wallet code)
        paid = pos.pay(250, "EUR", "sse-1", methods=["customer_qr"], wait_s=slow(60))
        listener.join(slow(20))
        # THEN the stream told every stage, and the same outcome
        assert paid["status"] == "approved"
        kinds = [e["type"] for e in seen]
        assert kinds[0] == "payment_started" and kinds[-1] == "payment_finished", kinds
        assert "qr_wait" in [e.get("stage") for e in seen]
        assert seen[-1]["sale_id"] == paid["sale_id"]


def test_replayed_and_unknown_pos_requests_are_refused(rig: Rig) -> None:
    body = b""
    headers = auth.sign_request(rig.key, "GET", "/v1/info", "", body)
    # WHEN a signed request is sent twice THEN the copy is refused as a replay
    assert httpx.get(f"{rig.link.url}/v1/info", headers=headers).status_code == 200
    replay = httpx.get(f"{rig.link.url}/v1/info", headers=headers)
    assert replay.status_code == 401 and replay.json()["error"] == "replayed"
    # WHEN a body is too large THEN it is refused before it is read
    big = b"{" + b" " * (70 * 1024) + b"}"
    headers = auth.sign_request(rig.key, "POST", "/v1/payments", "", big)
    answer = httpx.post(f"{rig.link.url}/v1/payments", content=big, headers=headers)
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"
    # WHEN a POS the kiosk does not know signs THEN it is refused, saying so
    stranger = auth.PosKey("stranger", bytes(32))
    answer = httpx.get(
        f"{rig.link.url}/v1/info", headers=auth.sign_request(stranger, "GET", "/v1/info", "", body)
    )
    assert answer.status_code == 401 and answer.json()["error"] == "unknown_pos"


def test_refunds_offline_within_limits_then_booked_once_when_the_ledger_is_back(rig: Rig) -> None:
    with rig.pos() as pos:
        # GIVEN a sale paid online
        paid = pos.pay(800, "EUR", "offline-sale", methods=["customer_qr"], wait_s=slow(60))
        assert paid["status"] == "approved"
        # WHEN the ledger goes away and the POS refunds part of it
        port = int(rig.setup.ledger.url.rsplit(":", 1)[1])
        rig.setup.ledger.stop()
        try:
            refund = pos.refund(paid["sale_id"], 300, "offline-refund")
            # THEN the kiosk takes it on its own record of the sale: refunded, not yet booked
            assert refund["status"] == "refunded" and refund["booked"] is False, refund
            assert refund["receipt"]["refund_of"] == paid["sale_id"]
            # AND it will not refund more than its own record says remains
            beyond = refusal(lambda: pos.refund(paid["sale_id"], 600, "offline-refund-2"))
            assert beyond["status"] == 422 and beyond["field"] == "amount_minor"
            # AND a sale it does not know cannot be refunded offline
            unknown = refusal(lambda: pos.refund("no-such-sale", 100, "offline-refund-3"))
            assert unknown["status"] == 503 and unknown["field"] == "sale_id"
        finally:
            from device.demo import start_ledger, token_issuer

            rig.setup.ledger = start_ledger(
                rig.setup.ledger_db_url, token_issuer(rig.setup.data_dir / "ledger"), port
            )
        # THEN once the ledger is back the refund is booked, exactly once
        wait_for(
            lambda: any(r["refund_id"] == refund["refund_id"] for r in ledger_view(rig)["refunds"]),
            60,
            "the refund to be booked",
        )
        view = ledger_view(rig)
        mine = [r for r in view["refunds"] if r["sale_id"] == paid["sale_id"]]
        assert [(r["amount_minor"], r["status"]) for r in mine] == [(300, "refunded")]
        # AND asking for the refund again now says it is booked
        wait_for(
            lambda: pos.call("GET", "/v1/refunds/offline-refund", None)["booked"],
            10,
            "the kiosk to hear the ledger's answer",
        )
        # AND a refund of a sale the ledger does not know is refused as unknown
        unknown = refusal(lambda: pos.refund("no-such-sale", 100, "online-unknown"))
        assert unknown["status"] == 404 and unknown["field"] == "sale_id"


def test_the_pos_command_pays_and_a_wrong_key_exits_non_zero(rig: Rig, tmp_path) -> None:
    def pos_command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "device.cli", "pos", *args],
            capture_output=True,
            text=True,
            timeout=slow(120),
        )

    # WHEN the reference client pays from the command line
    done = pos_command(
        "pay",
        "--pos-url",
        rig.link.url,
        "--key-file",
        str(rig.key_file),
        "--amount-minor",
        "120",
        "--currency",
        "EUR",
        "--reference",
        "cli-1",
        "--method",
        "customer_qr",
        "--json",
    )
    # THEN its last line is the outcome
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "approved" and outcome["reference"] == "cli-1"
    assert outcome["amount_minor"] == 120 and outcome["sale_id"] and outcome["receipt"]
    # AND refunding it in full says refunded
    refunded = pos_command(
        "refund",
        "--pos-url",
        rig.link.url,
        "--key-file",
        str(rig.key_file),
        "--sale-id",
        outcome["sale_id"],
        "--amount-minor",
        "120",
        "--reference",
        "cli-r1",
        "--json",
    )
    assert refunded.returncode == 0, refunded.stderr
    assert json.loads(refunded.stdout.strip().splitlines()[-1])["status"] == "refunded"
    # WHEN a POS key the kiosk does not hold is used THEN it exits non-zero with the reason
    wrong = tmp_path / "wrong.key"
    create_pos_key_file(wrong, "demo-pos")
    refused = pos_command(
        "status",
        "--pos-url",
        rig.link.url,
        "--key-file",
        str(wrong),
        "--reference",
        "cli-1",
        "--json",
    )
    assert refused.returncode != 0 and "bad signature" in refused.stderr


def test_the_operator_page_lists_sales_and_refunds_with_the_pin(rig: Rig) -> None:
    from device.screen.server import create_screen_app, serve_screen_in_thread

    # GIVEN the kiosk's screen with an operator PIN, and a sale paid through the POS
    with rig.pos() as pos:
        paid = pos.pay(640, "EUR", "operator-sale", methods=["customer_qr"], wait_s=slow(60))
    assert paid["status"] == "approved"
    app = create_screen_app(rig.kiosk, rig.setup.config.screen, "4711")
    screen = serve_screen_in_thread(app)
    try:
        with httpx.Client(base_url=screen.url, timeout=slow(30)) as browser:
            # GIVEN terminal mode THEN the screen offers no self-service catalogue
            assert browser.get("/screen.json").json()["catalogue"] == []
            # WHEN nobody has logged in THEN the sales and the refund action are closed
            assert browser.get("/api/operator/sales").status_code == 401
            # WHEN the operator logs in THEN the newest sale is listed with what remains
            assert browser.post("/operator/login", json={"pin": "4711"}).status_code == 200
            sales = browser.get("/api/operator/sales").json()["sales"]
            newest = sales[0]
            assert newest["sale_id"] == paid["sale_id"] and newest["remaining_minor"] == 640
            # WHEN a refund is asked with a wrong PIN THEN it is refused and nothing is refunded
            body = {"sale_id": paid["sale_id"], "amount_minor": 140, "reference": "op-1"}
            wrong = browser.post("/api/operator/refunds", json={**body, "pin": "0000"})
            assert wrong.status_code == 401
            # WHEN it is asked with the PIN THEN it is refunded and the list shows it
            done = browser.post("/api/operator/refunds", json={**body, "pin": "4711"})
            assert done.status_code == 200 and done.json()["status"] == "refunded", done.text
            again = browser.get("/api/operator/sales").json()["sales"][0]
            assert again["refunded_minor"] == 140 and again["remaining_minor"] == 500
    finally:
        screen.stop()


def test_a_restart_settles_payments_left_in_progress_from_the_sale_queue(rig: Rig) -> None:
    from device.terminal.events import EventLog
    from device.terminal.payments import PaymentDesk
    from device.terminal.store import StoredRequest

    store = rig.server.terminal.store
    with rig.pos() as pos:
        paid = pos.pay(210, "EUR", "before-crash", methods=["customer_qr"], wait_s=slow(60))
    # GIVEN two payments a stopped kiosk left in progress: one whose sale reached the queue,
    # one whose sale never did
    for reference, sale_id in (("crash-a", paid["sale_id"]), ("crash-b", "never-recorded")):
        outcome = {"status": "in_progress", "reference": reference, "sale_id": sale_id}
        store.begin(
            StoredRequest("demo-pos", "payment", reference, "h", sale_id, "in_progress", outcome)
        )
    # WHEN the terminal starts again
    desk = PaymentDesk(rig.kiosk, store, EventLog(), ["face"], "EUR", 60)
    try:
        desk.recover()
    finally:
        desk.close()
    # THEN the recorded one is approved with its receipt, the other aborted with nothing charged
    recorded = store.get("demo-pos", "payment", "crash-a")
    lost = store.get("demo-pos", "payment", "crash-b")
    assert recorded is not None and recorded.outcome["status"] == "approved"
    assert recorded.outcome["receipt"]["sale_id"] == paid["sale_id"]
    assert lost is not None and lost.outcome["status"] == "aborted"
    assert "nothing was charged" in lost.outcome["reason"]


def self_signed(folder: Any) -> tuple[Any, Any, str]:
    """A self-signed certificate for 127.0.0.1, its key, and its sha256 (the POS's pin)."""
    import datetime as dt
    import hashlib
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    LOOPBACK = ipaddress.ip_address("127.0.0.1")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smilepay kiosk")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "kiosk.pem", folder / "kiosk.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pin = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_file, key_file, pin


def test_over_tls_the_pos_talks_only_to_the_pinned_certificate(rig: Rig, tmp_path) -> None:
    from device.terminal.pos_client import PosClient, PosUnreachable
    from device.terminal.service import serve_terminal

    # GIVEN the terminal API served over TLS with a self-signed certificate
    cert_file, key_file, pin = self_signed(tmp_path)
    config = rig.setup.config.terminal.model_copy(
        update={"tls_cert_file": cert_file, "tls_key_file": key_file}
    )
    server = serve_terminal(rig.server.terminal, config, 0)
    try:
        assert server.url.startswith("https://")
        # WHEN a POS pins that certificate THEN it is served
        with PosClient(server.url, rig.key, pin_sha256=pin) as pos:
            assert pos.info()["device_id"] == rig.setup.device_id
        # WHEN a POS pins another certificate THEN nothing is sent and it says why
        with (
            PosClient(server.url, rig.key, pin_sha256="00" * 32) as pos,
            pytest.raises(PosUnreachable, match="not the pinned one"),
        ):
            pos.info()
    finally:
        server.stop()


def test_a_restart_answers_refunds_left_in_progress_from_the_refund_queue(rig: Rig) -> None:
    from device.terminal.store import StoredRequest
    from sync.queue.refunds import RefundDraft

    store, desk = rig.server.terminal.store, rig.server.terminal.refunds
    assert desk is not None
    with rig.pos() as pos:
        paid = pos.pay(330, "EUR", "refund-crash-sale", methods=["customer_qr"], wait_s=slow(60))
    # GIVEN a refund recorded in the refund queue whose answer was never stored, and a refund
    # request the kiosk stopped before recording
    queued = desk.queue.enqueue(
        RefundDraft(paid["sale_id"], 30, "EUR", "crash-r1", "", "refund-crash-1"), offline=False
    )
    for reference, refund_id in (("crash-r1", queued.refund_id), ("crash-r2", "never-queued")):
        outcome = {"status": "in_progress", "reference": reference, "refund_id": refund_id}
        store.begin(
            StoredRequest("demo-pos", "refund", reference, "h", refund_id, "in_progress", outcome)
        )
    # WHEN the terminal starts again
    desk.recover()
    # THEN the queued one is refunded, the other refused with nothing refunded
    recorded = store.get("demo-pos", "refund", "crash-r1")
    lost = store.get("demo-pos", "refund", "crash-r2")
    assert recorded is not None and recorded.outcome["status"] == "refunded"
    assert lost is not None and lost.outcome["status"] == "refused"
    assert "nothing was refunded" in lost.outcome["reason"]


def test_a_payment_not_paid_in_time_ends_timed_out_and_the_kiosk_is_idle(rig: Rig) -> None:
    from device.terminal.events import EventLog
    from device.terminal.messages import PaymentRequest
    from device.terminal.payments import PaymentDesk

    # GIVEN a terminal whose payments may last 2 s, and a customer who never chooses a method
    wait_for(lambda: rig.kiosk.view()["phase"] == "idle", 15, "idle")
    desk = PaymentDesk(
        rig.kiosk,
        rig.server.terminal.store,
        EventLog(),
        ["face", "customer_qr"],
        "EUR",
        payment_timeout_s=2.0,
    )
    desk.start()
    try:
        request = PaymentRequest(
            reference="slow-1", amount_minor=100, currency="EUR", methods=["face", "customer_qr"]
        )
        # WHEN the POS asks for the payment and waits
        outcome = desk.pay("demo-pos", request, wait_s=slow(20))
    finally:
        desk.close()
    # THEN it ended timed_out, nothing was sold, and the screen went back to idle
    assert outcome["status"] == "timed_out", outcome
    assert rig.kiosk.sale_record(outcome["sale_id"]) is None
    wait_for(lambda: rig.kiosk.view()["phase"] == "idle", 10, "idle")
