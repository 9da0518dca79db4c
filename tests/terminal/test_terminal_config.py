"""The [terminal] section: terminal mode needs a POS key, TLS needs both files, keys are 0600."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from base.errors import ConfigError
from device.config import parse_config
from device.terminal.auth import PosKeyError, create_pos_key_file, load_pos_key_file


def test_terminal_mode_without_a_pos_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pos_key_files"):
        parse_config({"terminal": {"enabled": True}})


def test_tls_needs_both_the_certificate_and_its_key() -> None:
    with pytest.raises(ConfigError, match="tls_cert_file and tls_key_file"):
        parse_config({"terminal": {"pos_key_files": ["a.key"], "tls_cert_file": "c.pem"}})


def test_unknown_terminal_keys_and_methods_are_refused() -> None:
    with pytest.raises(ConfigError):
        parse_config({"terminal": {"bearer_token": "x"}})
    with pytest.raises(ConfigError):
        parse_config({"terminal": {"methods": ["cash"]}})


def test_the_default_kiosk_is_self_service_with_no_terminal_api() -> None:
    config = parse_config({})
    assert config.terminal.enabled is False and config.terminal.pos_key_files == []


def test_a_pos_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "pos.key"
    key = create_pos_key_file(path, "till-1")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_pos_key_file(path) == key
    with pytest.raises(PosKeyError, match="already exists"):
        create_pos_key_file(path, "till-1")
    path.chmod(0o644)
    with pytest.raises(PosKeyError, match="readable by others"):
        load_pos_key_file(path)
