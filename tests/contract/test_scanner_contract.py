"""The CodeScanner contract, run on the simulator, the serial driver on real ptys (every
framing), and the env's real scanner: the simulator is proven to behave like the hardware."""

from __future__ import annotations

import time
from typing import Any

import pytest

from drivers.scanner.base import ScannerUnavailable
from tests.timing import slow

WECHAT = b"134567890123456789"
ALIPAY = b"281234567890123456"


def next_code(scanner: Any, timeout_s: float = 3.0) -> bytes | None:
    deadline = time.monotonic() + slow(timeout_s)
    while time.monotonic() < deadline:
        code: bytes | None = scanner.read_code(0.1)
        if code is not None:
            return code
    return None


def reconnected(scanner: Any, timeout_s: float = 3.0) -> bool:
    """Retry as the kiosk's scanner loop does: open, then read until no longer unavailable."""
    deadline = time.monotonic() + slow(timeout_s)
    while time.monotonic() < deadline:
        try:
            scanner.open()
            scanner.read_code(0.05)
            return True
        except ScannerUnavailable:
            time.sleep(0.05)
    return False


def test_a_presented_code_is_read_once(scanner_rig: Any) -> None:
    # GIVEN an open scanner WHEN a code is presented THEN it is read once, then nothing
    scanner_rig.driver.open()
    scanner_rig.present(WECHAT)
    assert next_code(scanner_rig.driver) == WECHAT
    assert scanner_rig.driver.read_code(0.1) is None


def test_codes_come_out_in_the_order_presented(scanner_rig: Any) -> None:
    scanner_rig.driver.open()
    scanner_rig.present(WECHAT)
    scanner_rig.present(ALIPAY)
    assert [next_code(scanner_rig.driver), next_code(scanner_rig.driver)] == [WECHAT, ALIPAY]


@pytest.mark.parametrize(
    "bad", [b"\xff\xfe\xfd", b"A\x00B", b"L" * 65], ids=["invalid-utf8", "nul", "over-long"]
)
def test_a_malformed_code_is_skipped_and_the_next_one_read(scanner_rig: Any, bad: bytes) -> None:
    # GIVEN a malformed code followed by a good one WHEN read THEN only the good one comes out
    scanner_rig.driver.open()
    scanner_rig.present(bad)
    time.sleep(0.1)  # a separate scan, as a person would make it
    scanner_rig.present(WECHAT)
    assert next_code(scanner_rig.driver) == WECHAT


def test_no_code_in_time_gives_none(scanner_rig: Any) -> None:
    scanner_rig.driver.open()
    assert scanner_rig.driver.read_code(0.1) is None


def test_unplugging_makes_it_unavailable_and_replugging_brings_it_back(scanner_rig: Any) -> None:
    scanner = scanner_rig.driver
    scanner.open()
    # WHEN the scanner is unplugged THEN reads raise ScannerUnavailable
    scanner_rig.unplug()
    with pytest.raises(ScannerUnavailable):
        for _ in range(30):
            scanner.read_code(0.1)
    # WHEN it is plugged back THEN it can be opened again and codes are read
    scanner_rig.replug()
    assert reconnected(scanner)
    scanner_rig.present(ALIPAY)
    assert next_code(scanner) == ALIPAY


def test_close_is_safe_twice_and_a_closed_scanner_refuses_reads(scanner_rig: Any) -> None:
    scanner_rig.driver.open()
    scanner_rig.driver.close()
    scanner_rig.driver.close()
    with pytest.raises(ScannerUnavailable):
        scanner_rig.driver.read_code(0.05)
