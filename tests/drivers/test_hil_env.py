"""The kiosk env file and the pytest plugin that reads it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from base.errors import ConfigError
from drivers.hil.env import KioskEnv, load_kiosk_env
from drivers.hil.pty import PtyLine
from tests.timing import slow

ROOT = Path(__file__).resolve().parents[2]
# Only this plugin in the inner runs: autoloading every installed plugin costs seconds each.
INNER = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "-p",
    "drivers.hil.pytest_plugin",
    "-p",
    "no:cacheprovider",
]


def test_without_an_env_file_every_role_is_simulated() -> None:
    env = load_kiosk_env(None)
    assert [env.real(role) for role in ("camera", "scanner", "printer", "indicator")] == [None] * 4
    assert env.describe() == "all roles simulated"


def test_an_env_file_names_real_devices_and_simulators_do_not_count(tmp_path: Path) -> None:
    path = tmp_path / "env.toml"
    path.write_text(
        '[scanner]\ntype = "serial"\nport = "/dev/ttyACM0"\nframing = "crlf"\n'
        '[printer]\ntype = "simulated"\n[indicator]\ntype = "gpio"\nrelay_pin = 23\n'
    )
    env = load_kiosk_env(path)
    assert env.real("scanner").port == "/dev/ttyACM0"
    assert env.real("printer") is None
    assert env.real("indicator").relay_pin == 23
    assert env.describe() == "scanner=serial, indicator=gpio"


def test_a_misspelled_key_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "env.toml"
    path.write_text('[scanner]\ntype = "serial"\nport = "/dev/ttyACM0"\nbaudrate = 115200\n')
    with pytest.raises(ConfigError, match=r"scanner\.serial\.baudrate: unknown key"):
        load_kiosk_env(path)


def test_a_missing_env_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such kiosk env file"):
        load_kiosk_env(tmp_path / "nope.toml")


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown hardware role 'gate'"):
        KioskEnv().real("gate")


def test_the_plugin_runs_hw_tests_on_the_env_device_and_skips_the_rest(tmp_path: Path) -> None:
    # GIVEN an env whose scanner is a serial port (a real pty here) and no other real device
    line = PtyLine(tmp_path / "ttyACM0")
    env = tmp_path / "env.toml"
    env.write_text(f'[scanner]\ntype = "serial"\nport = "{line.path}"\ntimeout_s = 0.05\n')
    (tmp_path / "test_rig.py").write_text(
        textwrap.dedent("""
        import pytest
        from drivers.scanner.serial_scanner import SerialScanner

        @pytest.mark.hw("scanner")
        def test_scanner(scanner_driver):
            assert isinstance(scanner_driver, SerialScanner)
            scanner_driver.open()
            assert scanner_driver.read_code(0.05) is None

        @pytest.mark.hw("printer")
        def test_printer(printer_driver):
            raise AssertionError("must be skipped")

        def test_simulated_printer_fixture(printer_driver):
            assert type(printer_driver).__name__ == "SimulatedPrinter"
    """)
    )
    # WHEN pytest runs with --kiosk-env
    result = subprocess.run(
        [*PYTEST, "-rs", "--kiosk-env", str(env), "test_rig.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=slow(120), env=INNER,
    )  # fmt: skip
    line.close()
    # THEN the scanner test ran on the serial driver and the printer test was skipped with why
    assert "2 passed, 1 skipped" in result.stdout, result.stdout + result.stderr
    assert "no real printer in the kiosk env" in result.stdout
    assert "kiosk env: scanner=serial" in result.stdout  # the report header


def test_a_bad_env_file_stops_the_run_with_a_usage_error(tmp_path: Path) -> None:
    env = tmp_path / "env.toml"
    env.write_text('[printer]\ntype = "escpos_parallel"\n')
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    result = subprocess.run(
        [*PYTEST, "-q", "--kiosk-env", str(env)],
        cwd=tmp_path, capture_output=True, text=True, timeout=slow(120), env=INNER,
    )  # fmt: skip
    assert result.returncode == 4
    assert "--kiosk-env" in result.stderr and "printer" in result.stderr
