"""Scenario scripts (tests/scenarios/*.toml) run against the assembled kiosk: a real ledger
behind a cuttable link, real face models, and the rig's drivers (simulators without
--kiosk-env, real devices with it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from base.errors import ConfigError
from drivers.hil.env import KioskEnv
from drivers.hil.pty_printer import PtyPrinterDevice
from drivers.hil.pytest_plugin import Operator
from drivers.hil.rig import KioskRig, RigWorld, rig_world
from drivers.hil.scenario import (
    ExpectLight,
    ExpectReceipt,
    ExpectView,
    Scenario,
    StepFailed,
    WaitFor,
    load_scenario,
    run_scenario,
)
from drivers.indicator.config import GpioIndicatorConfig
from drivers.indicator.gpio_indicator import GpioIndicator
from drivers.printer.config import SerialPrinterConfig
from drivers.printer.escpos_printer import EscposPrinter
from tests.timing import slow

HERE = Path(__file__).parent
SCENARIOS = sorted(HERE.glob("*.toml"))


def stretched(scenario: Scenario) -> Scenario:
    """The script with each step's wait (`within_s`) scaled by SMILEPAY_SLOWDOWN."""
    waits = (WaitFor, ExpectLight, ExpectReceipt, ExpectView)
    steps = [
        s.model_copy(update={"within_s": slow(s.within_s)}) if isinstance(s, waits) else s
        for s in scenario.steps
    ]
    return scenario.model_copy(update={"steps": steps})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigWorld]:
    with rig_world(tmp_path_factory.mktemp("rig")) as built:
        yield built


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path, world: RigWorld, kiosk_env: KioskEnv, operator: Operator) -> None:
    # GIVEN a freshly assembled kiosk on the rig WHEN the script runs THEN every step happens
    scenario = stretched(load_scenario(path))
    with KioskRig(world, kiosk_env, operator.ask) as rig:
        result = run_scenario(scenario, rig)
    assert [s.index for s in result.steps] == list(range(1, len(scenario.steps) + 1))


def test_the_same_script_runs_on_the_real_printer_and_gpio_drivers(
    world: RigWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an env naming a serial ESC/POS printer (a printer emulator on a real pty) and GPIO
    # pins (gpiozero's mock pin factory: this machine has no GPIO)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    device = PtyPrinterDevice(tmp_path / "ttyUSB0")
    env = KioskEnv(
        printer=SerialPrinterConfig(type="escpos_serial", port=str(device.path)),
        indicator=GpioIndicatorConfig(type="gpio", relay_pin=23),
    )
    try:
        # WHEN the unchanged wallet-code script runs on them
        with KioskRig(world, env) as rig:
            run_scenario(stretched(load_scenario(HERE / "wallet_code_scan.toml")), rig)
            assert isinstance(rig.drivers.printer, EscposPrinter)
            assert isinstance(rig.drivers.indicator, GpioIndicator)
        # THEN the receipt went down the serial line, with its native QR command
        assert b"1 x Espresso" in device.output and b"\x1d(k" in device.output
    finally:
        device.close()


def test_the_five_stories_of_the_issue_are_scripted() -> None:
    stories = {load_scenario(p).name for p in SCENARIOS}
    assert {
        "smile sale",
        "scanner sends a wallet code",
        "network drops mid-payment",
        "camera unplugged during capture",
        "printer out of paper",
    } <= stories


def test_a_step_that_does_not_happen_is_named_in_the_failure(
    world: RigWorld, kiosk_env: KioskEnv
) -> None:
    # GIVEN an idle kiosk and a script expecting a basket nobody filled
    scenario = Scenario.model_validate(
        {
            "name": "impatient",
            "steps": [{"do": "expect_view", "fields": {"phase": "basket"}, "within_s": 0.2}],
        }
    )
    # WHEN it runs THEN the failure names the scenario, the step and what was seen instead
    with KioskRig(world, kiosk_env) as rig, pytest.raises(StepFailed) as failure:
        run_scenario(scenario, rig)
    message = str(failure.value)
    assert "'impatient' step 1 (do=expect_view" in message
    assert "view has {'phase': 'idle'}" in message


def test_a_misspelled_step_key_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('name = "typo"\n[[steps]]\ndo = "add_item"\nname = "Tea"\nunit_mnior = 250\n')
    with pytest.raises(
        ConfigError, match=r"typo\.toml: .*steps\.0\.add_item\.unit_mnior: unknown key"
    ):
        load_scenario(path)


def test_an_unknown_action_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dance.toml"
    path.write_text('name = "dance"\n[[steps]]\ndo = "dance"\n')
    with pytest.raises(ConfigError, match=r"steps\.0: Input tag 'dance' found using 'do'"):
        load_scenario(path)


def test_the_rigs_kiosk_stretches_its_work_timeouts_like_the_demo(
    world: RigWorld, kiosk_env: KioskEnv
) -> None:
    # GIVEN the rig's world as built under a slowdown of 3 (SMILEPAY_SLOWDOWN) and as built
    # natively
    from device.demo import stretched_timeouts

    slowed = replace(world, slowdown=3.0)
    native = replace(world, slowdown=1.0)
    # WHEN a kiosk is assembled on each
    with KioskRig(slowed, kiosk_env) as slow_rig:
        slowed_timeouts = slow_rig.kiosk.state.timeouts
    with KioskRig(native, kiosk_env) as native_rig:
        native_timeouts = native_rig.kiosk.state.timeouts
    # THEN the slowed kiosk's work timeouts are the demo's stretched ones, the native ones not
    assert slowed_timeouts == stretched_timeouts(3.0)
    assert native_timeouts == stretched_timeouts(1.0)
    assert slowed_timeouts != native_timeouts
