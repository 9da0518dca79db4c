"""`systemd/install.sh --ledger` on this machine (staged under a root directory: systemd is not
PID 1 here): it creates the token files and ledger.env (0600), a PostgreSQL role and database,
runs the migrations; the ledger then starts the way the unit's ExecStart runs it, and answers.
Its database is backed up with pg_dump and restored, and the restored copy reconciles the same.
A kiosk's data directory is backed up with SQLite's online backup, restored, and its queue
syncs to the ledger."""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sync.ledger.kiosk import Kiosk, Operator
from tests.timing import slow

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "systemd" / "install.sh"
BACKUP_LEDGER = ROOT / "tools" / "backup-ledger.sh"
BACKUP_KIOSK = ROOT / "tools" / "backup-kiosk.sh"


def can_administer_postgres() -> bool:
    if os.geteuid() != 0 or shutil.which("runuser") is None or shutil.which("pg_dump") is None:
        return False
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    probe = ["runuser", "-u", "postgres", "--", "psql", "-X", "-tAc", "SELECT 1"]
    return subprocess.run(probe, capture_output=True, timeout=slow(30)).returncode == 0


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not can_administer_postgres(),
        reason="needs root and the local PostgreSQL superuser (runuser -u postgres psql)",
    ),
]


def as_postgres(sql: str) -> None:
    command = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    subprocess.run([*command, "-c", sql], check=True, capture_output=True, timeout=slow(60))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_prefix(tmp_path: Path) -> Path:
    """PREFIX/venv/bin/{python,smilepay} running this tree (what a real install puts there)."""
    bin_dir = tmp_path / "prefix" / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, run in (("python", ""), ("smilepay", " -m device.cli")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}"{run} "$@"\n')
        script.chmod(0o755)
    return tmp_path / "prefix"


@dataclass
class Installed:
    root: Path
    prefix: Path
    port: int
    role: str
    output: str

    def etc(self, name: str) -> Path:
        return self.root / "etc" / "smilepay" / name

    def env(self) -> dict[str, str]:
        lines = self.etc("ledger.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    def token(self, kind: str) -> str:
        return self.etc(f"ledger-{kind}.token").read_text().strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("install")
    role = f"smilepay_i18_{uuid.uuid4().hex[:10]}"
    prefix, port = fake_prefix(tmp), free_port()
    command = [str(INSTALL), "--root", str(tmp / "root"), "--prefix", str(prefix), "--ledger"]
    command += ["--no-kiosk", "--ledger-port", str(port)]
    command += ["--db", f"postgresql://{role}@127.0.0.1:5432/{role}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=slow(300))
    try:
        assert result.returncode == 0, result.stderr
        yield Installed(tmp / "root", prefix, port, role, result.stdout + result.stderr)
    finally:
        as_postgres(f'DROP DATABASE IF EXISTS "{role}" WITH (FORCE)')
        as_postgres(f'DROP DATABASE IF EXISTS "{role}_restored" WITH (FORCE)')
        as_postgres(f'DROP ROLE IF EXISTS "{role}"')


def exec_start(installed: Installed) -> tuple[list[str], dict[str, str]]:
    """The unit's ExecStart with ${VARS} from its EnvironmentFile, and that environment (the
    staged /etc/smilepay paths pointing into the root directory)."""
    unit = installed.root / "etc/systemd/system/smilepay-ledger.service"
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    env = installed.env()
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line.removeprefix("ExecStart="))
    line = line.replace("/etc/smilepay/", f"{installed.root}/etc/smilepay/")
    return line.split(), {**os.environ, **env}


@pytest.fixture(scope="module")
def running(installed: Installed) -> Iterator[str]:
    argv, env = exec_start(installed)
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{installed.port}"
    try:
        wait_until_answering(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=slow(30))


def wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + slow(60)
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            if httpx.get(f"{url}/v1/time", timeout=slow(2)).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"the ledger did not answer {url} in time")


def test_install_creates_secret_files_0600_and_a_postgres_database(installed: Installed) -> None:
    # THEN every secret file is 0600, tokens are long, and the URL carries a generated password
    for name in (
        "ledger.env",
        *(f"ledger-{k}.token" for k in ("admin", "metrics")),
        *(f"ledger-{k}.key" for k in ("issuer", "template")),
    ):
        mode = stat.S_IMODE(installed.etc(name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    assert len({installed.token(k) for k in ("admin", "metrics")}) == 2
    assert all(len(installed.token(k)) >= 32 for k in ("admin", "metrics"))
    keys = [installed.etc(f"ledger-{k}.key").read_bytes() for k in ("issuer", "template")]
    assert [len(k) for k in keys] == [32, 32] and keys[0] != keys[1]
    # AND no fleet-wide registration token: kiosks register with single-use codes
    assert not installed.etc("ledger-registration.token").exists()
    db = installed.env()["SMILEPAY_LEDGER_DB"]
    assert re.match(rf"postgresql://{installed.role}:[A-Za-z0-9]{{43}}@127.0.0.1:5432/", db)
    assert "database at the newest schema" in installed.output  # the migrations ran
    unit = (installed.root / "etc/systemd/system/smilepay-ledger.service").read_text()
    assert "--db" not in unit.split("ExecStart=")[1].splitlines()[0]  # no password in argv


def test_the_installed_ledger_starts_as_its_unit_would_and_is_secured(
    installed: Installed, running: str, tmp_path: Path
) -> None:
    from sync.agent.client import LedgerClient
    from sync.agent.device_identity import init_device
    from tests.sync.test_agent_e2e import template_b64

    # WHEN operator and metrics endpoints are called with and without the installed tokens
    admin = {"Authorization": f"Bearer {installed.token('admin')}"}
    metrics = {"Authorization": f"Bearer {installed.token('metrics')}"}
    # THEN only the right tokens open them
    assert (
        httpx.post(f"{running}/v1/customers", json={"name": "x"}, timeout=slow(10)).status_code
        == 401
    )
    assert httpx.get(f"{running}/fleet", timeout=slow(10)).status_code == 401
    assert httpx.get(f"{running}/fleet", headers=admin, timeout=slow(10)).status_code == 200
    assert httpx.get(f"{running}/metrics", headers=metrics, timeout=slow(10)).status_code == 200
    # AND a kiosk cannot register without a code the operator minted
    key = "A" * 43 + "="
    kiosk = {"device_id": "k-1", "public_key": key, "merchant_id": "m-1", "store_id": "s-1"}
    registration = httpx.post(f"{running}/v1/devices", json=kiosk, timeout=slow(10))
    assert registration.status_code == 401, registration.text
    # AND it issues customer tokens (issuer key) and takes enrolments (template key)
    operator = Operator(running, admin_token=installed.token("admin"))
    customer = operator.customer(100)
    operator.close()
    token = httpx.post(
        f"{running}/v1/customers/{customer}/tokens", json={}, headers=admin, timeout=slow(10)
    )
    assert token.status_code == 201, token.text
    kiosk_data = tmp_path / "kiosk"
    identity = init_device(kiosk_data, running, registration_token=code(installed, running))
    with LedgerClient(running, identity.device_id, identity.key) as client:
        answer = client.enroll(
            {
                "customer_id": "cust-installed",
                "name": "Ada",
                "currency": "EUR",
                "template_b64": template_b64(7),
                "consent": {
                    "text_version": "v1",
                    "accepted_at": "2026-01-01T00:00:00Z",
                    "kiosk_id": identity.device_id,
                },
            }
        )
    assert answer["status"] == "accepted"
    view = httpx.get(f"{running}/v1/customers/cust-installed", headers=admin, timeout=slow(10))
    assert view.status_code == 200, view.text
    assert view.json()["enrolment"]["active"] is True


def code(installed: Installed, running: str) -> str:
    """A single-use registration code, minted with the installed operator token."""
    headers = {"Authorization": f"Bearer {installed.token('admin')}"}
    answer = httpx.post(
        f"{running}/v1/registration-codes", json={}, headers=headers, timeout=slow(10)
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["code"])


def test_a_pg_dump_backup_restores_to_a_ledger_that_reconciles_the_same(
    installed: Installed, running: str, tmp_path: Path
) -> None:
    # GIVEN a kiosk's sales booked in the installed ledger
    operator = Operator(running, admin_token=installed.token("admin"))
    customer = operator.customer(5000)
    kiosk = Kiosk(running)
    assert kiosk.register(token=code(installed, running)).status_code == 201
    assert kiosk.post_batch([kiosk.sale(300, customer) for _ in range(4)]).status_code == 200
    # WHEN it is backed up with pg_dump while it runs, and restored into a new database
    dump, env = tmp_path / "ledger.dump", {**os.environ, "SMILEPAY_LEDGER_DB": ""}
    backup = [str(BACKUP_LEDGER), "backup", str(dump), str(installed.etc("ledger.env"))]
    run_tool(backup, env)
    restored = f"{installed.role}_restored"
    as_postgres(f'CREATE DATABASE "{restored}" OWNER "{installed.role}"')
    source = installed.env()["SMILEPAY_LEDGER_DB"]
    target = source.rsplit("/", 1)[0] + f"/{restored}"
    restore = [str(BACKUP_LEDGER), "restore", str(dump), target]
    run_tool(restore)
    # THEN the dump is 0600 and the restored ledger reconciles exactly like the original
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    original, copy = reconcile(source), reconcile(target)
    assert copy == original
    device = next(d for d in copy["devices"] if d["device_id"] == kiosk.device_id)
    assert device["accepted"] == 4 and device["gaps"] == []
    kiosk.close()
    operator.close()


def run_tool(command: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """A command's output; a failure shows what the tool said (pg_restore's error, say)."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=slow(timeout))
    assert result.returncode == 0, f"{shlex.join(command[:3])} failed: {result.stderr}"
    return result.stdout


def reconcile(db_url: str) -> dict:
    command = [sys.executable, "-m", "device.cli", "ledger", "reconcile", "--db", db_url, "--json"]
    return json.loads(run_tool(command).strip().splitlines()[-1])


def test_a_kiosk_data_directory_backup_restores_and_its_sales_sync(
    installed: Installed, running: str, tmp_path: Path
) -> None:
    from sync.agent.agent import SyncAgent
    from sync.agent.client import LedgerClient
    from sync.agent.device_identity import DeviceIdentity, init_device
    from sync.queue.draft import SaleDraft
    from tests.sync.harness import fast_sync_config, open_queue

    # GIVEN a kiosk with three unsynced sales to a funded customer
    operator = Operator(running, admin_token=installed.token("admin"))
    customer = operator.customer(1000)
    operator.close()
    data = tmp_path / "kiosk"
    identity = init_device(data, running, registration_token=code(installed, running))
    queue = open_queue(identity)
    for amount in (100, 200, 300):
        draft = SaleDraft(amount_minor=amount, currency="EUR", method="face", customer_id=customer)
        queue.enqueue_sale(draft)
    # WHEN its data directory is backed up (kiosk still open), the original lost, and restored
    backup, restored = tmp_path / "backup", tmp_path / "restored"
    run_tool([str(BACKUP_KIOSK), "backup", str(data), str(backup)], timeout=60)
    queue.close()
    shutil.rmtree(data)
    run_tool([str(BACKUP_KIOSK), "restore", str(backup), str(restored)])
    # THEN the restored kiosk holds its identity and the three sales, and they sync and reconcile
    again = DeviceIdentity.load(restored)
    assert again.device_id == identity.device_id
    restored_queue = open_queue(again)
    assert restored_queue.status().backlog_count == 3
    config = fast_sync_config()
    client = LedgerClient(running, again.device_id, again.key, config)
    assert SyncAgent(restored_queue, client, again.key, config).run("until-drained") == 0
    report = reconcile(installed.env()["SMILEPAY_LEDGER_DB"])
    device = next(d for d in report["devices"] if d["device_id"] == identity.device_id)
    assert device["accepted"] == 3 and device["gaps"] == [] and device["chain_breaks"] == []
