"""Face commands: `enroll`, `face replay`, `models provision`, and the face and match benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.cli import not_built


def register(commands: Any, benches: Any) -> None:
    """Add the face commands and benchmarks."""
    enroll = commands.add_parser("enroll", help="enroll a customer from consented face images")
    enroll.add_argument("--data-dir", type=Path, required=True)
    enroll.add_argument("--name", required=True)
    enroll.add_argument("--consent", nargs="+", type=Path, required=True, metavar="IMAGE")
    enroll.set_defaults(handler=not_built("enroll"))

    face = commands.add_parser("face", help="face pipeline tools")
    face_sub = face.add_subparsers(dest="face_command", required=True)
    replay = face_sub.add_parser("replay", help="run the smile-to-pay decision on recorded frames")
    replay.add_argument("frames_dir", type=Path)
    replay.add_argument("--data-dir", type=Path, required=True)
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(handler=not_built("face replay"))

    models = commands.add_parser("models", help="provision and verify model files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    provision = models_sub.add_parser("provision", help="fetch, convert and verify model files")
    provision.add_argument("--model-dir", type=Path)
    provision.set_defaults(handler=_provision_models)

    bench_face = benches.add_parser("face", help="accuracy and speed on labelled face photos")
    bench_face.add_argument("--dataset", type=Path, help="CSV manifest: path,identity,smiling")
    bench_face.add_argument("--json", action="store_true")
    bench_face.set_defaults(handler=not_built("bench face"))

    bench_match = benches.add_parser("match", help="1:N gallery search at 10k, 100k, 1M")
    bench_match.add_argument("--json", action="store_true")
    bench_match.set_defaults(handler=not_built("bench match"))


def _provision_models(args: Any) -> int:
    from models.provision import run_provision_command  # heavy imports only when run

    return run_provision_command(args.model_dir)
