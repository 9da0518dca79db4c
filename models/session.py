"""Smile-to-pay as intent: one session per sale, fed frames and times, pure of I/O.

The amount is on screen when the session starts. The customer must then show a neutral face
and go on to smile; a face already smiling at the start counts only after it relaxes and smiles
again. Neutral and smiling are the trained smile model's calls on each frame (P(smiling) below
or at/above its threshold, `models.smile.SmileModel`), the same model `bench face` measures.
On the smile, liveness is judged over the session's frames (among them: the mouth must have
deformed between the most neutral and the widest-smiling frame, so a neutral face the model
misreads for two frames does not pay), the face is embedded from the best neutral and best
smiling frames (averaged) and searched in the gallery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from base.errors import SmilepayError
from models.config import FaceConfig
from models.decision import decide_match
from models.engine import FaceEngine, FaceObservation
from models.gallery import Gallery, Match
from models.liveness import FaceTrace, LivenessResult, assess_liveness, trace
from models.presentation import face_crop

DecisionKind = Literal["pay", "step_up", "no_match", "not_live", "no_face"]
PAD_FRAMES = 8  # frames, evenly spread over the session, that the printed-photo check scores
NEUTRAL_FRAMES = 2  # consecutive neutral frames that establish the neutral reference
SMILE_FRAMES = 2  # consecutive smiling frames that confirm the smile
MAX_TRACES = 90


@dataclass(frozen=True)
class FaceDecision:
    """The outcome of a session."""

    kind: DecisionKind
    customer_id: str | None = None
    name: str | None = None
    score: float | None = None  # best distance (lower is closer)
    margin: float | None = None  # second-best minus best
    live: bool = False
    live_reasons: tuple[str, ...] = ()
    smile_transition: bool = False


@dataclass(frozen=True)
class FaceProgress:
    """What to show after a frame: guidance key, face box, and the decision once made."""

    guidance: str
    face_box: tuple[float, float, float, float] | None = None
    decision: FaceDecision | None = None


@dataclass
class _Pick:
    """A frame kept for embedding: the image, its observation, and how good it is."""

    image: np.ndarray
    observation: FaceObservation
    goodness: float


@dataclass
class _SmileState:
    phase: Literal["need_neutral", "need_smile", "decided"] = "need_neutral"
    run: int = 0  # consecutive frames agreeing with what the phase waits for
    # The most neutral and the widest-smiling frames: liveness compares their mouths.
    neutral_trace: FaceTrace | None = None
    neutral_low: float = float("inf")
    smile_trace: FaceTrace | None = None
    smile_high: float = 0.0
    best_neutral: _Pick | None = None
    best_smile: _Pick | None = None


def _goodness(observation: FaceObservation) -> float:
    quality = observation.quality
    return 0.0 if quality is None else quality.eye_distance_px * min(quality.sharpness, 300.0)


class SmileToPaySession:
    """Watches frames for a neutral→smile transition, then decides pay / step-up / refusal."""

    def __init__(
        self,
        engine: FaceEngine,
        gallery: Gallery,
        amount_minor: int,
        config: FaceConfig,
        started_at: float,
    ) -> None:
        if amount_minor < 0:
            raise SmilepayError(f"sale amount must not be negative, got {amount_minor}")
        self.engine = engine
        self.gallery = gallery
        self.amount_minor = amount_minor
        self.config = config
        self.started_at = started_at
        self.state = _SmileState()
        self.traces: list[FaceTrace] = []
        self.saw_face = False
        self.decision: FaceDecision | None = None
        self.liveness: LivenessResult | None = None
        self.attack_probability: float | None = None  # mean over PAD_FRAMES, once decided
        self.pad_crops: list[np.ndarray] = []  # every usable frame's face, for that check

    def observe(self, image_bgr: Any, t: float) -> FaceProgress:
        """Take one frame captured at time `t` (seconds, same clock as `started_at`)."""
        if self.decision is not None:
            return FaceProgress("ok", None, self.decision)
        observation = self.engine.analyse(image_bgr)
        self.saw_face = self.saw_face or observation.mesh is not None
        if observation.usable:
            guidance = self._advance(image_bgr, observation)
        else:
            guidance = observation.guidance
        if self.decision is None and t - self.started_at >= self.config.capture_timeout_s:
            self.expire()
        return FaceProgress(guidance, observation.face_box, self.decision)

    def expire(self) -> FaceDecision:
        """End the session now (time-out or frames ran out): the decision, made if not yet."""
        if self.decision is None:
            self.decision = self._timed_out()
        return self.decision

    def _advance(self, image_bgr: np.ndarray, observation: FaceObservation) -> str:
        """Move the smile state machine on one usable frame; return the guidance key."""
        assert observation.mesh is not None and observation.smile_ratio is not None
        grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        current = trace(grey, observation.mesh.points)
        self.traces = [*self.traces[-MAX_TRACES + 1 :], current]
        crop = face_crop(image_bgr, observation.mesh.points)
        self.pad_crops = [*self.pad_crops[-MAX_TRACES + 1 :], crop]
        assert observation.smiling is not None
        ratio = observation.smile_ratio
        pick = _Pick(image_bgr, observation, _goodness(observation))
        if self.state.phase == "need_neutral":
            return self._wait_for_neutral(observation.smiling, ratio, current, pick)
        return self._wait_for_smile(observation.smiling, ratio, current, pick)

    def _wait_for_neutral(
        self, smiling: bool, ratio: float, current: FaceTrace, pick: _Pick
    ) -> str:
        state = self.state
        if smiling:  # smiling before the amount was seen, or not yet relaxed
            state.run = 0
            return "hold_still"
        state.run += 1
        _keep_best(state, "best_neutral", pick)
        _keep_most_neutral(state, ratio, current)
        if state.run >= NEUTRAL_FRAMES:
            state.phase, state.run = "need_smile", 0
            return "now_smile"
        return "hold_still"

    def _wait_for_smile(self, smiling: bool, ratio: float, current: FaceTrace, pick: _Pick) -> str:
        state = self.state
        if not smiling:
            state.run = 0
            _keep_most_neutral(state, ratio, current)
            _keep_best(state, "best_neutral", pick)
            return "now_smile"
        state.run += 1
        if ratio >= state.smile_high:
            state.smile_trace, state.smile_high = current, ratio
        _keep_best(state, "best_smile", pick)
        if state.run >= SMILE_FRAMES:
            state.phase = "decided"
            self.decision = self._decide()
            return "ok"
        return "hold_still"

    def _decide(self) -> FaceDecision:
        """Judge liveness, embed the best neutral and smiling frames, search, apply the rules."""
        state = self.state
        self.liveness = assess_liveness(self.traces, state.neutral_trace, state.smile_trace)
        reasons = list(self.liveness.reasons)
        picks = [pick for pick in (state.best_neutral, state.best_smile) if pick is not None]
        if self._looks_printed():
            reasons.append("presentation_attack")
        vectors = [self.engine.embed(pick.image, pick.observation) for pick in picks]
        if (
            len(vectors) == 2
            and np.linalg.norm(vectors[0] - vectors[1]) >= self.config.match_threshold
        ):
            reasons.append("face_changed")  # the smiling face is not the neutral one
        if reasons:
            return FaceDecision(
                "not_live", live=False, live_reasons=tuple(reasons), smile_transition=True
            )
        match = self.gallery.search(np.mean(vectors, axis=0))
        return self._by_match(match)

    def _looks_printed(self) -> bool:
        """Whether the session's faces look like a printed photo: mean P(attack) over up to
        PAD_FRAMES usable frames (one frame's texture varies; a print's stays)."""
        if not self.pad_crops:
            return False
        pad = self.engine.presentation
        spread = np.linspace(0, len(self.pad_crops) - 1, min(PAD_FRAMES, len(self.pad_crops)))
        crops = [self.pad_crops[round(i)] for i in spread]
        self.attack_probability = pad.crops_probability(crops)
        return self.attack_probability >= pad.threshold

    def _by_match(self, match: Match | None) -> FaceDecision:
        """The kiosk's match policy (models.decision) on a live face's best match."""
        kind = decide_match(match, self.amount_minor, self.config, len(self.gallery))
        if match is None or kind == "no_match":
            return FaceDecision(
                "no_match",
                score=None if match is None else match.best_distance,
                margin=None if match is None else match.margin,
                live=True,
                smile_transition=True,
            )
        return FaceDecision(
            kind,
            match.best_id,
            match.best_name,
            match.best_distance,
            match.margin,
            live=True,
            smile_transition=True,
        )

    def _timed_out(self) -> FaceDecision:
        if not self.saw_face:
            return FaceDecision("no_face", live_reasons=("no_face",))
        self.liveness = assess_liveness(self.traces, self.state.neutral_trace, None)
        reasons = self.liveness.reasons
        if self._looks_printed():  # say so too: a print the smile model never saw smile
            reasons = (*reasons, "presentation_attack")
        return FaceDecision("not_live", live=False, live_reasons=reasons)


def _keep_best(state: _SmileState, slot: str, pick: _Pick) -> None:
    current: _Pick | None = getattr(state, slot)
    if current is None or pick.goodness >= current.goodness:
        setattr(state, slot, pick)


def _keep_most_neutral(state: _SmileState, ratio: float, current: FaceTrace) -> None:
    if ratio <= state.neutral_low:
        state.neutral_trace, state.neutral_low = current, ratio
