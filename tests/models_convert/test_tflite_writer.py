"""The flatbuffer writer produces models LiteRT loads and computes correctly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.runtime import load_interpreter
from models.tflite_writer import OP, TfliteGraph, add_options, conv2d_options, pool2d_options


def run_model(path: Path, model: bytes, value: np.ndarray) -> np.ndarray:
    path.write_bytes(model)
    interpreter = load_interpreter(path, threads=1)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], value)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


def test_pad_then_add_with_relu_matches_numpy(tmp_path: Path) -> None:
    # GIVEN a graph: pad bottom/right and channels, then add a constant with fused ReLU
    graph = TfliteGraph()
    x = graph.add_tensor("x", (1, 2, 2, 1))
    pads = graph.add_constant("pads", np.array([[0, 0], [0, 1], [0, 1], [0, 1]], np.int32))
    padded = graph.add_tensor("padded", (1, 3, 3, 2))
    graph.add_operator(OP.PAD, [x, pads], [padded])
    offset = graph.add_constant("offset", np.full((1, 3, 3, 2), -1.5, np.float32))
    y = graph.add_tensor("y", (1, 3, 3, 2))
    graph.add_operator(OP.ADD, [padded, offset], [y], add_options(relu=True))
    model = graph.serialize([x], [y], "test")
    value = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    # WHEN run on LiteRT
    out = run_model(tmp_path / "pad_add.tflite", model, value)
    # THEN it equals numpy's zero pad at the end of each axis, minus 1.5, clipped at 0
    expected = np.maximum(np.pad(value, [(0, 0), (0, 1), (0, 1), (0, 1)]) - 1.5, 0)
    np.testing.assert_allclose(out, expected)


def test_valid_strided_conv_and_average_pool_match_numpy(tmp_path: Path) -> None:
    # GIVEN a 2x2 stride-2 VALID conv (one filter summing the window) then a 2x2 average pool
    graph = TfliteGraph()
    x = graph.add_tensor("x", (1, 8, 8, 1))
    weights = graph.add_constant("w", np.ones((1, 2, 2, 1), np.float32))
    bias = graph.add_constant("b", np.array([0.5], np.float32))
    conv = graph.add_tensor("conv", (1, 4, 4, 1))
    graph.add_operator(OP.CONV_2D, [x, weights, bias], [conv], conv2d_options(2, False, False))
    pooled = graph.add_tensor("pooled", (1, 2, 2, 1))
    graph.add_operator(OP.AVERAGE_POOL_2D, [conv], [pooled], pool2d_options(2, 2))
    value = np.random.default_rng(1).normal(size=(1, 8, 8, 1)).astype(np.float32)
    # WHEN run
    out = run_model(tmp_path / "conv.tflite", graph.serialize([x], [pooled], "test"), value)
    # THEN it matches the same arithmetic in numpy
    sums = value[0, :, :, 0].reshape(4, 2, 4, 2).sum(axis=(1, 3)) + 0.5
    expected = sums.reshape(2, 2, 2, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(out[0, :, :, 0], expected, rtol=1e-5, atol=1e-5)
