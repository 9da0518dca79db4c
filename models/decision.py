"""The kiosk's match policy: pay, step-up or no match, with thresholds set by the gallery size.

A stranger in front of the kiosk is compared with every enrolled customer. If one comparison
falsely matches with probability FMR(t) at distance threshold t, a gallery of N customers pays
a stranger with probability about N x FMR(t) (NIST FRTE 1:N: FPIR grows with N). To keep that
under `pay_fpir`, the threshold below which a match may pay is the impostor distance whose
FMR is pay_fpir / N, read from template-to-stranger distances measured on in-the-wild dev
faces (models/weights/impostor_tail.json, written by tools/fit_impostor_tail.py; below the
measured range the tail is extrapolated log-linearly, never looser than the measured counts).
It is never looser than `match_threshold`.

A match closer than the step-up threshold but not payable (beyond the pay threshold,
ambiguous, or a costly sale) asks for a step-up (phone digits or PIN): the step-up stops
strangers whom the face alone cannot. The step-up threshold is set the same way from
`step_up_fpir` (the share of strangers asked for digits, each prompt being one guess at a
customer's digits), but never so tight that more than `step_up_fnmr` of returning customers
(genuine template-to-photo distances, same file) would be refused outright, and never looser
than `match_threshold`. In large galleries that floor wins: most strangers are then asked for
digits, which is what the digits are for (WeBank and Alipay pair 1:N with phone digits).

Ambiguity also adapts to N: a match is ambiguous when the second-best is within
`match_margin` of the best, or when the second-best is itself within the pay threshold (two
customers both close enough to pay), which grows likelier as N grows.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from base.errors import SmilepayError
from models.config import FaceConfig
from models.gallery import Match
from models.linear import WEIGHTS_DIR

MatchKind = Literal["pay", "step_up", "no_match"]
IMPOSTOR_TAIL_FILE = "impostor_tail.json"


@dataclass(frozen=True)
class ImpostorTail:
    """Per-comparison false-match rate as a function of distance, low tail only."""

    distances: np.ndarray  # increasing
    fmr: np.ndarray  # measured FMR at each distance (non-decreasing)
    slope: float  # log(FMR) per unit distance below the measured range
    anchor: tuple[float, float]  # (distance, FMR) where the extrapolation starts
    genuine_fnmr: np.ndarray  # genuine template-to-photo FNMR at each distance (decreasing)

    @classmethod
    def load(cls, path: Path | None = None) -> ImpostorTail:
        """The tail shipped in models/weights (or the file at `path`)."""
        path = path or WEIGHTS_DIR / IMPOSTOR_TAIL_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            anchor = (float(data["anchor"][0]), float(data["anchor"][1]))
            distances = np.asarray(data["distances"], np.float64)
            fmr, fnmr = (np.asarray(data[key], np.float64) for key in ("fmr", "genuine_fnmr"))
            return cls(distances, fmr, float(data["slope"]), anchor, fnmr)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise SmilepayError(f"{path}: not a usable impostor tail: {exc}") from None

    def distance_at(self, fmr: float) -> float:
        """The largest distance threshold whose per-comparison FMR is at most `fmr`.

        Below the anchor the log-linear extrapolation is used, but never looser than the
        measured table (whose few lowest pairs can show a heavier tail than the fit).
        """
        allowed = np.flatnonzero(self.fmr <= fmr)
        measured = float(self.distances[allowed[-1]]) if allowed.size else float(self.distances[0])
        anchor_distance, anchor_fmr = self.anchor
        if fmr >= anchor_fmr:
            return measured
        extrapolated = anchor_distance - float(np.log(anchor_fmr / fmr)) / self.slope
        return min(measured, extrapolated)

    def genuine_distance_at(self, fnmr: float) -> float:
        """The smallest distance threshold that rejects at most `fnmr` of genuine probes."""
        allowed = np.flatnonzero(self.genuine_fnmr <= fnmr)
        return float(self.distances[allowed[0]]) if allowed.size else float(self.distances[-1])


@functools.cache
def shipped_tail() -> ImpostorTail:
    """The impostor tail shipped with the models (read once)."""
    return ImpostorTail.load()


@dataclass(frozen=True)
class MatchPolicy:
    """Distance thresholds for one gallery size."""

    pay_threshold: float  # closer than this may pay
    step_up_threshold: float  # closer than this (and not payable) asks for a step-up
    margin: float


def policy_for(
    config: FaceConfig, gallery_size: int, tail: ImpostorTail | None = None
) -> MatchPolicy:
    """The thresholds for a gallery of `gallery_size` customers (see the module docstring)."""
    tail = tail or shipped_tail()
    size = max(gallery_size, 1)
    strangers = tail.distance_at(config.step_up_fpir / size)
    customers = tail.genuine_distance_at(config.step_up_fnmr)
    step_up = min(config.match_threshold, max(strangers, customers))
    pay = min(step_up, tail.distance_at(config.pay_fpir / size))
    return MatchPolicy(pay, step_up, config.match_margin)


def decide_match(
    match: Match | None, amount_minor: int, config: FaceConfig, gallery_size: int
) -> MatchKind:
    """What the kiosk does with a live face's best match for a sale of `amount_minor`."""
    policy = policy_for(config, gallery_size)
    if match is None or match.best_distance >= policy.step_up_threshold:
        return "no_match"
    second = match.second_distance
    ambiguous = second is not None and (
        second - match.best_distance < policy.margin or second < policy.pay_threshold
    )
    payable = match.best_distance < policy.pay_threshold and not ambiguous
    if payable and amount_minor < config.step_up_amount_minor:
        return "pay"
    return "step_up"
