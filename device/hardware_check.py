"""`smilepay kiosk --check`: what each hardware role of a config resolves to, and whether the
device is there (the camera delivers a frame, the scanner's port opens, the printer answers a
status query, the light's GPIO pins can be claimed). Nothing of the kiosk is started."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from device.config import HARDWARE_ROLES, HOW_TO_NAME, KioskConfig

SIMULATOR_TYPES = {"synthetic", "simulated", "replay"}
FRAME_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RoleCheck:
    """One role's result. `kind`: device, simulator, none (deliberately absent) or missing
    (not named in the config). `present` is None where there is nothing to probe."""

    role: str
    resolves_to: str
    kind: str
    present: bool | None
    detail: str

    @property
    def ok(self) -> bool:
        """False for a role the config leaves unnamed or whose device did not answer."""
        return self.kind != "missing" and self.present is not False


def describe(section: Any) -> str:
    """A short human description of a role's config section."""
    fields = section.model_dump(exclude={"type"})
    settings = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    return f"{section.type} {settings}".strip()


def check_role(role: str, section: Any, frame_timeout_s: float = FRAME_TIMEOUT_S) -> RoleCheck:
    """Resolve and probe one role's config section."""
    if section is None:
        return RoleCheck(role, "(not configured)", "missing", None, f"add {HOW_TO_NAME[role]}")
    if section.type == "none":
        return RoleCheck(role, "none", "none", None, "configured as absent")
    kind = "simulator" if section.type in SIMULATOR_TYPES else "device"
    if section.type in {"synthetic", "simulated"}:
        return RoleCheck(role, describe(section), kind, True, "in-process simulator, no device")
    started = time.monotonic()
    try:
        detail = PROBES[role](section, frame_timeout_s)
    except Exception as exc:  # any failure to reach the device is the answer being asked for
        return RoleCheck(role, describe(section), kind, False, f"{type(exc).__name__}: {exc}")
    took = time.monotonic() - started
    return RoleCheck(role, describe(section), kind, True, f"{detail} ({took:.2f} s)")


def check_hardware(
    config: KioskConfig, frame_timeout_s: float = FRAME_TIMEOUT_S
) -> list[RoleCheck]:
    """Every role, in order (camera first)."""
    return [check_role(role, getattr(config, role), frame_timeout_s) for role in HARDWARE_ROLES]


# --- probes: each returns what it saw, or raises -------------------------------------------------


def probe_camera(section: Any, timeout_s: float) -> str:
    """Open the camera and wait for one frame."""
    from drivers.camera import open_camera

    camera = open_camera(section)
    camera.start()
    try:
        frame = camera.read(timeout_s)
    finally:
        camera.stop()
    height, width = frame.image.shape[:2]
    return f"delivered a {width}x{height} frame"


def probe_scanner(section: Any, timeout_s: float) -> str:
    """Open the scanner's port (exclusively, as the kiosk does), then release it."""
    from drivers.scanner import open_scanner

    scanner = open_scanner(section)
    assert scanner is not None  # "none" is answered before probing
    scanner.open()
    scanner.close()
    return "port opens"


def probe_printer(section: Any, timeout_s: float) -> str:
    """Ask the printer for its real-time status."""
    from drivers.printer import PrinterStatus, open_printer

    printer = open_printer(section)
    assert printer is not None
    try:
        status = printer.status()
    finally:
        printer.close()
    if status == PrinterStatus.OFFLINE:
        raise ConnectionError("the printer did not answer a status query (off line or absent)")
    return f"answers status: {status.value}"


def probe_indicator(section: Any, timeout_s: float) -> str:
    """Claim the light's (and relay's) GPIO pins, then release them."""
    from drivers.indicator import open_indicator

    indicator = open_indicator(section)
    assert indicator is not None
    indicator.close()
    return "pins claimable"


PROBES: dict[str, Callable[[Any, float], str]] = {
    "camera": probe_camera,
    "scanner": probe_scanner,
    "printer": probe_printer,
    "indicator": probe_indicator,
}


# --- output ---------------------------------------------------------------------------------


def render_text(results: list[RoleCheck]) -> str:
    """One line per role, then a verdict."""
    lines = []
    for result in results:
        state = {True: "present", False: "NOT PRESENT", None: result.kind.upper()}[result.present]
        if result.kind == "simulator":
            state = "SIMULATOR"
        lines.append(f"{result.role:<10} {result.resolves_to:<48} {state}: {result.detail}")
    problems = [r.role for r in results if not r.ok]
    verdict = "ok: every role resolves" if not problems else f"problems: {', '.join(problems)}"
    return "\n".join([*lines, verdict])


def render_json(results: list[RoleCheck]) -> str:
    """One JSON object: the roles and whether all are fine."""
    roles = [{**asdict(r), "ok": r.ok} for r in results]
    return json.dumps({"ok": all(r.ok for r in results), "roles": roles})


def run_check(config: KioskConfig, as_json: bool) -> int:
    """Print the check; 0 when every role is named and every named device answered, else 1."""
    results = check_hardware(config)
    print(render_json(results) if as_json else render_text(results), flush=True)
    return 0 if all(r.ok for r in results) else 1
