"""Shared base for every configuration section, and the one way TOML files are validated: unknown
keys are errors, and every problem names its key path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from base.errors import ConfigError

SectionT = TypeVar("SectionT", bound=BaseModel)


class Section(BaseModel):
    """A configuration section; a misspelled key stops start-up with the key's path."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    return f"{path}: {error['msg']}"


def validate_document(model: type[SectionT], data: dict[str, Any], source: str) -> SectionT:
    """Validate a parsed document as `model`; ConfigError lists every bad key path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(dict(e)) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def load_toml(model: type[SectionT], path: Path, what: str = "config file") -> SectionT:
    """Read the TOML file at `path` and validate it as `model`; every failure is a ConfigError
    that names the file and says what was wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return validate_document(model, data, str(path))
