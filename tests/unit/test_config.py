"""Configuration: TOML validated by pydantic, unknown keys are errors naming their path."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.errors import ConfigError
from device.config import load_config, required_hardware


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_defaults_that_name_no_hardware() -> None:
    # Issue 18: hardware roles have no simulator defaults; `smilepay kiosk` refuses them.
    config = load_config(None)
    assert (config.camera, config.scanner, config.printer, config.indicator) == (None,) * 4
    with pytest.raises(ConfigError, match="no camera configured"):
        required_hardware(config)
    assert config.screen.port == 8080


def test_each_role_picks_its_driver_by_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[camera]
type = "replay"
path = "/srv/frames"
fps = 10
[scanner]
type = "serial"
port = "/dev/ttyACM0"
framing = "length_prefix"
[printer]
type = "escpos_network"
host = "10.0.0.9"
""",
    )
    config = load_config(path)
    assert config.camera is not None and config.scanner is not None and config.printer is not None
    assert config.camera.type == "replay" and config.camera.fps == 10
    assert config.scanner.type == "serial" and config.scanner.framing == "length_prefix"
    assert config.printer.type == "escpos_network" and config.printer.port == 9100


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[camra]\ntype = 'synthetic'\n", "camra: unknown key"),
        ("[camera]\ntype = 'replay'\npath = '/x'\nfsp = 3\n", "camera.replay.fsp: unknown key"),
        ("[camera]\ntype = 'webcam'\n", "camera"),
        ("[limits]\nper_sale_max = 'lots'\n", "limits.per_sale_max"),
        ("[device]\ncurrency = 'euro'\n", "device.currency"),
        ("[scanner]\ntype = 'serial'\n", "scanner.serial.port: Field required"),
    ],
)
def test_bad_config_names_the_key_path(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert named in str(error.value)


def test_a_secret_value_cannot_be_put_in_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"secrets\.device_key: unknown key"):
        load_config(write(tmp_path, "[secrets]\ndevice_key = 'abc'\n"))


def test_broken_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[camera\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_relative_secret_paths_resolve_inside_the_data_dir(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"[device]\ndata_dir = '{tmp_path}'\n"))
    assert config.secret_path(config.secrets.device_key_file).parent.parent == tmp_path


def test_face_embedding_weights_are_chosen_by_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[face]\nembedding_weights = 'int8'\n"))
    assert config.face.embedding_weights == "int8"
    with pytest.raises(ConfigError, match=r"face\.embedding_weights"):
        load_config(write(tmp_path, "[face]\nembedding_weights = 'int4'\n"))


def test_the_receipt_link_comes_from_the_public_base_url_not_the_ledger_url(
    tmp_path: Path,
) -> None:
    from device.receipts import receipt_link

    # GIVEN a kiosk syncing to a private ledger address, with and without a public receipt URL
    private = "[sync]\nledger_url = 'http://10.0.0.5:8700'\n"
    public = load_config(
        write(tmp_path, private + "[device]\nreceipt_base_url = 'https://pay.example.com/'\n")
    )
    unset = load_config(write(tmp_path, private))
    # THEN the link is on the public address, and absent rather than private when unset
    assert receipt_link("S-1", public) == "https://pay.example.com/r/S-1"
    assert receipt_link("S-1", unset) == ""
    with pytest.raises(ConfigError, match="receipt_base_url"):
        load_config(write(tmp_path, "[device]\nreceipt_base_url = 'pay.example.com'\n"))
