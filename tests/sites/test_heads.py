"""The closed-form heads: the ridge path against a direct least-squares solve, the Platt scaling, and the
thresholds of the Bayes decision for the ICBHI-style score."""

from __future__ import annotations

import numpy as np

from respira.metrics.icbhi import icbhi_scores
from respira.models.respira.labels import flags_to_classes
from respira.sites.heads import PENALTIES, balanced_weights, expected_thresholds, platt_scaling, ridge_paths


def _direct(x, target, weights, columns, penalty):
    """Weighted ridge with unpenalised ``columns`` (and an intercept) by one explicit solve."""
    free = np.concatenate([np.ones((x.shape[0], 1)), columns], axis=1)
    design = np.concatenate([x, free], axis=1)
    ridge = np.diag([penalty] * x.shape[1] + [0.0] * free.shape[1])
    gram = design.T @ (design * weights[:, None]) + ridge
    return design @ np.linalg.solve(gram, design.T @ (weights * target))


def test_ridge_paths_solve_the_weighted_problem_at_every_penalty():
    rng = np.random.default_rng(0)
    for windows in (80, 12):  # more windows than features, and fewer (the kernel form)
        x = rng.normal(size=(windows, 20)) * rng.uniform(0.1, 3, size=20) + 2.0
        target = np.where(rng.random(windows) < 0.3, 1.0, -1.0)
        weights = rng.uniform(0.5, 2.0, size=windows)
        logits = x @ rng.normal(size=20) + rng.normal(size=windows)
        site, anchored = ridge_paths(x, target, weights, logits)
        standard = (x - x.mean(axis=0)) / x.std(axis=0)
        scale = np.linalg.eigvalsh(
            (standard - weights @ standard / weights.sum()).T
            @ ((standard - weights @ standard / weights.sum()) * weights[:, None])
        )
        unit = max(scale.clip(0).sum() / 20, 1e-12)
        for index in (0, 6, 12):
            penalty = PENALTIES[index] * unit
            expected = _direct(standard, target, weights, np.zeros((windows, 0)), penalty)
            np.testing.assert_allclose(site.scores(x)[:, index], expected, atol=1e-7)
            expected = _direct(standard, target, weights, logits[:, None], penalty)
            np.testing.assert_allclose(anchored.scores(x, logits)[:, index], expected, atol=1e-7)


def test_a_path_point_is_one_linear_score_of_the_raw_embedding():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8)) * 4 + 1
    logits = x @ rng.normal(size=8) + 0.3
    model_row = (rng.normal(size=8), 0.3)
    logits = x @ model_row[0] + model_row[1]
    target = np.where(rng.random(50) < 0.5, 1.0, -1.0)
    site, anchored = ridge_paths(x, target, np.ones(50), logits)
    np.testing.assert_allclose(site.at(4)(x), site.scores(x)[:, 4], atol=1e-9)
    np.testing.assert_allclose(anchored.at(4, model_row)(x), anchored.scores(x, logits)[:, 4], atol=1e-9)
    scaled = anchored.at(4, model_row).scaled(2.5, -1.0)
    np.testing.assert_allclose(scaled(x), 2.5 * anchored.scores(x, logits)[:, 4] - 1.0, atol=1e-9)


def test_balanced_weights_give_each_recording_and_class_its_share():
    recording = np.array([0, 0, 0, 1, 2, 2])
    target = np.array([1, 0, 0])
    weights = balanced_weights(recording, target)
    assert np.isclose(weights[recording == 0].sum(), 0.5)
    assert np.isclose(weights[recording == 1].sum(), 0.25)
    assert np.isclose(weights[recording == 2].sum(), 0.25)


def test_platt_scaling_recovers_a_logistic_and_never_flips_a_score():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=20000)
    target = (rng.random(20000) < 1 / (1 + np.exp(-(2.0 * scores - 0.5)))).astype(int)
    slope, intercept = platt_scaling(scores, target)
    # class balancing moves the intercept by the log of the class ratio, the slope stays
    ratio = np.log(target.sum() / (target.size - target.sum()))
    assert abs(slope - 2.0) < 0.1
    assert abs(intercept + ratio - (-0.5)) < 0.1
    backwards, _ = platt_scaling(-scores, target)
    assert backwards == 0.0


def _calibrated_sample(size: int, abnormal_shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two labels drawn independently from known posteriors; the probabilities given are a monotone
    distortion of them (what a model's uncalibrated output is)."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(size, 2)) * 2.0 + abnormal_shift
    posterior = 1 / (1 + np.exp(-scores))
    labels = (rng.random((size, 2)) < posterior).astype(int)
    distorted = 1 / (1 + np.exp(-(0.5 * scores + 1.0)))
    return labels, distorted


def _best_on_grid(truth: np.ndarray, probabilities: np.ndarray, grid: np.ndarray) -> float:
    """The best ICBHI-style score of every (crackle, wheeze) pair of thresholds in ``grid``: each pair's
    16 (true class, flags) counts, scored as one weighted row by :func:`icbhi_scores`."""
    flags = [probabilities[None, :, label] >= grid[:, None] for label in range(2)]  # [grid, n]
    counts = []
    for true in range(4):
        crackle, wheeze = (f & (truth == true)[None, :] for f in flags)
        both = crackle.astype(np.float64) @ wheeze.T.astype(np.float64)  # [crackle cut, wheeze cut]
        only_crackle = crackle.sum(axis=1)[:, None] - both
        only_wheeze = wheeze.sum(axis=1)[None, :] - both
        neither = (truth == true).sum() - both - only_crackle - only_wheeze
        counts += [neither, only_crackle, only_wheeze, both]  # predicted classes 0..3, flags_to_classes'
    weights = np.stack([c.reshape(-1) for c in counts], axis=1)
    cells = np.arange(16)
    return float(np.max(icbhi_scores(cells // 4, cells % 4, weights=weights)["icbhi_score"]))


def test_expected_thresholds_find_the_best_pair_of_the_icbhi_score():
    """On a large sample with calibratable probabilities, the thresholds chosen on the expected score
    score as well as the best pair a grid search of the labels' own score finds, on samples mostly
    normal, even and mostly abnormal (where a flag must be surer to pay)."""
    found = {}
    for shift in (-2.0, 0.0, 2.0):
        labels, probabilities = _calibrated_sample(20000, shift, seed=3)
        thresholds = expected_thresholds(labels, probabilities, [None, None], [0.5, 0.5])
        truth = flags_to_classes(labels)

        def score(pair, labels=labels, probabilities=probabilities, truth=truth):
            predicted = flags_to_classes(probabilities >= np.asarray(pair))
            return icbhi_scores(truth, predicted, warn=False)["icbhi_score"]

        grid = np.quantile(probabilities, np.linspace(0.02, 0.98, 49))
        best = _best_on_grid(truth, probabilities, grid)
        assert score(thresholds) >= best - 0.005, (shift, thresholds, score(thresholds), best)
        found[shift] = thresholds
    assert found[2.0][0] > found[0.0][0] > found[-2.0][0]


def test_expected_thresholds_keep_a_fixed_label_and_fall_back_where_nothing_ranks():
    labels, probabilities = _calibrated_sample(400, 0.0, seed=4)
    probabilities[:, 1] = 0.3  # ranks nothing: no Platt slope
    thresholds = expected_thresholds(labels, probabilities, [0.42, None], [0.5, 0.61])
    assert thresholds == (0.42, 0.61)


def test_expected_thresholds_follow_inputs_edited_in_place():
    """Each label's calibration is kept per process by its inputs' bytes: the same arrays edited in
    place (probabilities, then labels) are calibrated again, never served as they were."""
    labels, probabilities = _calibrated_sample(400, 0.0, seed=5)
    ranked = probabilities[:, 1].copy()
    informative = expected_thresholds(labels, probabilities, [0.42, None], [0.5, 0.61])
    assert informative[0] == 0.42 and informative[1] != 0.61
    probabilities[:, 1] = 0.3  # ranks nothing: the fallback
    assert expected_thresholds(labels, probabilities, [0.42, None], [0.5, 0.61]) == (0.42, 0.61)
    probabilities[:, 1] = ranked
    assert expected_thresholds(labels, probabilities, [0.42, None], [0.5, 0.61]) == informative
    labels[:, 1] = 1 - labels[:, 1]  # the same probabilities now rank the label backwards: the fallback
    assert expected_thresholds(labels, probabilities, [0.42, None], [0.5, 0.61]) == (0.42, 0.61)
