"""pytest plugin: `--kiosk-env env.toml` says which real device each role uses."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register --kiosk-env."""
    parser.addoption(
        "--kiosk-env",
        default=None,
        help="TOML file naming the real device of each role; without it every role is simulated",
    )
