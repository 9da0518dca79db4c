"""Load TFLite models with whichever runtime is installed: LiteRT first, then tflite-runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from base.errors import SmilepayError


class RuntimeMissing(SmilepayError):
    """Neither LiteRT nor tflite-runtime can be imported."""


class ModelLoadError(SmilepayError):
    """A model file exists but the runtime cannot load it."""


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as litert_error:
        try:
            from tflite_runtime.interpreter import Interpreter  # numpy<2 only
        except ImportError as tflite_error:
            raise RuntimeMissing(
                "no TFLite runtime: `ai_edge_litert.interpreter` failed "
                f"({litert_error}) and `tflite_runtime.interpreter` failed ({tflite_error}); "
                "install ai-edge-litert"
            ) from tflite_error
    return Interpreter


def load_interpreter(path: Path, threads: int) -> Any:
    """A ready (tensors allocated) TFLite interpreter for `path` using `threads` CPU threads.

    Not thread-safe: give each thread its own interpreter.
    """
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    interpreter_class = _interpreter_class()
    try:
        interpreter = interpreter_class(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load TFLite model {path}: {exc}") from exc
    return interpreter
