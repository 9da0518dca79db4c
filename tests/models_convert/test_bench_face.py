"""Verification metrics and embedding timing for `smilepay bench face`."""

from __future__ import annotations

import numpy as np
import pytest

from models.bench_face import (
    equal_error_rate,
    fnmr_at_fmr,
    pair_distances,
    time_embedder,
    verification_metrics,
)
from models.embedding import LiteRTEmbedder


def unit(vector: list[float]) -> np.ndarray:
    return np.asarray(vector, np.float32)


def test_pair_counts_cover_every_pair_once() -> None:
    # GIVEN three photos of A and two of B
    embeddings = {
        "a": [unit([0, 0]), unit([0, 0.1]), unit([0.1, 0])],
        "b": [unit([5, 5]), unit([5, 5.2])],
    }
    genuine, impostor = pair_distances(embeddings)
    # THEN 3 + 1 genuine pairs and 3 x 2 impostor pairs
    assert genuine.size == 4 and impostor.size == 6


def test_well_separated_identities_have_zero_error() -> None:
    embeddings = {"a": [unit([0, 0]), unit([0, 0.1])], "b": [unit([5, 5]), unit([5, 5.2])]}
    metrics = verification_metrics(embeddings)
    assert metrics["eer"] == 0.0
    assert metrics["fnmr_at_fmr_1e-3"] == 0.0
    assert (metrics["pairs_genuine"], metrics["pairs_impostor"]) == (2, 4)


def test_equal_error_rate_of_overlapping_distances() -> None:
    # GIVEN genuine distances 0.1..1.0 and impostor distances 0.55..1.45 (step 0.1)
    genuine = np.arange(1, 11) / 10
    impostor = np.arange(1, 11) / 10 + 0.45
    eer, threshold = equal_error_rate(genuine, impostor)
    # THEN at threshold 0.7 or 0.8: 3 of 10 genuine rejected (or 2), 2 of 10 impostors accepted
    assert eer == pytest.approx(0.3) or eer == pytest.approx(0.2)
    assert 0.6 <= threshold <= 0.9
    # AND demanding no false match at all rejects the genuine pairs above 0.5
    assert fnmr_at_fmr(genuine, impostor, 1e-3) == pytest.approx(0.5)


def test_time_embedder_reports_milliseconds_for_real_chips(litert_embedder: LiteRTEmbedder) -> None:
    chips = [np.full((150, 150, 3), value, np.uint8) for value in (40, 120, 200)]
    timing = time_embedder(litert_embedder, chips, warmup=1)
    assert timing["embed_count"] == 3
    assert 0 < timing["embed_ms_p50"] <= timing["embed_ms_p90"]


def test_without_genuine_pairs_there_is_no_eer() -> None:
    # GIVEN one photo per identity (as in a smile-only set) WHEN the metrics are computed
    embeddings = {"a": [unit([0, 0])], "b": [unit([1, 1])], "c": [unit([2, 0])]}
    metrics = verification_metrics(embeddings)
    # THEN there is no error rate, and the result says why
    assert metrics["pairs_genuine"] == 0 and metrics["pairs_impostor"] == 3
    assert metrics["eer"] is None and metrics["fnmr_at_fmr_1e-3"] is None
    assert "no genuine pairs" in metrics["eer_note"]


def test_streamed_rates_agree_with_the_exact_pairwise_ones() -> None:
    # GIVEN 40 people with 5 noisy photos each around their own centre
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 0.5 / np.sqrt(8), (40, 8))
    embeddings = {
        f"p{i}": [c + rng.normal(0, 0.08, 8) for _ in range(5)] for i, c in enumerate(centres)
    }
    # WHEN computed streamed (histograms) and from every pair in memory
    streamed = verification_metrics(embeddings)
    genuine, impostor = pair_distances(embeddings)
    exact_eer, _ = equal_error_rate(genuine, impostor)
    # THEN the counts are equal and the error rates agree to the histogram's resolution
    assert (streamed["pairs_genuine"], streamed["pairs_impostor"]) == (genuine.size, impostor.size)
    assert streamed["eer"] == pytest.approx(exact_eer, abs=2 / genuine.size)
    exact_fnmr = fnmr_at_fmr(genuine, impostor, 1e-3)
    assert streamed["fnmr_at_fmr_1e-3"] == pytest.approx(exact_fnmr, abs=2 / genuine.size)
