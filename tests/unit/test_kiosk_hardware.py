"""`smilepay kiosk` uses real hardware or refuses: every role must be named in the config, and
`smilepay kiosk --check` shows what each role resolves to and whether the device answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.cli import main
from drivers.hil.pty import PtyLine
from drivers.hil.pty_printer import PtyPrinterDevice

SIMULATORS = """
[camera]
type = "synthetic"
[scanner]
type = "simulated"
[printer]
type = "simulated"
[indicator]
type = "simulated"
"""


def write_config(tmp_path: Path, hardware: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[device]\ndata_dir = "{tmp_path / "data"}"\n{hardware}', encoding="utf-8")
    return path


def check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict]]:
    code = main(["kiosk", "--check", "--json", "--config", str(config)])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return code, {role["role"]: role for role in report["roles"]}


@pytest.fixture
def scanner_line(tmp_path: Path) -> Iterator[PtyLine]:
    line = PtyLine(tmp_path / "ttyACM-scanner")
    yield line
    line.close()


@pytest.fixture
def printer_device(tmp_path: Path) -> Iterator[PtyPrinterDevice]:
    device = PtyPrinterDevice(tmp_path / "ttyUSB-printer")
    yield device
    device.close()


def test_a_config_naming_no_hardware_is_refused_naming_the_camera_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a config with no hardware section at all
    config = write_config(tmp_path, "")
    # WHEN the kiosk is started on it
    code = main(["kiosk", "--config", str(config)])
    # THEN it refuses before opening anything, naming the camera and how to name it
    err = capsys.readouterr().err
    assert code == 2
    assert f"{config}: no camera configured" in err
    assert "missing roles: camera, scanner, printer, indicator" in err
    assert 'type = "picamera2"' in err and "--check" in err
    assert not (tmp_path / "data").exists()


def test_a_config_missing_one_role_is_refused_naming_that_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN simulators named for every role but the printer
    config = write_config(tmp_path, SIMULATORS.replace('[printer]\ntype = "simulated"\n', ""))
    # WHEN the kiosk is started
    code = main(["kiosk", "--config", str(config)])
    # THEN the printer is named as the missing role
    err = capsys.readouterr().err
    assert code == 2 and "no printer configured (missing roles: printer)" in err


def test_check_on_named_simulators_says_simulator_for_each_role_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a test rig's config naming every simulator
    config = write_config(tmp_path, SIMULATORS)
    # WHEN checked
    code, roles = check(config, capsys)
    # THEN every role resolves to its simulator and nothing of the kiosk was started
    assert code == 0
    assert list(roles) == ["camera", "scanner", "printer", "indicator"]
    assert {r["kind"] for r in roles.values()} == {"simulator"}
    assert roles["camera"]["resolves_to"].startswith("synthetic")
    assert not (tmp_path / "data").exists()


def test_check_reports_missing_roles_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a config naming only the camera
    config = write_config(tmp_path, '[camera]\ntype = "synthetic"\n')
    # WHEN checked in text form
    code = main(["kiosk", "--check", "--config", str(config)])
    out = capsys.readouterr().out
    # THEN it exits non-zero and tells how to name each missing role
    assert code == 1
    assert "problems: scanner, printer, indicator" in out
    assert 'add [scanner] type = "serial"' in out


def test_check_opens_a_real_serial_scanner_and_asks_a_real_printer(
    tmp_path: Path,
    scanner_line: PtyLine,
    printer_device: PtyPrinterDevice,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a scanner and an ESC/POS printer on real ptys, and a camera that is not there
    hardware = (
        f'[camera]\ntype = "opencv"\nindex = 63\n'
        f'[scanner]\ntype = "serial"\nport = "{scanner_line.path}"\n'
        f'[printer]\ntype = "escpos_serial"\nport = "{printer_device.path}"\n'
        '[indicator]\ntype = "none"\n'
    )
    # WHEN checked
    code, roles = check(write_config(tmp_path, hardware), capsys)
    # THEN the ports open, the printer answers its status, and the absent camera fails the check
    assert roles["scanner"]["present"] is True and roles["scanner"]["kind"] == "device"
    assert roles["printer"]["present"] is True and "ready" in roles["printer"]["detail"]
    assert roles["camera"]["present"] is False
    assert roles["indicator"]["kind"] == "none" and roles["indicator"]["ok"]
    assert code == 1


def test_check_says_a_silent_printer_and_an_unplugged_scanner_are_not_present(
    tmp_path: Path,
    scanner_line: PtyLine,
    printer_device: PtyPrinterDevice,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the scanner's cable pulled and the printer powered off (its port stays, it is silent)
    scanner_line.unplug()
    printer_device.powered = False
    hardware = (
        SIMULATORS.split("[scanner]")[0]
        + f'[scanner]\ntype = "serial"\nport = "{scanner_line.path}"\n'
        + f'[printer]\ntype = "escpos_serial"\nport = "{printer_device.path}"\n'
        + '[indicator]\ntype = "simulated"\n'
    )
    # WHEN checked
    code, roles = check(write_config(tmp_path, hardware), capsys)
    # THEN both are reported absent, with the reason
    assert code == 1
    assert roles["scanner"]["present"] is False and "ttyACM-scanner" in roles["scanner"]["detail"]
    assert roles["printer"]["present"] is False
    assert "did not answer" in roles["printer"]["detail"]
