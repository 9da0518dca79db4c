"""A standardised logistic-regression model stored as JSON: the shipped smile and liveness models.

Training (numpy only) lives in tools/; the kiosk needs numpy alone to score. The JSON keeps the
feature means and scales, the weights, the bias, the operating threshold and its provenance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from base.errors import SmilepayError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class LinearModel:
    """p = sigmoid(w · (x - mean) / scale + b); "positive" when p >= threshold."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float
    about: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a model JSON written by `save`; SmilepayError naming the file if it is unusable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            mean, scale, weights = (
                np.asarray(data[key], np.float32) for key in ("mean", "scale", "weights")
            )
            model = cls(
                mean, scale, weights, float(data["bias"]), float(data["threshold"]), data["about"]
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SmilepayError(f"{path}: not a usable linear model: {exc}") from None
        if not model.mean.shape == model.scale.shape == model.weights.shape:
            raise SmilepayError(f"{path}: mean, scale and weights differ in length")
        return model

    def save(self, path: Path) -> None:
        """Write the model as JSON (floats rounded to 6 significant digits)."""
        data = {
            "about": self.about,
            "threshold": round(self.threshold, 6),
            "bias": float(f"{self.bias:.6g}"),
            "mean": [float(f"{v:.6g}") for v in self.mean],
            "scale": [float(f"{v:.6g}") for v in self.scale],
            "weights": [float(f"{v:.6g}") for v in self.weights],
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    def probability(self, features: np.ndarray) -> np.ndarray | float:
        """Probability of the positive class for one feature vector (float) or rows (array)."""
        x = (np.asarray(features, np.float32) - self.mean) / self.scale
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ self.weights + self.bias, -60, 60)))
        return float(p) if np.ndim(p) == 0 else p


def fit_logistic(
    features: np.ndarray, labels: np.ndarray, l2: float = 1.0, steps: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, weights, bias) of an L2-regularised logistic regression (Newton steps
    on standardised features; `l2` is the penalty per unit of summed log-loss)."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))]).astype(np.float64)
    y = labels.astype(np.float64)
    theta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -60, 60)))
        gradient = x.T @ (p - y) + penalty * theta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return mean, scale, theta[:-1], float(theta[-1])
