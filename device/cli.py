"""The `smilepay` command line. Each capability registers its own commands from a small module
that imports nothing heavy; handlers import what they need when they run."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from base.errors import NotBuiltYet, SmilepayError

# Each module has `register(commands, benches)`; keep them import-cheap (argparse only).
COMMAND_MODULES = (
    "device.commands",
    "models.cli",
    "device.codes.cli",
    "sync.queue.cli",
    "sync.ledger.cli",
    "sync.agent.cli",
    "device.screen.cli",
    "drivers.hil.cli",
)

Handler = Callable[[argparse.Namespace], int]


def not_built(what: str) -> Handler:
    """A handler for a command whose capability is not built yet: says so and fails."""

    def handler(args: argparse.Namespace) -> int:
        raise NotBuiltYet(f"`{what}` is not built yet")

    return handler


# Which extra brings each third-party module a handler may import. The ledger's modules are in
# both `ledger` and `kiosk` (the kiosk queues with SQLAlchemy and runs the demo's ledger).
KIOSK_ONLY_MODULES = frozenset(
    {
        "numpy",
        "cv2",
        "PIL",
        "ai_edge_litert",
        "tflite_runtime",
        "flatbuffers",
        "tflite",
        "dlib",
        "face_recognition_models",
        "faiss",
        "serial",
        "escpos",
        "gpiozero",
        "pyzbar",
        "zxingcpp",
    }
)
SHARED_MODULES = frozenset(
    {"sqlalchemy", "alembic", "starlette", "uvicorn", "httpx", "psycopg", "qrcode"}
)


def missing_extra_hint(exc: ModuleNotFoundError, command: str) -> str | None:
    """What to install when a command needs a module this install left out, else None (a
    genuinely missing module is a bug and keeps its traceback)."""
    module = (exc.name or "").split(".")[0]
    if module in KIOSK_ONLY_MODULES:
        extra = "kiosk"
    elif module in SHARED_MODULES:
        extra = "ledger" if command == "ledger" else "kiosk"
    else:
        return None
    return (
        f"`smilepay {command}` needs the {extra} extra, which this install does not have "
        f"(no module {module!r}): pip install 'smilepay[{extra}]'"
    )


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every capability's commands and benchmarks."""
    parser = argparse.ArgumentParser(prog="smilepay", description="Smile-to-pay kiosk")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench_parser = commands.add_parser(
        "bench", help="run a benchmark; with --json the last line printed is one JSON object"
    )
    benches = bench_parser.add_subparsers(dest="bench", required=True, metavar="NAME")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands, benches)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `smilepay` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except SmilepayError as exc:
        print(f"smilepay: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        hint = missing_extra_hint(exc, args.command)
        if hint is None:
            raise
        print(f"smilepay: error: {hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
