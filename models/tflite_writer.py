"""Write a TFLite model flatbuffer without TensorFlow.

A `TfliteGraph` collects tensors (inputs, constants, intermediates) and builtin operators, then
serialises them with the `flatbuffers` package and the TFLite schema's generated builder
functions from the `tflite` package. Only what the dlib converter needs is covered: one
subgraph, float32/float16/int32 tensors, and the options of a handful of builtin operators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite as fb
from flatbuffers import Builder

OptionsWriter = Callable[[Builder], int]

_TENSOR_TYPES = {
    np.dtype(np.float32): fb.TensorType.FLOAT32,
    np.dtype(np.float16): fb.TensorType.FLOAT16,
    np.dtype(np.int32): fb.TensorType.INT32,
    np.dtype(np.int8): fb.TensorType.INT8,
}
_BUFFER_ALIGNMENT = 16  # kernels read weights in place; keep them aligned


@dataclass(frozen=True)
class Options:
    """A builtin operator's options table: its union type and a function that writes it."""

    union_type: int
    write: OptionsWriter


@dataclass(frozen=True)
class Quantization:
    """Symmetric int8 quantization: real = scale[c] * q along `axis` (per channel)."""

    scale: np.ndarray
    axis: int = 0


@dataclass
class _TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    buffer: int
    quantization: Quantization | None = None


@dataclass
class _OperatorSpec:
    opcode: int
    inputs: list[int]
    outputs: list[int]
    options: Options | None


@dataclass
class TfliteGraph:
    """A single-subgraph TFLite model under construction."""

    tensors: list[_TensorSpec] = field(default_factory=list)
    buffers: list[bytes] = field(default_factory=lambda: [b""])  # buffer 0 is always empty
    operators: list[_OperatorSpec] = field(default_factory=list)

    def shape(self, tensor: int) -> tuple[int, ...]:
        """The shape of a tensor already added."""
        return self.tensors[tensor].shape

    def add_tensor(self, name: str, shape: tuple[int, ...], dtype: type = np.float32) -> int:
        """A tensor without data (a graph input or an operator's output); returns its index."""
        self.tensors.append(_TensorSpec(name, tuple(shape), np.dtype(dtype), 0))
        return len(self.tensors) - 1

    def add_constant(
        self, name: str, value: np.ndarray, quantization: Quantization | None = None
    ) -> int:
        """A constant tensor (float32, float16, int32, or int8 with `quantization`)."""
        value = np.ascontiguousarray(value)
        if value.dtype not in _TENSOR_TYPES:
            raise ValueError(f"constant {name!r}: unsupported dtype {value.dtype}")
        if (value.dtype == np.int8) != (quantization is not None):
            raise ValueError(f"constant {name!r}: int8 tensors, and only they, need quantization")
        self.buffers.append(value.astype(value.dtype.newbyteorder("<")).tobytes())
        buffer = len(self.buffers) - 1
        spec = _TensorSpec(name, tuple(value.shape), value.dtype, buffer, quantization)
        self.tensors.append(spec)
        return len(self.tensors) - 1

    def add_operator(
        self, opcode: int, inputs: list[int], outputs: list[int], options: Options | None = None
    ) -> None:
        """A builtin operator reading `inputs` and writing `outputs` (tensor indices)."""
        self.operators.append(_OperatorSpec(opcode, list(inputs), list(outputs), options))

    def serialize(self, inputs: list[int], outputs: list[int], description: str) -> bytes:
        """The finished model as TFLite flatbuffer bytes."""
        builder = flatbuffers.Builder(sum(len(b) for b in self.buffers) + (1 << 16))
        buffer_offsets = [_write_buffer(builder, data) for data in self.buffers]
        tensor_offsets = [_write_tensor(builder, spec) for spec in self.tensors]
        opcodes = sorted({op.opcode for op in self.operators})
        opcode_index = {code: i for i, code in enumerate(opcodes)}
        operator_offsets = [_write_operator(builder, op, opcode_index) for op in self.operators]
        subgraph = _write_subgraph(builder, tensor_offsets, operator_offsets, inputs, outputs)
        opcode_offsets = [_write_opcode(builder, code) for code in opcodes]
        description_offset = builder.CreateString(description)
        opcode_vector = _offset_vector(builder, opcode_offsets)
        subgraph_vector = _offset_vector(builder, [subgraph])
        buffer_vector = _offset_vector(builder, buffer_offsets)
        fb.ModelStart(builder)
        fb.ModelAddVersion(builder, 3)
        fb.ModelAddOperatorCodes(builder, opcode_vector)
        fb.ModelAddSubgraphs(builder, subgraph_vector)
        fb.ModelAddDescription(builder, description_offset)
        fb.ModelAddBuffers(builder, buffer_vector)
        builder.Finish(fb.ModelEnd(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _offset_vector(builder: Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return int(builder.EndVector())


def _int_vector(builder: Builder, values: list[int] | tuple[int, ...]) -> int:
    return int(builder.CreateNumpyVector(np.asarray(values, dtype=np.int32)))


def _aligned_bytes(builder: Builder, payload: bytes) -> int:
    builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
    builder.head -= len(payload)
    builder.Bytes[builder.head : builder.head + len(payload)] = payload
    builder.vectorNumElems = len(payload)
    return int(builder.EndVector())


def _write_buffer(builder: Builder, data: bytes) -> int:
    data_offset = _aligned_bytes(builder, data) if data else None
    fb.BufferStart(builder)
    if data_offset is not None:
        fb.BufferAddData(builder, data_offset)
    return int(fb.BufferEnd(builder))


def _write_quantization(builder: Builder, quantization: Quantization) -> int:
    scale = builder.CreateNumpyVector(np.asarray(quantization.scale, np.float32).ravel())
    zero_point = builder.CreateNumpyVector(np.zeros(np.size(quantization.scale), np.int64))
    fb.QuantizationParametersStart(builder)
    fb.QuantizationParametersAddScale(builder, scale)
    fb.QuantizationParametersAddZeroPoint(builder, zero_point)
    fb.QuantizationParametersAddQuantizedDimension(builder, quantization.axis)
    return int(fb.QuantizationParametersEnd(builder))


def _write_tensor(builder: Builder, spec: _TensorSpec) -> int:
    name = builder.CreateString(spec.name)
    shape = _int_vector(builder, spec.shape)
    quantization = _write_quantization(builder, spec.quantization) if spec.quantization else None
    fb.TensorStart(builder)
    if quantization is not None:
        fb.TensorAddQuantization(builder, quantization)
    fb.TensorAddShape(builder, shape)
    fb.TensorAddType(builder, _TENSOR_TYPES[spec.dtype])
    fb.TensorAddBuffer(builder, spec.buffer)
    fb.TensorAddName(builder, name)
    return int(fb.TensorEnd(builder))


def _write_operator(builder: Builder, op: _OperatorSpec, opcode_index: dict[int, int]) -> int:
    inputs = _int_vector(builder, op.inputs)
    outputs = _int_vector(builder, op.outputs)
    options = op.options.write(builder) if op.options else None
    fb.OperatorStart(builder)
    fb.OperatorAddOpcodeIndex(builder, opcode_index[op.opcode])
    fb.OperatorAddInputs(builder, inputs)
    fb.OperatorAddOutputs(builder, outputs)
    if op.options and options is not None:
        fb.OperatorAddBuiltinOptionsType(builder, op.options.union_type)
        fb.OperatorAddBuiltinOptions(builder, options)
    return int(fb.OperatorEnd(builder))


def _write_subgraph(
    builder: Builder,
    tensors: list[int],
    operators: list[int],
    inputs: list[int],
    outputs: list[int],
) -> int:
    tensor_vector = _offset_vector(builder, tensors)
    operator_vector = _offset_vector(builder, operators)
    input_vector = _int_vector(builder, inputs)
    output_vector = _int_vector(builder, outputs)
    name = builder.CreateString("main")
    fb.SubGraphStart(builder)
    fb.SubGraphAddTensors(builder, tensor_vector)
    fb.SubGraphAddInputs(builder, input_vector)
    fb.SubGraphAddOutputs(builder, output_vector)
    fb.SubGraphAddOperators(builder, operator_vector)
    fb.SubGraphAddName(builder, name)
    return int(fb.SubGraphEnd(builder))


def _write_opcode(builder: Builder, code: int) -> int:
    fb.OperatorCodeStart(builder)
    # Old readers look at the int8 field, new ones at the int32; 127 means "see builtin_code".
    fb.OperatorCodeAddDeprecatedBuiltinCode(builder, min(code, 127))
    fb.OperatorCodeAddBuiltinCode(builder, code)
    fb.OperatorCodeAddVersion(builder, 1)
    return int(fb.OperatorCodeEnd(builder))


def _activation(relu: bool) -> int:
    return int(fb.ActivationFunctionType.RELU if relu else fb.ActivationFunctionType.NONE)


def _padding(same: bool) -> int:
    return int(fb.Padding.SAME if same else fb.Padding.VALID)


def conv2d_options(stride: int, same: bool, relu: bool) -> Options:
    """CONV_2D: square stride, SAME or VALID padding, optional fused ReLU."""

    def write(builder: Builder) -> int:
        fb.Conv2DOptionsStart(builder)
        fb.Conv2DOptionsAddPadding(builder, _padding(same))
        fb.Conv2DOptionsAddStrideW(builder, stride)
        fb.Conv2DOptionsAddStrideH(builder, stride)
        fb.Conv2DOptionsAddDilationWFactor(builder, 1)
        fb.Conv2DOptionsAddDilationHFactor(builder, 1)
        fb.Conv2DOptionsAddFusedActivationFunction(builder, _activation(relu))
        return int(fb.Conv2DOptionsEnd(builder))

    return Options(fb.BuiltinOptions.Conv2DOptions, write)


def pool2d_options(window: int, stride: int) -> Options:
    """MAX_POOL_2D / AVERAGE_POOL_2D: square window and stride, VALID padding."""

    def write(builder: Builder) -> int:
        fb.Pool2DOptionsStart(builder)
        fb.Pool2DOptionsAddPadding(builder, fb.Padding.VALID)
        fb.Pool2DOptionsAddStrideW(builder, stride)
        fb.Pool2DOptionsAddStrideH(builder, stride)
        fb.Pool2DOptionsAddFilterWidth(builder, window)
        fb.Pool2DOptionsAddFilterHeight(builder, window)
        return int(fb.Pool2DOptionsEnd(builder))

    return Options(fb.BuiltinOptions.Pool2DOptions, write)


def add_options(relu: bool) -> Options:
    """ADD with optional fused ReLU."""

    def write(builder: Builder) -> int:
        fb.AddOptionsStart(builder)
        fb.AddOptionsAddFusedActivationFunction(builder, _activation(relu))
        return int(fb.AddOptionsEnd(builder))

    return Options(fb.BuiltinOptions.AddOptions, write)


def mean_options(keep_dims: bool) -> Options:
    """MEAN over the axes given as its second input."""

    def write(builder: Builder) -> int:
        fb.ReducerOptionsStart(builder)
        fb.ReducerOptionsAddKeepDims(builder, keep_dims)
        return int(fb.ReducerOptionsEnd(builder))

    return Options(fb.BuiltinOptions.ReducerOptions, write)


def fully_connected_options() -> Options:
    """FULLY_CONNECTED without activation, output keeps [batch, units]."""

    def write(builder: Builder) -> int:
        fb.FullyConnectedOptionsStart(builder)
        fb.FullyConnectedOptionsAddFusedActivationFunction(builder, fb.ActivationFunctionType.NONE)
        return int(fb.FullyConnectedOptionsEnd(builder))

    return Options(fb.BuiltinOptions.FullyConnectedOptions, write)


OP = fb.BuiltinOperator  # operator codes: OP.CONV_2D, OP.ADD, ...
