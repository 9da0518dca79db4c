"""`smilepay scenario FILE... [--kiosk-env env.toml]`: the pytest-free way to run scenario scripts
on a rig. Physical acts are asked on the terminal when the env says `[operator] prompt = true`."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from drivers.hil.env import KioskEnv, load_kiosk_env
from drivers.hil.rig import KioskRig, NotOnThisRig, nobody_there, rig_world
from drivers.hil.scenario import StepFailed, load_scenario, run_scenario


def ask_on_terminal(instruction: str) -> None:
    """Ask the person at the rig and wait for Enter."""
    input(f">>> {instruction}, then press Enter: ")


def run_scenario_files(files: list[Path], env_path: Path | None, as_json: bool) -> int:
    """Run each file on a fresh kiosk; exit 0 only if every scenario passed (skips excepted)."""
    from base.logs import configure_logging

    configure_logging("scenario", "WARNING", sys.stderr)
    env = load_kiosk_env(env_path)
    scenarios = [(path, load_scenario(path)) for path in files]  # a bad file stops before start
    print(f"kiosk env: {env.describe()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as root, rig_world(Path(root)) as world:
        outcomes = [_run_one(path, scenario, world, env) for path, scenario in scenarios]
    for outcome in outcomes:
        print(f"{outcome['result']:7} {outcome['name']}  {outcome.get('detail', '')}".rstrip())
    if as_json:
        print(json.dumps({"scenarios": outcomes, "env": env.describe()}))
    return 0 if all(o["result"] != "failed" for o in outcomes) else 1


def _run_one(path: Path, scenario: Any, world: Any, env: KioskEnv) -> dict[str, Any]:
    ask = ask_on_terminal if env.operator.prompt else nobody_there
    outcome: dict[str, Any] = {"file": str(path), "name": scenario.name}
    try:
        with KioskRig(world, env, ask) as rig:
            result = run_scenario(scenario, rig)
    except StepFailed as exc:
        return {**outcome, "result": "failed", "detail": str(exc)}
    except NotOnThisRig as exc:
        return {**outcome, "result": "skipped", "detail": str(exc)}
    return {**outcome, "result": "passed", "seconds": result.seconds}
