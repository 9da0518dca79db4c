"""Config-driven driver construction with lazy imports (no hardware library at import time)."""

from __future__ import annotations

import importlib
from typing import Any

from base.errors import SmilepayError


class DriverUnavailable(SmilepayError):
    """The configured driver cannot be loaded here (library missing, wrong platform)."""


def build_driver(table: dict[str, str], config: Any) -> Any:
    """Import `module:Class` for `config.type` from `table` and call `Class.from_config(config)`."""
    target = table.get(config.type)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverUnavailable(
            f"driver {config.type!r} needs a library that is not installed: {exc}"
        ) from exc
    return getattr(module, class_name).from_config(config)
