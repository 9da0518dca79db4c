"""dlib's .dat parser: the exact tensors of the face ResNet, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.dlib_convert import check_against_template, template_layer_kinds
from models.dlib_format import DlibFormatError, DlibNetwork, load_dlib_network, parse_dlib_network
from models.embedding import DLIB_MODEL
from models.provision import model_path


@pytest.fixture(scope="module")
def dat_path(model_dir: Path) -> Path:
    return model_path(DLIB_MODEL, model_dir)


@pytest.fixture(scope="module")
def network(dat_path: Path) -> DlibNetwork:
    return load_dlib_network(dat_path)


def test_parser_finds_59_tensors_holding_5614592_floats(network: DlibNetwork) -> None:
    # GIVEN dlib's published face ResNet  WHEN parsed
    tensors = network.parameter_tensors
    # THEN it holds the 59 parameter tensors (29 conv, 29 affine, 1 fc) dlib documents
    assert len(tensors) == 59
    assert sum(tensor.size for tensor in tensors) == 5_614_592
    kinds = [layer.kind for layer in network.layers if layer.params is not None]
    assert (kinds.count("con"), kinds.count("affine"), kinds.count("fc")) == (29, 29, 1)


def test_parser_reads_input_normalisation_and_size(network: DlibNetwork) -> None:
    # GIVEN the parsed network  THEN the input layer is 150x150 RGB with dlib's channel means
    assert network.input_size == (150, 150)
    assert network.input_mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)


def test_parsed_layers_follow_dlibs_resnet_template(network: DlibNetwork) -> None:
    # GIVEN the parsed network  THEN its layer sequence is the published template's, exactly
    assert [layer.kind for layer in network.layers] == template_layer_kinds()
    check_against_template(network)


def test_network_with_a_missing_layer_is_rejected_naming_the_layer(network: DlibNetwork) -> None:
    # GIVEN a network whose fifth layer was dropped
    broken = DlibNetwork(
        network.input_mean_rgb, network.input_size, network.layers[:4] + network.layers[5:]
    )
    # WHEN checked  THEN the error names the first layer that differs
    with pytest.raises(DlibFormatError, match="layer 4 is 'affine'"):
        check_against_template(broken)


def test_truncated_file_is_rejected_with_the_byte_position(dat_path: Path) -> None:
    # GIVEN the first 100 kB of the model  WHEN parsed  THEN it says where the file ended
    with pytest.raises(DlibFormatError, match="file ends early at byte"):
        parse_dlib_network(dat_path.read_bytes()[:100_000])


def test_unknown_layer_type_is_rejected_by_name(dat_path: Path) -> None:
    # GIVEN a file whose first relu layer was renamed (same length, so offsets hold)
    data = dat_path.read_bytes().replace(b"relu_", b"relx_", 1)
    # WHEN parsed  THEN the error names the layer type it does not know
    with pytest.raises(DlibFormatError, match="unknown dlib layer 'relx_'"):
        parse_dlib_network(data)


def test_file_that_is_not_a_dlib_network_is_rejected(tmp_path: Path) -> None:
    # GIVEN a PNG renamed to .dat  WHEN loaded  THEN a DlibFormatError names the file
    path = tmp_path / "model.dat"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(DlibFormatError, match=r"model\.dat"):
        load_dlib_network(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DlibFormatError, match="cannot read dlib model"):
        load_dlib_network(tmp_path / "absent.dat")
