"""The systemd units: hardened (exposure <= 2.0), clean under `systemd-analyze verify`, and wired
for notify + watchdog + restart; the install script stages them with the right paths."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from device.config import load_config
from tests.conftest import ROOT
from tests.timing import slow

UNITS_DIR = ROOT / "systemd"
UNITS = sorted(p.name for p in UNITS_DIR.glob("*.service"))
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is absent (Debian package: systemd)"
)
# Executables that exist only on the Pi; verify checks that ExecStart= is executable, so the
# copies under test point at ones that exist here (every other check still applies).
PI_ONLY_EXECUTABLES = {
    "/opt/smilepay/venv/bin/smilepay": str(Path(sys.executable).parent / "smilepay"),
    "/usr/bin/cage": "/usr/bin/env",
}


def directives(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, repeated keys kept in order."""
    found: dict[str, list[str]] = {}
    for line in (UNITS_DIR / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def runnable_here(unit_path: Path, target: Path) -> Path:
    text = unit_path.read_text()
    for pi_path, here in PI_ONLY_EXECUTABLES.items():
        text = text.replace(pi_path, here)
    copy = target / unit_path.name
    copy.write_text(text)
    return copy


def verify(unit_file: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", str(unit_file)], capture_output=True, text=True, timeout=slow(60)
    )


def test_there_are_units_for_the_kiosk_the_agent_the_ledger_and_the_browser() -> None:
    assert UNITS == [
        "smilepay-kiosk.service",
        "smilepay-ledger.service",
        "smilepay-screen.service",
        "smilepay-sync.service",
    ]


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_is_exposed_no_more_than_2_0(unit: str) -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(UNITS_DIR / unit)],
        capture_output=True,
        text=True,
        timeout=slow(60),
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, f"no exposure score in: {result.stdout[-500:]} {result.stderr}"
    assert float(match.group(1)) <= 2.0, result.stdout


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_verifies_without_a_single_warning(unit: str, tmp_path: Path) -> None:
    result = verify(runnable_here(UNITS_DIR / unit, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


@needs_analyze
def test_the_verify_check_does_catch_a_misspelled_key(tmp_path: Path) -> None:
    # verify exits 0 on a misspelled key; only its output tells, so the test reads the output.
    unit = runnable_here(UNITS_DIR / "smilepay-kiosk.service", tmp_path)
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    result = verify(unit)
    assert "Unknown key 'NoNewPrivilege'" in result.stdout + result.stderr


@pytest.mark.parametrize("unit", ["smilepay-kiosk.service", "smilepay-sync.service"])
def test_kiosk_and_agent_notify_readiness_and_are_restarted_by_the_watchdog(unit: str) -> None:
    found = directives(unit)
    assert found["Type"] == ["notify"]
    assert int(found["WatchdogSec"][0]) > 0
    assert found["Restart"] == ["on-failure"]  # includes a watchdog timeout
    assert int(found["StartLimitBurst"][0]) > 0 and int(found["StartLimitIntervalSec"][0]) > 0


@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_runs_as_its_own_user_and_writes_only_its_data_directory(unit: str) -> None:
    found = directives(unit)
    assert found["User"][0].startswith("smilepay")
    assert found["ProtectSystem"] == ["strict"]
    assert found["NoNewPrivileges"] == ["yes"] and found["PrivateTmp"] == ["yes"]
    writable = " ".join(found["ReadWritePaths"]).split()
    assert all(path.startswith(("/var/lib/smilepay", "/run/smilepay")) for path in writable)


def test_only_the_kiosk_may_open_cameras_serial_ports_and_gpio() -> None:
    kiosk = directives("smilepay-kiosk.service")
    assert kiosk["DevicePolicy"] == ["closed"]
    allowed = {rule.split()[0] for rule in kiosk["DeviceAllow"]}
    assert {"char-video4linux", "char-ttyUSB", "char-ttyACM", "char-gpiochip"} <= allowed
    for unit in ("smilepay-sync.service", "smilepay-ledger.service"):
        assert directives(unit)["PrivateDevices"] == ["yes"]


def test_the_browser_shows_the_kiosk_page_full_screen_and_reaches_nothing_else() -> None:
    screen = directives("smilepay-screen.service")
    command = screen["ExecStart"][0]
    for flag in (
        "--kiosk",
        '--app="$$(cat /run/smilepay-kiosk/screen-url)"',  # the URL carries the screen secret
        "--noerrdialogs",
        "--disable-session-crashed-bubble",
    ):
        assert flag in command
    assert screen["IPAddressAllow"] == ["localhost"] and screen["IPAddressDeny"] == ["any"]
    assert "smilepay-kiosk.service" in screen["After"][0]
    # AND the kiosk keeps that URL where only its group (the browser's user) can read it
    kiosk = directives("smilepay-kiosk.service")
    assert kiosk["RuntimeDirectory"] == ["smilepay-kiosk"]
    assert kiosk["RuntimeDirectoryMode"] == ["0750"]


@needs_analyze
def test_install_script_stages_units_with_the_prefix_and_data_dir(tmp_path: Path) -> None:
    staged = tmp_path / "image"
    result = subprocess.run(
        [
            str(UNITS_DIR / "install.sh"),
            "--root",
            str(staged),
            "--prefix",
            "/srv/smilepay",
            "--data-dir",
            "/data/smilepay",
            "--ledger",
        ],
        capture_output=True,
        text=True,
        timeout=slow(60),
    )
    assert result.returncode == 0, result.stderr
    installed = staged / "etc" / "systemd" / "system"
    kiosk = (installed / "smilepay-kiosk.service").read_text()
    assert "ExecStart=/srv/smilepay/venv/bin/smilepay kiosk --config" in kiosk
    assert "ReadWritePaths=/data/smilepay\n" in kiosk
    assert "StateDirectory=smilepay\n" not in kiosk  # the partition is used as it is
    config = load_config(staged / "etc/smilepay/kiosk.toml")  # what the kiosk will read
    assert config.device.data_dir == Path("/data/smilepay")
    assert config.face.model_dir == Path("/srv/smilepay/models")
    assert sorted(p.name for p in installed.iterdir()) == UNITS


def test_install_script_rejects_an_unknown_option() -> None:
    result = subprocess.run(
        [str(UNITS_DIR / "install.sh"), "--frobnicate"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unknown option: --frobnicate" in result.stderr


def test_a_staged_kiosk_config_names_no_hardware_so_the_kiosk_refuses_until_it_does(
    tmp_path: Path,
) -> None:
    # GIVEN a kiosk staged into an image (no hardware can be probed there)
    staged = tmp_path / "image"
    result = subprocess.run(
        [str(UNITS_DIR / "install.sh"), "--root", str(staged)],
        capture_output=True,
        text=True,
        timeout=slow(60),
    )
    assert result.returncode == 0, result.stderr
    # THEN the config carries commented templates for each role and says so
    text = (staged / "etc/smilepay/kiosk.toml").read_text()
    assert '# [camera]\n# type = "picamera2"' in text
    assert "name every role in kiosk.toml" in result.stdout + result.stderr
    # AND the kiosk refuses it, naming the camera first
    from base.errors import ConfigError
    from device.config import required_hardware

    with pytest.raises(ConfigError, match="no camera configured"):
        required_hardware(load_config(staged / "etc/smilepay/kiosk.toml"))
