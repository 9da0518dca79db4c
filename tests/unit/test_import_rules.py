"""The layers point one way: every import in the source tree (module level or inside a function)
is read and checked against the rules the README's code map states."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("base", "device", "drivers", "models", "sync")
# What a kiosk-side layer means here: the app, the camera/face/code stack and the drivers.
KIOSK_SIDE = ("device", "drivers", "models")
# The HIL harness drives the assembled app: it sits on top, like the demo. So do the command
# registration modules (`*.cli`): `smilepay enroll` and `smilepay sync run` read the kiosk config.
ON_TOP = ("drivers.hil",)


def _on_top(module: str) -> bool:
    return _within(module, ON_TOP) or module.rsplit(".", 1)[-1] == "cli"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            names: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module)
                    names.update(f"{node.module}.{alias.name}" for alias in node.names)
            found[_module_name(path)] = {n for n in names if n.split(".")[0] in PACKAGES}
    return found


IMPORTS = _imports()


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if _within(module, importers) and not _on_top(module)
        for name in names
        if _within(name, forbidden)
    )


def test_the_source_tree_was_read() -> None:
    assert "sync.ledger.app" in IMPORTS and "device.checkout" in IMPORTS


def test_the_base_imports_nothing_else_of_smilepay() -> None:
    assert _violations(("base",), ("device", "drivers", "models", "sync")) == []


@pytest.mark.parametrize("layer", ["models", "drivers"])
def test_models_and_drivers_import_nothing_of_the_app_or_sync(layer: str) -> None:
    assert _violations((layer,), ("device", "sync")) == []


def test_the_ledger_imports_nothing_of_the_kiosk_side() -> None:
    assert _violations(("sync.ledger",), (*KIOSK_SIDE, "sync.queue", "sync.agent")) == []


def test_the_queue_and_agent_import_nothing_of_the_app_or_the_ledger() -> None:
    assert _violations(("sync.queue", "sync.agent"), ("device", "drivers", "sync.ledger")) == []


def test_models_and_drivers_do_not_import_each_other() -> None:
    assert _violations(("models",), ("drivers",)) == []
    assert _violations(("drivers",), ("models",)) == []


def test_the_pure_checkout_imports_no_driver_module() -> None:
    assert _violations(("device.checkout",), ("drivers", "models", "sync")) == []
