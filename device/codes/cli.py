"""Code commands: `qr decode`, `qr emv`, and the QR benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.cli import not_built


def register(commands: Any, benches: Any) -> None:
    """Add the QR commands and benchmark."""
    qr = commands.add_parser("qr", help="QR decoding and payment payloads")
    qr_sub = qr.add_subparsers(dest="qr_command", required=True)
    decode = qr_sub.add_parser("decode", help="decode QR codes in images")
    decode.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    decode.add_argument("--json", action="store_true")
    decode.set_defaults(handler=not_built("qr decode"))
    emv = qr_sub.add_parser("emv", help="parse an EMVCo merchant-presented payload")
    emv.add_argument("payload")
    emv.add_argument("--json", action="store_true")
    emv.set_defaults(handler=not_built("qr emv"))

    bench = benches.add_parser("qr", help="QR decode rate and speed, per decoder and chained")
    bench.add_argument("--dataset", type=Path, action="append", help="ZXing black-box layout dir")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=not_built("bench qr"))
