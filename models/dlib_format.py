"""Read dlib's serialized face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`).

Pure Python + numpy. The file holds, in order: the loss layer, one version number per layer
from the top of the network down, the input layer, then every computational layer's details
from the input upward, each followed by the layer's runtime state (three flags, three empty
tensors). Tag and skip layers write only their version number; the wiring (which layer adds
to which) is not stored and comes from dlib's published ResNet template (see dlib_convert).

Encodings (dlib/serialize.h): an integer is one control byte (low 4 bits = byte count, 0x80 =
negative) then the magnitude little-endian; a float is two integers, mantissa and exponent
(value = m * 2**e); a string is an integer length then bytes; a bool is the character '0'/'1';
a tensor is version 2, four dimensions, then raw little-endian float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from base.errors import SmilepayError


class DlibFormatError(SmilepayError):
    """The .dat file is not the dlib network this reader understands; the message says where."""


@dataclass(frozen=True)
class DlibLayer:
    """One computational layer: its dlib type name, settings and parameters (if any)."""

    kind: str
    settings: dict[str, int] = field(default_factory=dict)
    params: np.ndarray | None = None
    param_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class DlibNetwork:
    """The parsed network: input normalisation and layers from the input upward."""

    input_mean_rgb: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[DlibLayer]

    @property
    def parameter_tensors(self) -> list[np.ndarray]:
        """Every layer's parameter tensor, input upward."""
        return [layer.params for layer in self.layers if layer.params is not None]


class _Reader:
    """Sequential reader over dlib's serialization primitives."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DlibFormatError(f"file ends early at byte {self.pos} (wanted {count} more)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def peek_int(self) -> int:
        start = self.pos
        value = self.read_int()
        self.pos = start
        return value

    def read_int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa = self.read_int()
        exponent = self.read_int()
        return float(mantissa) * 2.0**exponent if mantissa else 0.0

    def read_string(self) -> str:
        length = self.read_int()
        if not 0 <= length <= 256:
            raise DlibFormatError(f"implausible string length {length} at byte {self.pos}")
        return self._take(length).decode("ascii", errors="replace")

    def read_bool(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"expected a bool ('0'/'1') at byte {self.pos - 1}, got {char!r}")
        return char == b"1"

    def read_tensor(self) -> np.ndarray:
        version = self.read_int()
        if version != 2:
            raise DlibFormatError(f"tensor version {version} at byte {self.pos}, expected 2")
        shape = tuple(self.read_int() for _ in range(4))
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def read_alias_tensor(self) -> tuple[int, ...]:
        version = self.read_int()
        if version != 1:
            raise DlibFormatError(f"alias tensor version {version} at byte {self.pos}")
        return tuple(self.read_int() for _ in range(4))

    def expect(self, text: str) -> None:
        found = self.read_string()
        if found != text:
            raise DlibFormatError(f"expected {text!r} at byte {self.pos}, found {found!r}")


def _read_con(reader: _Reader) -> DlibLayer:
    params = reader.read_tensor()
    names = ("filters", "rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x")
    settings = {name: reader.read_int() for name in names}
    filter_shape = reader.read_alias_tensor()
    reader.read_alias_tensor()  # biases: (1, filters, 1, 1)
    for _ in range(4):
        reader.read_float()  # learning-rate and weight-decay multipliers: training only
    return DlibLayer("con", settings, params.ravel(), filter_shape)


def _read_affine(reader: _Reader) -> DlibLayer:
    params = reader.read_tensor()
    gamma_shape = reader.read_alias_tensor()
    reader.read_alias_tensor()  # beta
    mode = reader.read_int()
    return DlibLayer("affine", {"mode": mode}, params.ravel(), gamma_shape)


def _read_pool(kind: str, reader: _Reader) -> DlibLayer:
    names = ("rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x")
    return DlibLayer(kind, {name: reader.read_int() for name in names})


def _read_fc(reader: _Reader) -> DlibLayer:
    outputs = reader.read_int()
    inputs = reader.read_int()
    params = reader.read_tensor()
    weight_shape = reader.read_alias_tensor()
    reader.read_alias_tensor()  # biases: empty for fc_no_bias
    bias_mode = reader.read_int()
    for _ in range(4):
        reader.read_float()
    settings = {"outputs": outputs, "inputs": inputs, "bias_mode": bias_mode}
    return DlibLayer("fc", settings, params.ravel(), weight_shape)


_DETAIL_READERS = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "relu_": lambda reader: DlibLayer("relu"),
    "add_prev_": lambda reader: DlibLayer("add_prev"),
    "max_pool_2": lambda reader: _read_pool("max_pool", reader),
    "avg_pool_2": lambda reader: _read_pool("avg_pool", reader),
    "fc_2": _read_fc,
}


def _skip_runtime_state(reader: _Reader) -> None:
    """Each add_layer stores three flags and three scratch tensors after its details."""
    for _ in range(3):
        reader.read_bool()
    for _ in range(3):
        reader.read_tensor()


def _read_header(reader: _Reader) -> tuple[tuple[float, float, float], tuple[int, int]]:
    reader.read_int()  # network version
    reader.expect("loss_metric_2")
    reader.read_float()  # margin
    reader.read_float()  # distance threshold
    while reader.peek_int() in (1, 2, 3):
        reader.read_int()  # per-layer version numbers, top down
    reader.expect("input_rgb_image_sized")
    mean = (reader.read_float(), reader.read_float(), reader.read_float())
    size = (reader.read_int(), reader.read_int())
    return mean, size


def parse_dlib_network(data: bytes) -> DlibNetwork:
    """Parse the bytes of dlib's face-recognition ResNet into layers and parameters."""
    reader = _Reader(data)
    mean, size = _read_header(reader)
    layers: list[DlibLayer] = []
    while reader.pos < len(data):
        name = reader.read_string()
        detail_reader = _DETAIL_READERS.get(name)
        if detail_reader is None:
            raise DlibFormatError(f"unknown dlib layer {name!r} at byte {reader.pos}")
        layers.append(detail_reader(reader))
        _skip_runtime_state(reader)
        if len(layers) == 1:
            reader.read_int()  # the layer on the input also stores the sample expansion factor
    return DlibNetwork(mean, size, layers)


def load_dlib_network(path: Path) -> DlibNetwork:
    """Read and parse a dlib face-recognition ResNet `.dat` file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DlibFormatError(f"cannot read dlib model {path}: {exc}") from exc
    try:
        return parse_dlib_network(data)
    except DlibFormatError as exc:
        raise DlibFormatError(f"{path}: {exc}") from exc
