"""Attack: the ledger runs open. Now nothing is open by default: `ledger serve` refuses to start
without an operator token (unless --insecure-dev, loopback only), operator calls need the
token, and a kiosk registers only with a single-use code; a revoked key never comes back."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from sync.ledger.kiosk import Kiosk, Operator
from sync.ledger.tables_security import registration_codes
from tests.redteam.conftest import ADMIN, Secured, refused
from tests.timing import slow


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "device.cli", "ledger", "serve", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=slow(120))


def test_serve_refuses_to_start_open(tmp_path: Path) -> None:
    # GIVEN no token file WHEN the ledger is started THEN it refuses, saying what to do
    done = serve("--db", f"sqlite:///{tmp_path / 'l.db'}", "--port", "1")
    assert done.returncode == 2
    assert "refusing to start an open ledger" in done.stderr
    # AND --insecure-dev does not bind beyond loopback
    done = serve("--db", f"sqlite:///{tmp_path / 'l.db'}", "--insecure-dev", "--host", "0.0.0.0")
    assert done.returncode == 2 and "loopback only" in done.stderr


def test_serve_refuses_a_token_file_others_can_read(tmp_path: Path) -> None:
    token = tmp_path / "admin.token"
    token.write_text("a-long-enough-operator-token\n")
    token.chmod(0o644)
    done = serve("--db", f"sqlite:///{tmp_path / 'l.db'}", "--admin-token-file", str(token))
    assert done.returncode == 2 and "chmod 600" in done.stderr


def test_insecure_dev_warns_in_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "device.cli", "ledger", "serve", "--insecure-dev"]
    command += ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + slow(60)
        lines: list[bytes] = []
        while time.monotonic() < deadline and not any(b"INSECURE" in x for x in lines):
            line = process.stdout.readline() if process.stdout else b""
            if not line:
                break
            lines.append(line)
    finally:
        process.terminate()
        process.communicate(timeout=slow(30))
    assert any(b"INSECURE DEV LEDGER" in line and b'"level": "warning"' in line for line in lines)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/customers", {"name": "Mallory", "currency": "EUR"}),
        (
            "POST",
            "/v1/customers/c1/topups",
            {"amount_minor": 999999999999, "currency": "EUR", "reference": "free-money"},
        ),
        ("GET", "/v1/customers/c1", None),
        ("POST", "/v1/customers/c1/tokens", {"ttl_s": 60}),
        ("DELETE", "/v1/customers/c1", None),
        ("PUT", "/v1/devices/k1/limits", {"per_sale_max": 10**11}),
        ("POST", "/v1/devices/k1:revoke", None),
        ("POST", "/v1/registration-codes", {}),
        ("GET", "/v1/review", None),
    ],
)
def test_operator_calls_without_the_token_are_refused(
    secured: Secured, method: str, path: str, body: object
) -> None:
    answer = httpx.request(method, f"{secured.url}{path}", json=body)
    refused(answer, 401, "bad_token")
    wrong = {"Authorization": "Bearer not-the-operator-token-000"}
    refused(httpx.request(method, f"{secured.url}{path}", json=body, headers=wrong), 401)


def test_registration_needs_a_code_and_the_code_pays_once(secured: Secured) -> None:
    # GIVEN no code THEN registration is refused
    assert "required" in refused(Kiosk(secured.url).register(), 401, "registration_code_required")
    refused(Kiosk(secured.url).register(token="guessed-code"), 401, "bad_registration_code")
    # GIVEN a code THEN one kiosk registers with it, and a second kiosk cannot reuse it
    code = secured.code()
    first = Kiosk(secured.url)
    assert first.register(token=code).status_code == 201
    refused(Kiosk(secured.url).register(token=code), 401, "registration_code_used")
    # AND the same kiosk registering again is harmless (no code spent)
    assert first.register().status_code == 200


def test_a_code_expires_and_is_scoped_and_stored_only_hashed(secured: Secured) -> None:
    with secured.operator() as op:
        minted = op.http.post(
            "/v1/registration-codes", json={"merchant_id": "merchant-9", "expires_in_s": 60}
        ).json()
    # a kiosk of another merchant cannot use it
    refused(Kiosk(secured.url).register(token=minted["code"]), 403, "registration_code_scope")
    with secured.ledger.engine.connect() as conn:
        stored = list(conn.scalars(select(registration_codes.c.code_sha256)))
    assert minted["code"] not in stored
    # an expired code is refused
    clock = secured.ledger.clock
    secured.ledger.clock = lambda: clock() + 120
    try:
        kiosk = Kiosk(secured.url, merchant_id="merchant-9")
        refused(kiosk.register(token=minted["code"]), 401, "registration_code_expired")
    finally:
        secured.ledger.clock = clock


def test_a_revoked_key_never_registers_again(secured: Secured) -> None:
    # GIVEN a kiosk revoked by the operator
    kiosk = secured.kiosk()
    with Operator(secured.url, admin_token=ADMIN) as op:
        assert op.http.post(f"/v1/devices/{kiosk.device_id}:revoke").status_code == 200
    # WHEN its key registers under a new device id, even with a fresh code
    thief = Kiosk(secured.url, key=kiosk.key)
    # THEN it is refused, and cannot book a sale
    refused(thief.register(token=secured.code()), 403, "key_revoked")
    refused(thief.post_batch([thief.sale(100, None)]), 401, "unknown_device")
    # AND one key cannot hold two device ids at once either
    live = secured.kiosk()
    refused(Kiosk(secured.url, key=live.key).register(token=secured.code()), 409, "key_in_use")
