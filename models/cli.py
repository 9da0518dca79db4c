"""Face commands: `enroll`, `face replay`, `models provision`, and the face and match benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def register(commands: Any, benches: Any) -> None:
    """Add the face commands and benchmarks."""
    enroll = commands.add_parser("enroll", help="enroll a customer from consented face images")
    enroll.add_argument("--data-dir", type=Path, required=True)
    enroll.add_argument("--name", required=True)
    enroll.add_argument("--consent", nargs="+", type=Path, required=True, metavar="IMAGE")
    enroll.add_argument("--kiosk-id", help="recorded in the consent record (default: hostname)")
    enroll.add_argument("--consent-text-version", help="version of the consent text shown")
    enroll.add_argument("--step-up", metavar="DIGITS", help="phone last digits or PIN")
    enroll.add_argument(
        "--customer-id", help="link to this existing ledger customer (default: a new customer)"
    )
    enroll.add_argument("--json", action="store_true")
    _common_face_options(enroll)
    enroll.set_defaults(handler=_enroll)

    face = commands.add_parser("face", help="face pipeline tools")
    face_sub = face.add_subparsers(dest="face_command", required=True)
    replay = face_sub.add_parser("replay", help="run the smile-to-pay decision on recorded frames")
    replay.add_argument("frames_dir", type=Path)
    replay.add_argument("--data-dir", type=Path, required=True)
    replay.add_argument("--json", action="store_true")
    replay.add_argument("--amount-minor", type=int, default=1000, help="sale amount shown")
    replay.add_argument("--fps", type=float, default=10.0, help="frame rate of the recording")
    _common_face_options(replay)
    replay.set_defaults(handler=_replay)
    forget = face_sub.add_parser(
        "forget", help="a customer deletes their face data here (face + step-up, or token)"
    )
    forget.add_argument("frames_dir", type=Path, nargs="?", help="frames showing the customer")
    forget.add_argument("--data-dir", type=Path, required=True)
    forget.add_argument("--step-up", metavar="DIGITS", help="the customer's step-up digits")
    forget.add_argument("--token-file", type=Path, help="a file holding the customer's token")
    forget.add_argument("--ledger-url", help="default: the one in DATA_DIR/device.json")
    forget.add_argument("--json", action="store_true")
    _common_face_options(forget)
    forget.set_defaults(handler=_forget)
    demo = face_sub.add_parser("demo-frames", help="write the astronaut neutral→smile frames")
    demo.add_argument("out_dir", type=Path)
    demo.add_argument("--repeated-photo", action="store_true", help="one photo repeated instead")
    _common_face_options(demo)
    demo.set_defaults(handler=_demo_frames)

    models = commands.add_parser("models", help="provision and verify model files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    provision = models_sub.add_parser("provision", help="fetch, convert and verify model files")
    provision.add_argument("--model-dir", type=Path)
    provision.set_defaults(handler=_provision_models)

    bench_face = benches.add_parser("face", help="accuracy and speed on labelled face photos")
    bench_face.add_argument("--dataset", type=Path, help="CSV manifest: path,identity,smiling")
    bench_face.add_argument("--json", action="store_true")
    _common_face_options(bench_face)
    bench_face.set_defaults(handler=_bench_face)

    identify = benches.add_parser("identify", help="open-set 1:N with the kiosk's match policy")
    identify.add_argument("--dataset", type=Path, required=True, help="CSV: path,identity,smiling")
    identify.add_argument(
        "--extra-gallery",
        type=Path,
        action="append",
        metavar="CSV",
        help="more people to enrol (path,identity,smiling), to grow the gallery; repeatable",
    )
    identify.add_argument(
        "--extra-strangers",
        type=Path,
        action="append",
        metavar="CSV",
        help="more stranger probes: every photo of a CSV with a path column (people not in "
        "--dataset); repeatable",
    )
    identify.add_argument("--json", action="store_true")
    _common_face_options(identify)
    identify.set_defaults(handler=_bench_identify)

    liveness = benches.add_parser("liveness", help="printed-photo attacks: APCER and BPCER")
    liveness.add_argument("--dataset", type=Path, required=True, help="CSV: path,subject,attack")
    liveness.add_argument("--json", action="store_true")
    _common_face_options(liveness)
    liveness.set_defaults(handler=_bench_liveness)

    bench_match = benches.add_parser("match", help="1:N gallery search at 10k, 100k, 1M")
    bench_match.add_argument("--json", action="store_true")
    bench_match.add_argument(
        "--sizes", "--size", default="10000,100000,1000000", help="gallery sizes, comma-separated"
    )
    bench_match.add_argument("--queries", type=int, default=200)
    bench_match.add_argument("--threads", type=int, default=1, help="faiss search threads")
    bench_match.add_argument(
        "--templates",
        choices=("dlib", "unit"),
        default="dlib",
        help="dlib: synthetic descriptors shaped like dlib's (default); unit: random unit vectors",
    )
    bench_match.set_defaults(handler=_bench_match)


def _provision_models(args: Any) -> int:
    from models.provision import run_provision_command  # heavy imports only when run

    return run_provision_command(args.model_dir)


def _common_face_options(parser: Any) -> None:
    parser.add_argument("--config", type=Path, help="kiosk TOML config (face and secrets)")
    parser.add_argument("--model-dir", type=Path, help="provisioned models (default from config)")


def _face_settings(args: Any) -> tuple[Any, Path]:
    """(face config, template key file) from the kiosk config named by --config."""
    from device.config import face_settings  # the CLI sits on top: it reads the kiosk config

    return face_settings(args.config, args.model_dir)


def _enroll(args: Any) -> int:
    from models.enroll import enroll_command  # heavy imports only when run
    from sync.queue.enrolment_outbox import record_enrolment

    face, key_file = _face_settings(args)
    return enroll_command(args, face, key_file, outbox=record_enrolment)


def _replay(args: Any) -> int:
    from models.replay import replay_command

    face, key_file = _face_settings(args)
    return replay_command(args, face, key_file)


def _forget(args: Any) -> int:
    from device.face_deletion import forget_command

    face, key_file = _face_settings(args)
    return forget_command(args, face, key_file)


def _demo_frames(args: Any) -> int:
    from models.demo_faces import demo_frames_command

    return demo_frames_command(args, _face_settings(args)[0])


def _bench_face(args: Any) -> int:
    from models.bench import bench_face_command

    return bench_face_command(args, _face_settings(args)[0])


def _bench_identify(args: Any) -> int:
    from models.bench_identify import bench_identify_command

    return bench_identify_command(args, _face_settings(args)[0])


def _bench_liveness(args: Any) -> int:
    from models.bench_liveness import bench_liveness_command

    return bench_liveness_command(args, _face_settings(args)[0])


def _bench_match(args: Any) -> int:
    from models.bench import bench_match_command

    return bench_match_command(args)
