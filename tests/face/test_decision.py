"""The kiosk's match policy: pay threshold tightening with gallery size, step-up, no match."""

from __future__ import annotations

import numpy as np
import pytest

from models.config import FaceConfig
from models.decision import ImpostorTail, decide_match, policy_for, shipped_tail
from models.gallery import Match

CONFIG = FaceConfig()


def match(best: float, second: float | None = None) -> Match:
    return Match("c1", "Customer", best, second)


def test_the_pay_threshold_tightens_as_the_gallery_grows_and_never_exceeds_the_step_up_one() -> (
    None
):
    # GIVEN galleries of growing size WHEN the policy is set for each
    thresholds = [policy_for(CONFIG, size).pay_threshold for size in (1, 10, 100, 1000, 100_000)]
    # THEN the pay threshold only tightens and stays below the step-up threshold
    assert thresholds == sorted(thresholds, reverse=True)
    assert thresholds[0] > thresholds[-1]
    assert all(t <= CONFIG.match_threshold for t in thresholds)


def test_gallery_size_times_per_comparison_fmr_stays_under_the_target() -> None:
    # GIVEN the shipped impostor tail WHEN the threshold is set for a measured gallery size
    tail = shipped_tail()
    for size in (10, 50, 100):
        pay = policy_for(CONFIG, size).pay_threshold
        measured = np.interp(pay, tail.distances, tail.fmr)
        # THEN the expected share of strangers paid, size x FMR, is at most the target
        assert size * measured <= CONFIG.pay_fpir * 1.01


def test_a_close_unique_match_pays_a_typical_sale() -> None:
    assert decide_match(match(0.30, 0.80), 1000, CONFIG, 100) == "pay"


def test_a_costly_sale_always_steps_up() -> None:
    assert decide_match(match(0.30, 0.80), CONFIG.step_up_amount_minor, CONFIG, 100) == "step_up"


def test_a_match_between_the_thresholds_steps_up_instead_of_paying() -> None:
    # GIVEN a large gallery, whose pay threshold is well under its step-up threshold
    policy = policy_for(CONFIG, 10_000)
    assert policy.pay_threshold < policy.step_up_threshold
    # WHEN the best match falls between the two THEN step-up
    best = (policy.pay_threshold + policy.step_up_threshold) / 2
    assert decide_match(match(best, 0.9), 1000, CONFIG, 10_000) == "step_up"


def test_the_step_up_threshold_also_tightens_with_the_gallery() -> None:
    # GIVEN a small and a large gallery THEN the large one asks fewer strangers for digits
    small, large = policy_for(CONFIG, 10), policy_for(CONFIG, 100_000)
    assert large.step_up_threshold < small.step_up_threshold <= CONFIG.match_threshold
    # AND a match the small gallery steps up is no match in the large one
    best = (large.step_up_threshold + small.step_up_threshold) / 2
    assert decide_match(match(best, 0.9), 1000, CONFIG, 10) == "step_up"
    assert decide_match(match(best, 0.9), 1000, CONFIG, 100_000) == "no_match"


def test_two_customers_both_close_enough_to_pay_is_ambiguous() -> None:
    pay = policy_for(CONFIG, 100).pay_threshold
    assert decide_match(match(0.20, pay - 0.01), 1000, CONFIG, 100) == "step_up"
    assert decide_match(match(0.30, 0.35), 1000, CONFIG, 100) == "step_up"


def test_nothing_within_the_step_up_threshold_is_no_match() -> None:
    assert decide_match(match(0.61, 0.9), 1000, CONFIG, 1) == "no_match"
    assert decide_match(None, 1000, CONFIG, 0) == "no_match"


def test_the_tail_extrapolates_below_its_measured_range(tmp_path) -> None:
    # GIVEN a tail measured down to FMR 1e-4 at distance 0.5, falling by e per 0.1
    path = tmp_path / "tail.json"
    path.write_text(
        '{"distances": [0.5, 0.6], "fmr": [1e-4, 1e-3], "slope": 10.0, "anchor": [0.5, 1e-4],'
        ' "genuine_fnmr": [0.2, 0.05]}'
    )
    tail = ImpostorTail.load(path)
    # THEN inside the range the table answers, below it the log-linear fit does
    assert tail.distance_at(1e-3) == pytest.approx(0.6)
    assert tail.distance_at(1e-4 / np.e) == pytest.approx(0.4)


def test_the_step_up_threshold_never_refuses_more_returning_customers_than_allowed() -> None:
    # GIVEN the shipped genuine distances and a huge gallery
    tail = shipped_tail()
    step_up = policy_for(CONFIG, 10_000_000).step_up_threshold
    # THEN at most step_up_fnmr of genuine template-to-photo distances lie beyond it
    assert np.interp(step_up, tail.distances, tail.genuine_fnmr) <= CONFIG.step_up_fnmr
