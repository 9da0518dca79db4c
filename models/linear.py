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


def logit(p: Any) -> np.ndarray:
    """log(p / (1 - p)), clipped away from 0 and 1 (a scalar gives a 0-d array)."""
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(clipped / (1 - clipped)))


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


@dataclass(frozen=True)
class MlpModel:
    """An ensemble of one-hidden-layer ReLU networks on standardised features, stored as JSON.

    p = mean over members of sigmoid(w2 · relu(W1ᵀ (x - mean) / scale + b1) + b2); "positive"
    when p >= threshold. Scoring needs numpy alone; training is in tools/.
    """

    mean: np.ndarray
    scale: np.ndarray
    members: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, float], ...]  # (W1, b1, w2, b2)
    threshold: float
    about: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> MlpModel:
        """Read a model JSON written by `save`; SmilepayError naming the file if it is unusable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            mean, scale = (np.asarray(data[key], np.float32) for key in ("mean", "scale"))
            members = tuple(
                (
                    np.asarray(member["w1"], np.float32),
                    np.asarray(member["b1"], np.float32),
                    np.asarray(member["w2"], np.float32),
                    float(member["b2"]),
                )
                for member in data["members"]
            )
            model = cls(mean, scale, members, float(data["threshold"]), data["about"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SmilepayError(f"{path}: not a usable MLP model: {exc}") from None
        if model.mean.shape != model.scale.shape or not members:
            raise SmilepayError(f"{path}: mean and scale differ in length, or no members")
        for w1, b1, w2, _ in members:
            if w1.shape != (len(model.mean), len(b1)) or w2.shape != b1.shape:
                raise SmilepayError(f"{path}: a member's layer shapes do not fit the features")
        return model

    def save(self, path: Path) -> None:
        """Write the model as JSON (floats rounded to 5 significant digits)."""

        def rounded(values: np.ndarray) -> Any:
            return np.vectorize(lambda v: float(f"{v:.5g}"), otypes=[float])(values).tolist()

        data = {
            "about": self.about,
            "kind": "mlp",
            "threshold": round(self.threshold, 6),
            "mean": rounded(self.mean),
            "scale": rounded(self.scale),
            "members": [
                {"w1": rounded(w1), "b1": rounded(b1), "w2": rounded(w2), "b2": float(f"{b2:.6g}")}
                for w1, b1, w2, b2 in self.members
            ],
        }
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")

    def probability(self, features: np.ndarray) -> np.ndarray | float:
        """Probability of the positive class for one feature vector (float) or rows (array)."""
        x = (np.asarray(features, np.float32) - self.mean) / self.scale
        total = np.zeros(x.shape[:-1], np.float64)
        for w1, b1, w2, b2 in self.members:
            hidden = np.maximum(x @ w1 + b1, 0.0)
            total = total + 1.0 / (1.0 + np.exp(-np.clip(hidden @ w2 + b2, -60, 60)))
        p = total / len(self.members)
        return float(p) if np.ndim(p) == 0 else p


def load_classifier(path: Path) -> LinearModel | MlpModel:
    """A shipped classifier JSON: an MLP when it says `"kind": "mlp"`, else logistic."""
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("kind", "logistic")
    except (OSError, ValueError, AttributeError) as exc:
        raise SmilepayError(f"{path}: not a usable model file: {exc}") from None
    return MlpModel.load(path) if kind == "mlp" else LinearModel.load(path)


def fit_mlp(
    features: np.ndarray,
    labels: np.ndarray,
    hidden: int = 64,
    l2: float = 1e-2,
    dropout: float = 0.2,
    epochs: int = 60,
    seed: int = 0,
    learning_rate: float = 1e-3,
    batch: int = 128,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """(mean, scale, (W1, b1, w2, b2)) of a one-hidden-layer ReLU network trained with Adam
    on the log-loss, with input dropout and an L2 penalty on the weights (numpy only)."""
    rng = np.random.default_rng(seed)
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    x = ((features - mean) / scale).astype(np.float64)
    y = labels.astype(np.float64)
    count, width = x.shape
    params = [
        rng.normal(0.0, np.sqrt(2.0 / width), (width, hidden)),
        np.zeros(hidden),
        rng.normal(0.0, np.sqrt(1.0 / hidden), hidden),
        np.zeros(1),
    ]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(count)
        for start in range(0, count, batch):
            rows = order[start : start + batch]
            inputs = x[rows]
            if dropout:
                inputs = inputs * (rng.random(inputs.shape) > dropout) / (1.0 - dropout)
            hidden_out = np.maximum(inputs @ params[0] + params[1], 0.0)
            logits = hidden_out @ params[2] + params[3][0]
            error = (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60))) - y[rows]) / len(rows)
            back = np.outer(error, params[2]) * (hidden_out > 0)
            grads = [
                inputs.T @ back + l2 * params[0],
                back.sum(axis=0),
                hidden_out.T @ error + l2 * params[2],
                np.array([error.sum()]),
            ]
            step += 1
            for k, grad in enumerate(grads):
                first[k] = 0.9 * first[k] + 0.1 * grad
                second[k] = 0.999 * second[k] + 0.001 * grad * grad
                corrected = first[k] / (1 - 0.9**step)
                params[k] -= (
                    learning_rate * corrected / (np.sqrt(second[k] / (1 - 0.999**step)) + 1e-8)
                )
    w1, b1, w2, b2 = params
    return (
        mean.astype(np.float32),
        scale.astype(np.float32),
        (w1.astype(np.float32), b1.astype(np.float32), w2.astype(np.float32), float(b2[0])),
    )
