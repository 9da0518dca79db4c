"""`smilepay bench peripherals`: what the serial and printer paths cost on this machine.

- framing: the pure framing state machine's throughput per framing (bytes in, codes out).
- scanner over a pty: codes written on the device side, read by SerialScanner; latency from
  write to `read_code` returning, and how many good codes survive garbage between them.
  A pty has no baud rate: the time the bytes would take on a real 9600-baud wire is computed
  separately and labelled as computed.
- printer: receipt size with the native QR command vs a raster QR image, and the time to print
  one receipt over a pty to a printer that answers its status queries.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from base.progress import Progress

CODES = [b"134567890123456789", b"28123456789012345678", b"X" * 120]  # wallet, alipay, token-ish
GARBAGE = b"\x00\xff\xfe garbage \xc3\x28"


def run_bench(codes: int, receipts: int, as_json: bool, framing_bytes: int = 2_000_000) -> int:
    """Run every part and print the results (last line JSON with --json)."""
    import sys

    from base.logs import configure_logging

    configure_logging("bench", "ERROR", sys.stderr)  # the garbage rejections are expected here
    result = {
        "framing": bench_framing(framing_bytes),
        "scanner_pty": bench_scanner(codes),
        "printer": bench_printer(receipts),
    }
    if as_json:
        print(json.dumps(result))
    else:
        for part, figures in result.items():
            print(part, figures)
    return 0


def bench_framing(total_bytes: int = 2_000_000) -> dict[str, Any]:
    """Bytes per second through `feed` for each framing, in 64-byte chunks."""
    from drivers.scanner.framing import encode_frame, feed, new_framer

    figures: dict[str, Any] = {}
    for framing in ("cr", "crlf", "length_prefix"):
        frame = encode_frame(CODES[0], framing)
        stream = frame * (total_bytes // len(frame))
        state, decoded, started = new_framer(framing, 1024), 0, time.perf_counter()
        for start in range(0, len(stream), 64):
            state, outputs = feed(state, stream[start : start + 64])
            decoded += len(outputs)
        seconds = time.perf_counter() - started
        figures[framing] = {
            "mb_per_s": round(len(stream) / seconds / 1e6, 2),
            "codes_per_s": round(decoded / seconds),
        }
    return figures


def bench_scanner(count: int) -> dict[str, Any]:
    """Round trips through a real pty: write a code (with garbage every 10th), read it back."""
    from drivers.hil.pty import PtyLine
    from drivers.scanner.serial_scanner import SerialScanner

    progress = Progress("scanner pty", count)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        line = PtyLine(Path(tmp) / "ttyACM-bench")
        scanner = SerialScanner(str(line.path), framing="cr", quiet_gap_s=0.05)
        scanner.open()
        for index in range(count):
            code = CODES[index % len(CODES)]
            noise = GARBAGE + b"\r" if index % 10 == 0 else b""
            started = time.perf_counter()
            line.write(noise + code + b"\r")
            if scanner.read_code(2.0) == code:
                latencies.append(time.perf_counter() - started)
            progress.advance()
        scanner.close()
        line.close()
    progress.finish()
    return _latency_figures(latencies, count)


def _latency_figures(latencies: list[float], sent: int) -> dict[str, Any]:
    ordered = sorted(latencies) or [float("nan")]
    pick = lambda q: round(ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000, 3)  # noqa: E731
    wire_bits = (len(CODES[0]) + 1) * 10  # 8N1: start + 8 data + stop bits per byte
    return {
        "codes_sent": sent,
        "codes_read": len(latencies),
        "latency_ms_p50": pick(0.50),
        "latency_ms_p95": pick(0.95),
        "latency_ms_p99": pick(0.99),
        "latency_ms_mean": round(statistics.fmean(ordered) * 1000, 3),
        "computed_wire_ms_18_byte_code_at_9600_baud": round(wire_bits / 9600 * 1000, 2),
    }


def bench_printer(count: int) -> dict[str, Any]:
    """Receipt bytes (native QR vs image QR) and print time over a pty with status queries."""
    from escpos.printer import Dummy

    from drivers.hil.pty_printer import PtyPrinterDevice
    from drivers.printer.config import SerialPrinterConfig
    from drivers.printer.escpos_printer import EscposPrinter
    from drivers.printer.receipt_layout import write_receipt

    receipt = _bench_receipt()
    native = Dummy()
    write_receipt(native, receipt)
    native_qr, image = Dummy(), Dummy()
    native_qr.qr(receipt.receipt_url, size=6, native=True)
    with contextlib.redirect_stdout(io.StringIO()):  # escpos prints a profile notice here
        image.qr(receipt.receipt_url, size=6, native=False)
    progress, times = Progress("printer pty", count), []
    with tempfile.TemporaryDirectory() as tmp:
        device = PtyPrinterDevice(Path(tmp) / "ttyUSB-bench")
        printer = EscposPrinter.from_config(
            SerialPrinterConfig(type="escpos_serial", port=str(device.path))
        )
        for _ in range(count):
            started = time.perf_counter()
            printer.print_receipt(receipt)
            times.append(time.perf_counter() - started)
            progress.advance()
        printer.close()
        device.close()
    progress.finish()
    return {
        "receipt_bytes_native_qr": len(native.output),
        "qr_alone_bytes_native": len(native_qr.output),
        "qr_alone_bytes_as_raster_image": len(image.output),
        "print_ms_p50_over_pty_with_status_queries": round(statistics.median(times) * 1000, 2),
        "computed_wire_ms_receipt_at_19200_baud": round(len(native.output) * 10 / 19200 * 1000),
        "receipts": count,
    }


def _bench_receipt() -> Any:
    from drivers.printer.base import Receipt, ReceiptLine

    return Receipt(
        sale_id="0b6c2f7e-5a4d-4c1b-9a57-2d0e8f3b1c42",
        merchant_name="smilepay demo kiosk",
        currency="EUR",
        total_minor=1250,
        time_text="2026-11-22 00:00",
        method="face",
        offline=True,
        lines=[ReceiptLine("Sandwich", 1, 950), ReceiptLine("Sparkling water", 1, 300)],
        receipt_url="https://ledger.example/r/0b6c2f7e-5a4d-4c1b-9a57-2d0e8f3b1c42",
    )
