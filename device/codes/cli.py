"""Code commands: `qr decode`, `qr emv`, and the QR benchmark."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(commands: Any, benches: Any) -> None:
    """Add the QR commands and benchmark."""
    qr = commands.add_parser("qr", help="QR decoding and payment payloads")
    qr_sub = qr.add_subparsers(dest="qr_command", required=True)
    decode = qr_sub.add_parser("decode", help="decode QR codes in images")
    decode.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    decode.add_argument("--json", action="store_true")
    decode.add_argument("--budget-ms", type=float, default=60.0, help="frame budget of the chain")
    decode.set_defaults(handler=_decode)
    emv = qr_sub.add_parser("emv", help="parse an EMVCo merchant-presented payload")
    emv.add_argument("payload")
    emv.add_argument("--json", action="store_true")
    emv.set_defaults(handler=_emv)

    bench = benches.add_parser("qr", help="QR decode rate and speed, per decoder and chained")
    bench.add_argument("--dataset", type=Path, action="append", help="ZXing black-box layout dir")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--per-category", type=int, default=50, help="generated frames per kind")
    bench.add_argument("--seed", type=int, default=0, help="seed of the generated frames")
    bench.add_argument("--budget-ms", type=float, default=60.0, help="frame budget of the chain")
    bench.set_defaults(handler=_bench)


def decode_image_file(path: Path, budget_s: float) -> dict[str, object]:
    """One image's result: its codes (text, hex, decoder), or an error naming what was wrong."""
    from base.errors import SmilepayError
    from device.codes.bench import read_image
    from device.codes.qr import decode_frame

    try:
        codes = decode_frame(read_image(path), budget_s)
    except SmilepayError as exc:
        return {"image": str(path), "error": str(exc), "codes": None}
    found = [{"text": c.text, "hex": c.hex, "decoder": c.decoder} for c in codes]
    first = found[0] if found else None
    return {"image": str(path), "payload": first, "codes": found}


def _decode(args: argparse.Namespace) -> int:
    failed = False
    for path in args.images:
        result = decode_image_file(path, args.budget_ms / 1000)
        failed = failed or "error" in result
        if args.json:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        else:
            print(_decode_line(result), flush=True)
    return 1 if failed else 0


def _decode_line(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{result['image']}: error: {result['error']}"
    if not result["codes"]:
        return f"{result['image']}: no code"
    lines = [f"{result['image']}: [{c['decoder']}] {c['text']!r}" for c in result["codes"]]
    return "\n".join(lines)


def _emv(args: argparse.Namespace) -> int:
    from device.codes import emv

    parsed = emv.parse(args.payload)  # EmvRejected -> one-line reason, exit 2
    if args.json:
        print(json.dumps(parsed.to_json(), ensure_ascii=False))
    else:
        print(f"profile: {parsed.profile}")
        for item in parsed.fields:
            print(f"{item.tag}: {item.value}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from device.codes import bench

    budget_s = args.budget_ms / 1000
    if args.dataset:
        result = bench.bench_datasets(args.dataset, budget_s)
    else:
        result = bench.bench_generated(args.per_category, args.seed, budget_s)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0
