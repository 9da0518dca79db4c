"""Fleet fixtures: a real ledger (uvicorn on a socket, SQLite) with a template key file outside
its database, an admin token and a token issuer key; kiosks set up through the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from base.keys import create_key_file
from device.cli import main as smilepay
from sync.ledger.app import create_app
from sync.ledger.server import RunningServer, serve_in_thread
from tests.face.conftest import demo_frames, engine, face_config, model_dir  # noqa: F401


@dataclass
class FleetLedger:
    """A running ledger and the operator's token file."""

    server: RunningServer
    admin_token_file: Path
    db_path: Path | None  # the SQLite file (None on PostgreSQL)
    db_url: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def operator_args(self) -> list[str]:
        return ["--ledger-url", self.url, "--admin-token-file", str(self.admin_token_file)]


@pytest.fixture()
def fleet_ledger(tmp_path: Path) -> Iterator[FleetLedger]:
    db_path = tmp_path / "ledger" / "ledger.db"
    db_path.parent.mkdir()
    ledger = start_fleet_ledger(tmp_path, f"sqlite:///{db_path}")
    yield ledger
    ledger.server.stop()


def start_fleet_ledger(tmp_path: Path, db_url: str) -> FleetLedger:
    """The ledger on `db_url` with its secrets in tmp_path/ledger-secrets (0600 files)."""
    secrets_dir = tmp_path / "ledger-secrets"
    secrets_dir.mkdir(mode=0o700)
    token_file = secrets_dir / "admin.token"
    token_file.write_text(secrets.token_hex(16))
    token_file.chmod(0o600)
    app = create_app(
        db_url,
        admin_token=token_file.read_text(),
        issuer_key=create_key_file(secrets_dir / "issuer.key"),
        template_key_file=secrets_dir / "template.key",
    )
    db_path = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    return FleetLedger(serve_in_thread(app), token_file, db_path, db_url)


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def init_kiosk(ledger: FleetLedger, data_dir: Path, merchant_id: str) -> str:
    """The operator mints a single-use code for merchant M (`smilepay ledger
    registration-code`), then `smilepay device init --merchant-id M` takes it; returns the
    device id."""
    minted = minted_code(ledger, merchant_id)
    code_file = data_dir.parent / f"{data_dir.name}.registration-code"
    code_file.write_text(minted)
    code_file.chmod(0o600)
    args = ["device", "init", "--data-dir", str(data_dir), "--ledger-url", ledger.url]
    args += ["--merchant-id", merchant_id, "--registration-token-file", str(code_file)]
    assert smilepay(args) == 0
    return json.loads((data_dir / "device.json").read_text())["device_id"]


def minted_code(ledger: FleetLedger, merchant_id: str) -> str:
    """A registration code from the operator's CLI (its JSON line's `code`)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        command = ["ledger", "registration-code", *ledger.operator_args(), "--json"]
        assert smilepay([*command, "--merchant-id", merchant_id]) == 0
    return str(last_json(out.getvalue())["code"])


def sync_until_drained(ledger: FleetLedger, data_dir: Path) -> None:
    args = ["sync", "run", "--data-dir", str(data_dir), "--ledger-url", ledger.url]
    assert smilepay([*args, "--until-drained"]) == 0


def write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(exist_ok=True)
    for number, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{number:03d}.png"), frame)
    return folder


def sealed_templates(data_dir: Path) -> dict[str, bytes]:
    """customer id -> the sealed template bytes as stored in the kiosk's gallery file."""
    with sqlite3.connect(data_dir / "gallery.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "templates" not in tables:  # a kiosk that never held a template
            return {}
        rows = conn.execute("SELECT customer_id, sealed FROM templates").fetchall()
    return {str(customer_id): bytes(sealed) for customer_id, sealed in rows}


def raw_file_bytes(data_dir: Path) -> bytes:
    """Every byte of the gallery database, its WAL and shared-memory files, as on disk."""
    return b"".join(
        path.read_bytes() for path in sorted(data_dir.glob("gallery.db*")) if path.is_file()
    )
