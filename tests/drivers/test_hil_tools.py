"""The cuttable network link, the `scenario` command and the peripherals benchmark."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.cli import main
from drivers.hil.netcut import NetworkLink
from tests.timing import slow


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    thread.join(slow(2))
    server.close()


def talk(link: NetworkLink, message: bytes, timeout_s: float = slow(1.0)) -> bytes:
    port = int(link.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(message)
        try:
            return conn.recv(1024)
        except TimeoutError:
            return b"(no answer)"


def test_the_link_forwards_then_swallows_when_down_then_forwards_again(
    echo_server: tuple[str, int],
) -> None:
    link = NetworkLink(*echo_server)
    try:
        assert talk(link, b"hello") == b"hello"
        # WHEN the link is down THEN a request gets no answer (a black hole, not a refusal)
        link.down()
        assert talk(link, b"anyone?", timeout_s=0.3) == b"(no answer)"
        # WHEN it is back THEN new connections work again
        link.up()
        assert talk(link, b"back") == b"back"
    finally:
        link.close()


def test_the_peripherals_benchmark_reads_every_code_and_ends_with_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(
            [
                "bench",
                "peripherals",
                "--codes",
                "50",
                "--receipts",
                "3",
                "--framing-mb",
                "0.05",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["scanner_pty"]["codes_read"] == result["scanner_pty"]["codes_sent"] == 50
    printer = result["printer"]
    assert printer["qr_alone_bytes_native"] < printer["qr_alone_bytes_as_raster_image"]
    assert set(result["framing"]) == {"cr", "crlf", "length_prefix"}


def test_the_scenario_command_refuses_a_bad_file_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[steps]]\ndo = "wait_for"\nphase = "dancing"\n')
    assert main(["scenario", str(bad)]) == 2
    assert "bad.toml: steps.0.wait_for.phase" in capsys.readouterr().err
