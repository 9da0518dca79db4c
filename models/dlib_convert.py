"""Convert dlib's face-recognition ResNet (`.dat`) into a TFLite model, without TensorFlow.

The wiring is dlib's published template (dnn_face_recognition_ex.cpp): a 7x7/2 stem, max
pool, then residual blocks (32 x3, 64 down + x3, 128 down + x2, 256 down + x2, 256 down),
global average pool and a 128-unit fc without bias. The file's layer sequence is checked
against that template before any weight is used.

Exactness details (each one changed the output when wrong):
- input is RGB, normalised (pixel - mean) / 256; folded into the stem conv (it has no padding);
- each affine (batch norm already folded by dlib) is folded into the conv before it;
- stride-2 convs and the stem are VALID, stride-1 3x3 convs pad 1 (SAME);
- dlib's add of unequal tensors takes the larger size and fills the missing entries with
  zeros at the bottom/right and in the last channels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.dlib_format import DlibFormatError, DlibLayer, DlibNetwork, load_dlib_network
from models.tflite_writer import (
    OP,
    Quantization,
    TfliteGraph,
    add_options,
    conv2d_options,
    fully_connected_options,
    mean_options,
    pool2d_options,
)

CONVERTER_VERSION = 1  # bump when the emitted graph changes: provisioning then rebuilds
INPUT_NAME = "chip_rgb"  # [1, 150, 150, 3] float32, raw 0..255 RGB pixels of a dlib face chip
OUTPUT_NAME = "descriptor"  # [1, 128] float32, dlib's face descriptor

STEM = ("con", "affine", "relu", "max_pool")
BLOCK = ("con", "affine", "relu", "con", "affine", "add_prev", "relu")
DOWN_BLOCK = ("con", "affine", "relu", "con", "affine", "avg_pool", "add_prev", "relu")
HEAD = ("avg_pool", "fc")
# (filters, downsamples) for each residual block, input upward.
BLOCK_PLAN = (
    [(32, False)] * 3
    + [(64, True)]
    + [(64, False)] * 3
    + [(128, True)]
    + [(128, False)] * 2
    + [(256, True)]
    + [(256, False)] * 2
    + [(256, True)]
)


def template_layer_kinds() -> list[str]:
    """The layer sequence dlib's face ResNet template produces, input upward."""
    kinds = list(STEM)
    for _, down in BLOCK_PLAN:
        kinds.extend(DOWN_BLOCK if down else BLOCK)
    return kinds + list(HEAD)


def check_against_template(net: DlibNetwork) -> None:
    """Fail with the first difference if the file is not dlib's face ResNet."""
    found = [layer.kind for layer in net.layers]
    expected = template_layer_kinds()
    for index, (got, want) in enumerate(zip(found, expected, strict=False)):
        if got != want:
            raise DlibFormatError(f"layer {index} is {got!r}, dlib's face ResNet has {want!r}")
    if len(found) != len(expected):
        raise DlibFormatError(f"{len(found)} layers, dlib's face ResNet has {len(expected)}")
    if net.input_size != (150, 150):
        raise DlibFormatError(f"input size {net.input_size}, expected (150, 150)")


@dataclass(frozen=True)
class FoldedConv:
    """A conv with its affine folded in: TFLite layout weights [out, kh, kw, in] and bias."""

    weights: np.ndarray
    bias: np.ndarray
    stride: int
    same_padding: bool


def fold_conv(con: DlibLayer, affine: DlibLayer) -> FoldedConv:
    """Fold dlib's per-channel affine (gamma, beta) into the preceding conv."""
    assert con.params is not None and affine.params is not None
    out, cin, kh, kw = con.param_shape
    weight_count = out * cin * kh * kw
    weights = con.params[:weight_count].reshape(out, cin, kh, kw).astype(np.float64)
    bias = con.params[weight_count : weight_count + out].astype(np.float64)
    gamma, beta = affine.params[:out].astype(np.float64), affine.params[out : 2 * out]
    weights = weights * gamma[:, None, None, None]
    bias = bias * gamma + beta
    stride = con.settings["stride_y"]
    same = _same_padding(con)
    return FoldedConv(weights.transpose(0, 2, 3, 1), bias, stride, same)


def _same_padding(con: DlibLayer) -> bool:
    rows, pad, stride = con.settings["rows"], con.settings["pad_y"], con.settings["stride_y"]
    if pad == 0:
        return False
    if stride == 1 and pad == rows // 2:
        return True
    raise DlibFormatError(f"conv {rows}x{rows}/{stride} with padding {pad} has no TFLite form")


def fold_input_normalisation(conv: FoldedConv, mean_rgb: tuple[float, ...]) -> FoldedConv:
    """Make the stem take raw pixels: conv((x - mean) / 256) == conv'(x) when unpadded."""
    if conv.same_padding:
        raise DlibFormatError("the stem conv is padded; normalisation cannot be folded into it")
    weights = conv.weights / 256.0
    bias = conv.bias - np.einsum("ohwi,i->o", weights, np.asarray(mean_rgb, dtype=np.float64))
    return FoldedConv(weights, bias, conv.stride, conv.same_padding)


def _conv_output(size: int, kernel: int, stride: int, same: bool) -> int:
    return -(-size // stride) if same else (size - kernel) // stride + 1


class _Builder:
    """Emits TFLite operators for the template, consuming parsed layers in order."""

    def __init__(self, net: DlibNetwork, weights_dtype: type) -> None:
        self.net = net
        self.layers: Iterator[DlibLayer] = iter(net.layers)
        self.graph = TfliteGraph()
        self.weights_dtype = np.dtype(weights_dtype)
        self.count = 0

    def _next(self, kind: str) -> DlibLayer:
        layer = next(self.layers)
        assert layer.kind == kind, f"template check missed {layer.kind} != {kind}"
        return layer

    def _name(self, what: str) -> str:
        self.count += 1
        return f"{what}_{self.count}"

    def weights(self, name: str, value: np.ndarray) -> int:
        """A float32 weight tensor; float16 + DEQUANTIZE, or int8 per output channel if asked."""
        if self.weights_dtype == np.float32:
            return self.graph.add_constant(name, value.astype(np.float32))
        if self.weights_dtype == np.int8:
            return self._int8_weights(name, value)
        packed = self.graph.add_constant(name + "_fp16", value.astype(np.float16))
        unpacked = self.graph.add_tensor(name, value.shape)
        self.graph.add_operator(OP.DEQUANTIZE, [packed], [unpacked])
        return unpacked

    def _int8_weights(self, name: str, value: np.ndarray) -> int:
        """Symmetric per-output-channel int8: the runtime's hybrid kernels take these directly."""
        flat = value.reshape(value.shape[0], -1)
        scale = np.maximum(np.abs(flat).max(axis=1), 1e-12) / 127.0
        quantized = np.clip(np.round(flat / scale[:, None]), -127, 127).astype(np.int8)
        return self.graph.add_constant(
            name + "_int8", quantized.reshape(value.shape), Quantization(scale.astype(np.float32))
        )

    def conv(self, x: int, folded: FoldedConv, relu: bool) -> int:
        """CONV_2D with folded weights and bias, optionally with ReLU fused."""
        _, height, width, _ = self.graph.shape(x)
        out, kh, kw, _ = folded.weights.shape
        shape = (
            1,
            _conv_output(height, kh, folded.stride, folded.same_padding),
            _conv_output(width, kw, folded.stride, folded.same_padding),
            out,
        )
        name = self._name("conv")
        weights = self.weights(name + "_w", folded.weights)
        bias = self.graph.add_constant(name + "_b", folded.bias.astype(np.float32))
        y = self.graph.add_tensor(name, shape)
        options = conv2d_options(folded.stride, folded.same_padding, relu)
        self.graph.add_operator(OP.CONV_2D, [x, weights, bias], [y], options)
        return y

    def pool(self, x: int, opcode: int, layer: DlibLayer) -> int:
        """MAX_POOL_2D or AVERAGE_POOL_2D, square window, VALID."""
        window, stride = layer.settings["rows"], layer.settings["stride_y"]
        if layer.settings["pad_y"] != 0 or layer.settings["cols"] != window:
            raise DlibFormatError(f"unsupported pooling settings {layer.settings}")
        _, height, width, channels = self.graph.shape(x)
        out_h = _conv_output(height, window, stride, False)
        out_w = _conv_output(width, window, stride, False)
        y = self.graph.add_tensor(self._name("pool"), (1, out_h, out_w, channels))
        self.graph.add_operator(opcode, [x], [y], pool2d_options(window, stride))
        return y

    def pad_to(self, x: int, shape: tuple[int, ...]) -> int:
        """Zero-pad at the bottom/right and in the last channels, as dlib's add does."""
        current = self.graph.shape(x)
        if current == shape:
            return x
        paddings = np.array(
            [[0, want - have] for have, want in zip(current, shape, strict=True)], np.int32
        )
        name = self._name("pad")
        pads = self.graph.add_constant(name + "_amounts", paddings)
        y = self.graph.add_tensor(name, shape)
        self.graph.add_operator(OP.PAD, [x, pads], [y])
        return y

    def add_relu(self, a: int, b: int) -> int:
        """dlib's add_prev (zero-filled to the larger size) followed by ReLU."""
        shape = tuple(
            max(p, q) for p, q in zip(self.graph.shape(a), self.graph.shape(b), strict=True)
        )
        a, b = self.pad_to(a, shape), self.pad_to(b, shape)
        y = self.graph.add_tensor(self._name("add"), shape)
        self.graph.add_operator(OP.ADD, [a, b], [y], add_options(relu=True))
        return y

    def stem(self, x: int) -> int:
        conv = fold_conv(self._next("con"), self._next("affine"))
        conv = fold_input_normalisation(conv, self.net.input_mean_rgb)
        self._next("relu")
        y = self.conv(x, conv, relu=True)
        return self.pool(y, OP.MAX_POOL_2D, self._next("max_pool"))

    def block(self, x: int, down: bool) -> int:
        first = fold_conv(self._next("con"), self._next("affine"))
        self._next("relu")
        y = self.conv(x, first, relu=True)
        second = fold_conv(self._next("con"), self._next("affine"))
        y = self.conv(y, second, relu=False)
        shortcut = self.pool(x, OP.AVERAGE_POOL_2D, self._next("avg_pool")) if down else x
        self._next("add_prev")
        self._next("relu")
        return self.add_relu(y, shortcut)

    def head(self, x: int) -> int:
        pool = self._next("avg_pool")
        if pool.settings["rows"] != 0 or pool.settings["cols"] != 0:
            raise DlibFormatError(f"expected a global average pool, got {pool.settings}")
        axes = self.graph.add_constant("mean_axes", np.array([1, 2], np.int32))
        pooled = self.graph.add_tensor("pooled", (1, self.graph.shape(x)[3]))
        self.graph.add_operator(OP.MEAN, [x, axes], [pooled], mean_options(keep_dims=False))
        fc = self._next("fc")
        assert fc.params is not None
        inputs, outputs = fc.param_shape[:2]
        weights = self.weights("fc_w", fc.params.reshape(inputs, outputs).T)
        y = self.graph.add_tensor(OUTPUT_NAME, (1, outputs))
        self.graph.add_operator(
            OP.FULLY_CONNECTED, [pooled, weights, -1], [y], fully_connected_options()
        )
        return y


def convert_network(net: DlibNetwork, weights_dtype: type = np.float32) -> bytes:
    """TFLite flatbuffer bytes computing dlib's descriptor from a raw 150x150 RGB chip."""
    check_against_template(net)
    builder = _Builder(net, weights_dtype)
    x = builder.graph.add_tensor(INPUT_NAME, (1, *net.input_size, 3))
    y = builder.stem(x)
    for _, down in BLOCK_PLAN:
        y = builder.block(y, down)
    out = builder.head(y)
    weights_name = np.dtype(weights_dtype).name
    description = f"dlib face recognition ResNet v1, converted by smilepay ({weights_name} weights)"
    return builder.graph.serialize([x], [out], description)


def convert_dlib_model(dat_path: Path, tflite_path: Path, weights_dtype: type = np.float32) -> None:
    """Read dlib's `.dat`, convert, and write the `.tflite` atomically."""
    model = convert_network(load_dlib_network(dat_path), weights_dtype)
    partial = tflite_path.with_name(tflite_path.name + ".partial")
    partial.write_bytes(model)
    partial.replace(tflite_path)
