"""pytest plugin: `--kiosk-env env.toml` says which real device each role uses.

- `@pytest.mark.hw("scanner")` skips a test, with the reason, when the env has no real scanner.
- Fixtures `camera_driver`, `scanner_driver`, `printer_driver`, `indicator_driver` give the real
  driver the env names, else the role's simulator, and close it afterwards.
- `kiosk_env` is the parsed env; `operator` asks the person at the rig to do a physical act
  (or skips the test when the env says nobody is there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from base.errors import ConfigError
from drivers.hil.env import ROLES, KioskEnv, load_kiosk_env

ENV_KEY = pytest.StashKey[KioskEnv]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register --kiosk-env."""
    parser.addoption(
        "--kiosk-env",
        default=None,
        help="TOML file naming the real device of each role; without it every role is simulated",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the `hw` marker and read the env file once (a bad file stops the run)."""
    config.addinivalue_line("markers", "hw(role): needs a real device for `role` (--kiosk-env)")
    option = config.getoption("--kiosk-env", default=None)
    try:
        config.stash[ENV_KEY] = load_kiosk_env(Path(option) if option else None)
    except ConfigError as exc:
        raise pytest.UsageError(f"--kiosk-env: {exc}") from None


def pytest_report_header(config: pytest.Config) -> str:
    """Say which roles run on real devices."""
    return f"kiosk env: {config.stash[ENV_KEY].describe()}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip `hw(role)` tests whose role has no real device in the env."""
    env = item.config.stash[ENV_KEY]
    for marker in item.iter_markers(name="hw"):
        for role in marker.args:
            if role not in ROLES:
                raise pytest.UsageError(f"{item.nodeid}: hw({role!r}): roles are {ROLES}")
            if env.real(role) is None:
                pytest.skip(f"no real {role} in the kiosk env (--kiosk-env names none)")


@pytest.fixture(scope="session")
def kiosk_env(pytestconfig: pytest.Config) -> KioskEnv:
    """The rig's environment (every role simulated without --kiosk-env)."""
    return pytestconfig.stash[ENV_KEY]


class Operator:
    """The person at the rig, asked on the terminal to do what software cannot."""

    def __init__(self, present: bool, suspend_capture: Callable[[], Any]) -> None:
        self.present = present
        self._suspend_capture = suspend_capture

    def ask(self, instruction: str) -> None:
        """Ask for a physical act and wait for Enter; skip the test if nobody is there."""
        if not self.present:
            pytest.skip(f"needs a person at the rig to {instruction} ([operator] prompt = true)")
        with self._suspend_capture():
            input(f"\n>>> {instruction}, then press Enter: ")


@pytest.fixture
def operator(kiosk_env: KioskEnv, pytestconfig: pytest.Config) -> Operator:
    """The rig operator (absent unless the env says `[operator] prompt = true`)."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    return Operator(kiosk_env.operator.prompt, capture.global_and_fixture_disabled)


def role_config(env: KioskEnv, role: str) -> Any:
    """The env's real config section for `role`, else the role's simulator config."""
    from device.config import SIMULATORS

    return env.real(role) or SIMULATORS[role]


def _driver(env: KioskEnv, role: str) -> Iterator[Any]:
    from drivers.camera import open_camera
    from drivers.indicator import open_indicator
    from drivers.printer import open_printer
    from drivers.scanner import open_scanner

    openers: dict[str, Callable[[Any], Any]] = {
        "camera": open_camera,
        "scanner": open_scanner,
        "printer": open_printer,
        "indicator": open_indicator,
    }
    driver = openers[role](role_config(env, role))
    try:
        yield driver
    finally:
        release: Callable[[], None] = driver.stop if role == "camera" else driver.close
        release()


@pytest.fixture
def camera_driver(kiosk_env: KioskEnv) -> Iterator[Any]:
    """The rig's camera (not started), or the synthetic camera."""
    yield from _driver(kiosk_env, "camera")


@pytest.fixture
def scanner_driver(kiosk_env: KioskEnv) -> Iterator[Any]:
    """The rig's code scanner (not opened), or the simulated scanner."""
    yield from _driver(kiosk_env, "scanner")


@pytest.fixture
def printer_driver(kiosk_env: KioskEnv) -> Iterator[Any]:
    """The rig's receipt printer, or the simulated printer."""
    yield from _driver(kiosk_env, "printer")


@pytest.fixture
def indicator_driver(kiosk_env: KioskEnv) -> Iterator[Any]:
    """The rig's status light and relay, or the simulated indicator."""
    yield from _driver(kiosk_env, "indicator")
