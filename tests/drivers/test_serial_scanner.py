"""The serial scanner driver against real pseudo-terminals (and a TCP socket, as with ser2net)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from base.backoff import Backoff
from drivers.hil.pty import PtyLine
from drivers.scanner import ScannerUnavailable, open_scanner
from drivers.scanner.config import SerialScannerConfig
from drivers.scanner.framing import Framing, encode_frame
from drivers.scanner.serial_scanner import SerialScanner
from tests.timing import slow

WECHAT = b"134567890123456789"


def fast() -> Backoff:
    return Backoff(0.02, 0.08, jitter=False)


@pytest.fixture
def line(tmp_path: Path) -> Iterator[PtyLine]:
    pty = PtyLine(tmp_path / "ttyACM-scanner")
    yield pty
    pty.close()


def opened(line: PtyLine, framing: Framing = "cr", max_frame_bytes: int = 64) -> SerialScanner:
    scanner = SerialScanner(
        str(line.path),
        framing=framing,
        quiet_gap_s=0.05,
        max_frame_bytes=max_frame_bytes,
        backoff=fast(),
    )
    scanner.open()
    return scanner


def read_all(scanner: SerialScanner, count: int, timeout_s: float = 2.0) -> list[bytes]:
    codes: list[bytes] = []
    deadline = time.monotonic() + slow(timeout_s)
    while len(codes) < count and time.monotonic() < deadline:
        code = scanner.read_code(0.1)
        if code is not None:
            codes.append(code)
    return codes


@pytest.mark.parametrize("framing", ["cr", "lf", "crlf", "length_prefix"])
def test_codes_arrive_through_a_pty_in_every_framing(line: PtyLine, framing: Framing) -> None:
    # GIVEN a scanner on a pty WHEN the device sends two codes in one burst
    scanner = opened(line, framing)
    line.write(encode_frame(WECHAT, framing) + encode_frame(b"second", framing))
    # THEN both come out in order
    assert read_all(scanner, 2) == [WECHAT, b"second"]
    scanner.close()


def test_a_code_split_across_writes_is_reassembled(line: PtyLine) -> None:
    scanner = opened(line, "crlf")
    for piece in (b"1345", b"678901", b"23456789\r", b"\n"):
        line.write(piece)
        time.sleep(0.01)  # shorter than the quiet gap: still one frame
    assert read_all(scanner, 1) == [WECHAT]
    scanner.close()


def test_garbage_is_logged_and_the_next_code_is_read(
    line: PtyLine, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN line noise, invalid UTF-8 and an over-long frame before a good code
    scanner = opened(line, "cr")
    caplog.set_level(logging.WARNING, logger="drivers.scanner.serial_scanner")
    line.write(b"\x00\x07\xff\r" + b"\xc3\x28\r" + b"L" * 200 + b"\r" + WECHAT + b"\r")
    # WHEN the host reads THEN only the good code comes out
    assert read_all(scanner, 1) == [WECHAT]
    # AND each rejection was logged with its reason
    reasons = [
        getattr(r, "reason", None)
        for r in caplog.records
        if r.getMessage() == "scanner frame rejected"
    ]
    assert reasons[:2] == ["invalid UTF-8 at byte 2", "invalid UTF-8 at byte 0"]
    assert len(reasons) == 3 and "over the 64-byte cap" in str(reasons[2])
    scanner.close()


def test_a_half_frame_followed_by_a_pause_is_dropped(line: PtyLine) -> None:
    # GIVEN a length-prefixed scanner that sends a truncated frame, then goes quiet
    scanner = opened(line, "length_prefix")
    line.write(b"\x00\x20PARTIAL")
    assert scanner.read_code(0.2) is None
    # WHEN a good frame follows THEN it is read (the stale half did not poison it)
    line.write(encode_frame(WECHAT, "length_prefix"))
    assert read_all(scanner, 1) == [WECHAT]
    scanner.close()


def test_no_code_within_the_timeout_returns_none(line: PtyLine) -> None:
    scanner = opened(line)
    assert scanner.read_code(0.1) is None
    scanner.close()


def test_unplug_raises_unavailable_and_replug_reconnects(line: PtyLine) -> None:
    # GIVEN an open scanner WHEN the device vanishes THEN reads raise ScannerUnavailable
    scanner = opened(line)
    line.unplug()
    with pytest.raises(ScannerUnavailable, match="lost"):
        scanner.read_code(0.2)
    assert not scanner.connected
    with pytest.raises(ScannerUnavailable):
        scanner.read_code(0.1)  # still gone: the reopen attempt fails
    # WHEN it comes back THEN a later read reopens the port and codes flow again
    line.replug()
    assert scanner.read_code(0.3) is None
    assert scanner.connected
    line.write(WECHAT + b"\r")
    assert read_all(scanner, 1) == [WECHAT]
    scanner.close()


def test_opening_a_missing_port_names_it(tmp_path: Path) -> None:
    scanner = SerialScanner(str(tmp_path / "ttyACM9"), backoff=fast())
    with pytest.raises(ScannerUnavailable, match="ttyACM9"):
        scanner.open()


def test_reopen_attempts_back_off_exponentially_up_to_the_cap(tmp_path: Path) -> None:
    # GIVEN a port that never appears and a fake clock
    now = [0.0]
    scanner = SerialScanner(
        str(tmp_path / "gone"), backoff=Backoff(1.0, 4.0, jitter=False), clock=lambda: now[0]
    )
    delays = []
    with pytest.raises(ScannerUnavailable):
        scanner.open()
    for _ in range(4):
        delays.append(scanner._next_attempt - now[0])
        now[0] = scanner._next_attempt
        with pytest.raises(ScannerUnavailable):
            scanner.read_code(0.0)
    # THEN the waits double and stop growing at the cap
    assert delays == [1.0, 2.0, 4.0, 4.0]


def test_a_second_host_cannot_open_the_same_port(line: PtyLine) -> None:
    # GIVEN the port held by one scanner driver WHEN another opens it THEN it is refused
    first = opened(line)
    with pytest.raises(ScannerUnavailable, match="ttyACM-scanner"):
        opened(line)
    first.close()


def test_close_is_safe_twice_and_reads_after_close_are_refused(line: PtyLine) -> None:
    scanner = opened(line)
    scanner.close()
    scanner.close()
    with pytest.raises(ScannerUnavailable, match="closed"):
        scanner.read_code(0.05)


def test_open_scanner_builds_the_serial_driver_from_config(line: PtyLine) -> None:
    config = SerialScannerConfig(type="serial", port=str(line.path), framing="lf", timeout_s=0.05)
    scanner = open_scanner(config)
    assert isinstance(scanner, SerialScanner)
    scanner.open()
    line.write(WECHAT + b"\n")
    assert read_all(scanner, 1) == [WECHAT]
    scanner.close()


def test_a_scanner_behind_a_tcp_bridge_works_through_socket_url() -> None:
    # GIVEN a TCP server playing a scanner exported by ser2net (port 0: any free port)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        time.sleep(slow(0.2))  # pyserial's socket:// discards what arrives while it opens
        conn.sendall(WECHAT + b"\r")
        time.sleep(0.3)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    scanner = SerialScanner(f"socket://127.0.0.1:{port}", quiet_gap_s=0.05, backoff=fast())
    scanner.open()
    # WHEN it sends a code and then drops the connection
    assert read_all(scanner, 1) == [WECHAT]
    # THEN the drop is reported as the scanner being unavailable
    with pytest.raises(ScannerUnavailable):
        for _ in range(20):
            scanner.read_code(0.1)
    scanner.close()
    server.close()
    thread.join(slow(1))


class SocatCable:
    """Two linked ptys made by socat: the driver opens `host`, the test writes to `device`.
    Stopping socat removes both links, as unplugging a USB scanner removes its tty."""

    def __init__(self, tmp_path: Path) -> None:
        self.host, self.device = tmp_path / "ttyACM-host", tmp_path / "scanner-side"
        self.process: subprocess.Popen[bytes] | None = None

    def plug(self) -> None:
        self.process = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.host}", f"pty,raw,echo=0,link={self.device}"],
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + slow(5)
        while not (self.host.exists() and self.device.exists()) and time.monotonic() < deadline:
            time.sleep(0.02)

    def send(self, data: bytes) -> None:
        with serial.Serial(str(self.device), timeout=1) as port:
            port.write(data)
            port.flush()

    def unplug(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(slow(5))
            self.process = None


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_a_socat_cable_pulled_and_put_back(tmp_path: Path) -> None:
    # GIVEN a scanner on one end of a socat pty pair
    cable = SocatCable(tmp_path)
    cable.plug()
    try:
        scanner = SerialScanner(str(cable.host), quiet_gap_s=0.05, backoff=fast())
        scanner.open()
        cable.send(WECHAT + b"\r")
        assert read_all(scanner, 1) == [WECHAT]
        # WHEN socat goes away (its links vanish) THEN the scanner is unavailable
        cable.unplug()
        with pytest.raises(ScannerUnavailable):
            for _ in range(30):
                scanner.read_code(0.1)
        # WHEN the cable is back THEN the scanner reconnects by itself and reads again
        cable.plug()
        deadline = time.monotonic() + slow(3)
        while not scanner.connected and time.monotonic() < deadline:
            with contextlib.suppress(ScannerUnavailable):
                scanner.read_code(0.05)
        cable.send(b"281234567890123456\r")
        assert read_all(scanner, 1) == [b"281234567890123456"]
        scanner.close()
    finally:
        cable.unplug()
