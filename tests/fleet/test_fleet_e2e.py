"""Fleet identity end to end: a real ledger, kiosks A and B of one merchant and C of another,
driven through the CLI as an operator would (enrol, sync, replay, forget, customer delete)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from device.cli import main as smilepay
from tests.fleet.conftest import (
    FleetLedger,
    init_kiosk,
    last_json,
    raw_file_bytes,
    sealed_templates,
    sync_until_drained,
    write_frames,
)
from tests.timing import slow

TOKEN_TTL_S = round(slow(4))  # long enough for kiosk B to check it first


@pytest.fixture()
def fleet(fleet_ledger: FleetLedger, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    kiosks = {}
    for name, merchant in (("A", "shop-1"), ("B", "shop-1"), ("C", "shop-2")):
        data_dir = tmp_path / f"kiosk-{name}"
        kiosks[name] = (data_dir, init_kiosk(fleet_ledger, data_dir, merchant))
    return kiosks


def enrol(data_dir: Path, frames: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    images = [str(frames / "000.png"), str(frames / "015.png")]
    args = ["enroll", "--data-dir", str(data_dir), "--name", name, "--step-up", "4711"]
    assert smilepay([*args, "--consent", *images, "--json"]) == 0
    return str(last_json(capsys.readouterr().out)["customer_id"])


def outbox_step_up_hash(data_dir: Path, customer_id: str) -> str:
    with sqlite3.connect(data_dir / "gallery.db") as conn:
        [body] = conn.execute(
            "SELECT body FROM enrolment_outbox WHERE customer_id = ?", (customer_id,)
        ).fetchone()
    return str(json.loads(body)["step_up_hash"])


def replay(frames: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert smilepay(["face", "replay", str(frames), "--data-dir", str(data_dir), "--json"]) == 0
    return last_json(capsys.readouterr().out)


def show(ledger: FleetLedger, customer_id: str, capsys: pytest.CaptureFixture[str]) -> dict:
    args = ["ledger", "customer", "show", customer_id, *ledger.operator_args(), "--json"]
    assert smilepay(args) == 0
    return last_json(capsys.readouterr().out)


def sync_all(ledger: FleetLedger, fleet: dict[str, tuple[Path, str]]) -> None:
    for data_dir, _ in fleet.values():
        sync_until_drained(ledger, data_dir)


def test_enrol_at_a_pay_at_b_never_at_c_then_delete_everywhere_with_proof(
    fleet_ledger: FleetLedger,
    fleet: dict[str, tuple[Path, str]],
    demo_frames: list[np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    frames = write_frames(tmp_path / "frames", demo_frames)
    (a, a_id), (b, b_id), (c, c_id) = fleet["A"], fleet["B"], fleet["C"]
    # GIVEN the astronaut enrolled by CLI at kiosk A (with a step-up secret)
    customer = enrol(a, frames, "Astronaut", capsys)
    step_up_hash = outbox_step_up_hash(a, customer)
    # WHEN A, then B and C sync
    sync_all(fleet_ledger, fleet)
    # THEN the step-up hash has left A's files with the outbox row (only the ledger keeps it)
    assert step_up_hash.encode() not in raw_file_bytes(a)
    # THEN B recognises the customer, and C (another merchant) never received the template
    at_b = replay(frames, b, capsys)
    assert (at_b["customer_id"], at_b["match"]) == (customer, "Astronaut")
    assert at_b["decision"] in ("pay", "step_up")
    assert replay(frames, c, capsys)["customer_id"] is None
    assert customer not in sealed_templates(c)
    # AND the ledger shows the enrolment under shop-1, with a step-up the kiosks never got
    enrolment = show(fleet_ledger, customer, capsys)["enrolment"]
    assert enrolment["merchant_id"] == "shop-1" and enrolment["step_up"] is True
    stored = {"A": sealed_templates(a)[customer], "B": sealed_templates(b)[customer]}
    assert all(stored[name] in raw_file_bytes(d) for name, d in (("A", a), ("B", b)))
    # WHEN the customer deletes their face at B with wrong digits THEN it is refused
    forget = ["face", "forget", str(frames), "--data-dir", str(b), "--json"]
    assert smilepay([*forget, "--step-up", "0000"]) != 0
    assert customer in sealed_templates(b)
    # WHEN with the right digits, and every kiosk syncs
    assert smilepay([*forget, "--step-up", "4711"]) == 0
    sync_all(fleet_ledger, fleet)
    # THEN A and B confirmed, nothing is pending, C was never asked
    deletion = show(fleet_ledger, customer, capsys)["deletion"]
    assert deletion["confirmed_by"] == sorted([a_id, b_id]) and deletion["pending"] == []
    assert c_id not in deletion["confirmed_by"]
    assert deletion["requested_at"]
    # AND no kiosk matches them any more, and the sealed bytes are gone from every file
    for data_dir, name in ((a, "A"), (b, "B")):
        assert replay(frames, data_dir, capsys)["customer_id"] is None
        assert stored[name] not in raw_file_bytes(data_dir)
        assert stored[name][:32] not in raw_file_bytes(data_dir)


def test_an_operator_deletion_reaches_every_holder_and_is_confirmed(
    fleet_ledger: FleetLedger,
    fleet: dict[str, tuple[Path, str]],
    demo_frames: list[np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    frames = write_frames(tmp_path / "frames", demo_frames)
    (a, a_id), (b, b_id), _ = fleet["A"], fleet["B"], fleet["C"]
    # GIVEN a customer enrolled at A and distributed to B
    customer = enrol(a, frames, "Astronaut", capsys)
    sync_all(fleet_ledger, fleet)
    stored = sealed_templates(b)[customer]
    assert stored in raw_file_bytes(b)
    # WHEN the operator deletes the customer at the ledger
    delete = ["ledger", "customer", "delete", customer, *fleet_ledger.operator_args(), "--json"]
    assert smilepay(delete) == 0
    pending = last_json(capsys.readouterr().out)["deletion"]["pending"]
    assert pending == sorted([a_id, b_id])
    # AND every kiosk syncs once
    sync_all(fleet_ledger, fleet)
    # THEN both holders confirmed and neither matches the customer any more
    deletion = show(fleet_ledger, customer, capsys)["deletion"]
    assert deletion["confirmed_by"] == sorted([a_id, b_id]) and deletion["pending"] == []
    assert replay(frames, b, capsys)["customer_id"] is None
    assert stored not in raw_file_bytes(b)


def test_offline_a_customer_token_deletes_the_face_here_at_once_and_everywhere_later(
    fleet_ledger: FleetLedger,
    fleet: dict[str, tuple[Path, str]],
    demo_frames: list[np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from base.keys import load_key_file, public_key_b64

    frames = write_frames(tmp_path / "frames", demo_frames)
    (a, a_id), (b, b_id), _ = fleet["A"], fleet["B"], fleet["C"]
    issuer = load_key_file(fleet_ledger.admin_token_file.parent / "issuer.key")
    (b / "token_issuer.pub").write_text(public_key_b64(issuer) + "\n")
    # GIVEN a customer enrolled at A and held by A and B
    customer = enrol(a, frames, "Astronaut", capsys)
    sync_all(fleet_ledger, fleet)
    stored = sealed_templates(b)[customer]
    offline = ["--data-dir", str(b), "--ledger-url", "http://127.0.0.1:9", "--json"]
    # WHEN the ledger is unreachable and the customer proves it with the step-up digits
    # THEN nothing is deleted (only the ledger can check them)
    assert smilepay(["face", "forget", str(frames), *offline, "--step-up", "4711"]) != 0
    assert customer in sealed_templates(b)
    # WHEN they show a payment code (a short-lived one, fetched by their phone) instead
    token_args = ["ledger", "customer", "token", customer, "--ttl-s", str(TOKEN_TTL_S)]
    assert smilepay([*token_args, *fleet_ledger.operator_args(), "--json"]) == 0
    token_file = tmp_path / "customer.token"
    token_file.write_text(last_json(capsys.readouterr().out)["token"])
    assert smilepay(["face", "forget", *offline, "--token-file", str(token_file)]) == 0
    answer = last_json(capsys.readouterr().out)
    time.sleep(TOKEN_TTL_S + 1)  # the code expires before the ledger is back
    # THEN B's copy is gone at once, bytes included, and the request waits in B's outbox
    assert answer["removed_here"] is True and answer["queued"] is True
    assert customer not in sealed_templates(b) and stored not in raw_file_bytes(b)
    assert replay(frames, b, capsys)["customer_id"] is None
    # WHEN B and then A sync, the ledger reachable again
    sync_until_drained(fleet_ledger, b)
    sync_until_drained(fleet_ledger, a)
    sync_until_drained(fleet_ledger, b)
    # THEN the ledger took the code as checked by B when it was valid, deleted the customer's
    # face data, and A and B confirmed, nothing pending
    deletion = show(fleet_ledger, customer, capsys)["deletion"]
    assert deletion["confirmed_by"] == sorted([a_id, b_id]) and deletion["pending"] == []
    assert replay(frames, a, capsys)["customer_id"] is None
    assert token_file.read_text().encode() not in raw_file_bytes(b)  # the token left B's files
