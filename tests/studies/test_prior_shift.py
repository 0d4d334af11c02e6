"""Prior-shift correction (Saerens et al. 2002; studies/_prior_shift.py, what the leave-one-site-out and
site-adaptation studies measured, retired from respira adapt): EM on hand-computed toys, the shifted
threshold."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from respira.core.decision import decide_flags

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
from _prior_shift import (
    BOUNDARY,
    adjust_posteriors,
    em_prior,
    estimate_prior_shift,
    shifted_threshold,
)


def test_em_on_two_examples_reaches_the_maximum_likelihood_prior():
    # Source prior 1/2, posteriors 0.8 and 0.3. The likelihood of the target prior q is
    # (0.2 + 0.6 q)(0.7 - 0.4 q) up to a constant; its derivative vanishes at q = 0.34 / 0.48 = 17/24.
    prior, iterations = em_prior([0.8, 0.3], 0.5)
    assert prior == pytest.approx(17 / 24, abs=1e-6)
    assert iterations > 1
    # the first EM step from the source prior is the mean posterior
    assert em_prior([0.8, 0.3], 0.5, max_iter=1)[0] == pytest.approx(0.55)
    # at the fixed point the mean adjusted posterior is the prior itself
    assert adjust_posteriors(np.array([0.8, 0.3]), 0.5, prior).mean() == pytest.approx(prior, abs=1e-6)


def test_posteriors_that_match_the_source_prior_do_not_move_it():
    assert em_prior([0.2, 0.2, 0.2, 0.2], 0.2)[0] == pytest.approx(0.2)


def test_the_shifted_threshold_decides_as_the_adjusted_posteriors_do():
    # by hand: w1 = (17/24) / (1/2) = 17/12, w0 = (7/24) / (1/2) = 7/12,
    # t' = w0 t / (w1 (1 - t) + w0 t) = 7/24
    assert shifted_threshold(0.5, 0.5, 17 / 24) == pytest.approx(7 / 24)
    rng = np.random.default_rng(0)
    p = rng.uniform(size=(200, 2))
    for source, target, t in [(0.3, 0.6, 0.4), (0.4, 0.1, 0.25)]:
        moved = shifted_threshold(t, source, target)
        adjusted = adjust_posteriors(p, source, target)
        assert (decide_flags(adjusted, [t, t]).present == decide_flags(p, [moved, moved]).present).all()
    assert shifted_threshold(0.0, 0.3, 0.6) == 0.0 and shifted_threshold(1.0, 0.3, 0.6) == 1.0


def test_each_flag_gets_its_own_em_and_bad_inputs_are_one_line():
    shifts = estimate_prior_shift(np.array([[0.8, 0.1], [0.3, 0.1]]), [0.5, 0.1], [0.5, 0.4])
    assert shifts[0].target_prior == pytest.approx(17 / 24, abs=1e-6)
    assert shifts[1].target_prior == pytest.approx(0.1, abs=1e-6)  # mean posterior = source prior
    assert shifts[1].shifted_threshold == pytest.approx(0.4, abs=1e-5)
    with pytest.raises(ValueError, match="source_prior must be a prevalence strictly between 0 and 1"):
        em_prior([0.5], 1.0)
    with pytest.raises(ValueError, match="at least one posterior"):
        em_prior([], 0.5)
    with pytest.raises(ValueError, match="one of each per flag"):
        estimate_prior_shift(np.zeros((2, 2)), [0.5], [0.5, 0.5])


def test_an_estimate_at_the_boundary_keeps_the_threshold():
    # posteriors far above a 10 % training prevalence: EM runs to a prevalence of 1, which would move
    # the threshold to 0 and flag everything; the shift is not applied
    shifts = estimate_prior_shift(np.array([[0.95], [0.9], [0.97]]), [0.1], [0.4])
    assert shifts[0].target_prior > 1 - BOUNDARY
    assert not shifts[0].applied and shifts[0].shifted_threshold == 0.4
    interior = estimate_prior_shift(np.array([[0.8], [0.3]]), [0.5], [0.5])[0]
    assert interior.applied and interior.shifted_threshold == pytest.approx(7 / 24, abs=1e-5)
