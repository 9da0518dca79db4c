"""Synthetic face descriptors shaped like dlib's, for gallery benchmarks and tests.

Drawn from models/weights/descriptor_model.json (fitted on real photos by
tools/fit_descriptor_model.py): a person is the mean descriptor plus between-person spread; a
capture of that person adds within-person spread; an enrolled template averages 3 captures, as
`enroll` does. Unlike random unit vectors, these concentrate in few directions and sit at the
distances real descriptors do (impostor pairs mostly 0.6-0.9, captures of one person ~0.35).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.linear import WEIGHTS_DIR

DESCRIPTOR_MODEL_FILE: Path = WEIGHTS_DIR / "descriptor_model.json"
ENROL_CAPTURES = 3
BLOCK = 65_536


@dataclass(frozen=True)
class DescriptorModel:
    """Mean descriptor and the between- and within-person spread (axes scaled by std)."""

    mean: np.ndarray
    between: np.ndarray  # (k, 128): axis rows times their standard deviation
    within: np.ndarray

    @classmethod
    def load(cls, path: Path = DESCRIPTOR_MODEL_FILE) -> DescriptorModel:
        raw = json.loads(path.read_text())

        def scaled(part: dict) -> np.ndarray:
            return np.asarray(part["axes"]) * np.asarray(part["std"])[:, None]

        return cls(np.asarray(raw["mean"]), scaled(raw["between"]), scaled(raw["within"]))

    def people(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Centres of `count` new people."""
        return self.mean + rng.standard_normal((count, len(self.between))) @ self.between

    def captures(
        self, centres: np.ndarray, rng: np.random.Generator, averaged: int = 1
    ) -> np.ndarray:
        """One capture of each person (the mean of `averaged` captures), float32."""
        spread = rng.standard_normal((len(centres), len(self.within))) @ self.within
        return (centres + spread / np.sqrt(averaged)).astype(np.float32)

    def templates(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Enrolled templates of `count` new people (each the mean of 3 captures), drawn in
        blocks so a 1M gallery does not hold float64 intermediates of all of it at once."""
        out = np.empty((count, len(self.mean)), np.float32)
        for first in range(0, count, BLOCK):
            people = self.people(min(BLOCK, count - first), rng)
            out[first : first + len(people)] = self.captures(people, rng, ENROL_CAPTURES)
        return out

    def returning(self, templates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A fresh capture of each template's person: the template plus the spread between
        one capture and the mean of 3 others (within-person covariance times 1 + 1/3)."""
        spread = rng.standard_normal((len(templates), len(self.within))) @ self.within
        return (templates + spread * np.sqrt(1 + 1 / ENROL_CAPTURES)).astype(np.float32)

    def strangers(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """One capture each of `count` people not enrolled."""
        return self.captures(self.people(count, rng), rng)
