"""Contract rigs per role: simulator, real driver on stand-in hardware, and the env's device."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.hil.pytest_plugin import Operator
from tests.contract import rigs

ENV = "env-device"


@pytest.fixture(
    params=[
        "simulated",
        "pty-serial-cr",
        "pty-serial-crlf",
        "pty-serial-length_prefix",
        pytest.param(ENV, marks=pytest.mark.hw("scanner")),
    ]
)
def scanner_rig(
    request: pytest.FixtureRequest, tmp_path: Path, operator: Operator
) -> Iterator[Any]:
    """A scanner driver and the device side of it."""
    if request.param == "simulated":
        rig: Any = rigs.SimScannerRig()
    elif request.param == ENV:
        rig = rigs.EnvScannerRig(request.getfixturevalue("scanner_driver"), operator)
    else:
        rig = rigs.PtyScannerRig(tmp_path, request.param.removeprefix("pty-serial-"))
    yield rig
    rig.close()


@pytest.fixture(
    params=["simulated", "pty-serial-escpos", pytest.param(ENV, marks=pytest.mark.hw("printer"))]
)
def printer_rig(
    request: pytest.FixtureRequest, tmp_path: Path, operator: Operator
) -> Iterator[Any]:
    """A printer driver and the device side of it."""
    if request.param == "simulated":
        rig: Any = rigs.SimPrinterRig()
    elif request.param == ENV:
        rig = rigs.EnvPrinterRig(request.getfixturevalue("printer_driver"), operator)
    else:
        rig = rigs.PtyPrinterRig(tmp_path)
    yield rig
    rig.close()


@pytest.fixture(
    params=["simulated", "gpio-mock-pins", pytest.param(ENV, marks=pytest.mark.hw("indicator"))]
)
def indicator_rig(request: pytest.FixtureRequest, operator: Operator) -> Iterator[Any]:
    """An indicator driver and a way to see its light and relay."""
    if request.param == "simulated":
        rig: Any = rigs.SimIndicatorRig()
    elif request.param == ENV:
        rig = rigs.EnvIndicatorRig(request.getfixturevalue("indicator_driver"), operator)
    else:
        rig = rigs.MockPinIndicatorRig()
    yield rig
    rig.close()
