"""Decision thresholds of multi-label models: candidates, objectives, fallbacks, selection at tuned values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from respira.metrics import (
    choose_thresholds,
    make_compute_metrics,
    multilabel_scores,
    sigmoid,
)
from respira.metrics.thresholds import MAX_CANDIDATES, candidate_thresholds, tune_thresholds
from respira.models.respira.labels import flags_to_classes

pytestmark = pytest.mark.filterwarnings("ignore::respira.metrics.UndefinedMetricWarning")


def _separable_dataset() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 80
    targets = np.stack([rng.random(n) < 0.5, rng.random(n) < 0.4], axis=1).astype(int)
    crackle = np.where(targets[:, 0] == 1, rng.uniform(0.62, 0.9, n), rng.uniform(0.05, 0.3, n))
    # wheeze positives have LOW probabilities: 0.5 misses them all, only (0.15, 0.22] separates
    wheeze = np.where(targets[:, 1] == 1, rng.uniform(0.22, 0.35, n), rng.uniform(0.0, 0.15, n))
    return targets, np.stack([crackle, wheeze], axis=1)


def _compressed_dataset(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The failure of issue 12: well-ordered scores squeezed into a narrow band around 0.5. Crackle
    positives sit just BELOW 0.5 (0.5 predicts no crackle at all), every wheeze probability just ABOVE
    it (0.5 flags every cycle as wheezing, normal ones included)."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, 2)) < [0.35, 0.3]).astype(int)
    crackle = 0.4960 + 0.0030 * targets[:, 0] + rng.uniform(0, 0.0008, n)
    wheeze = 0.5010 + 0.0030 * targets[:, 1] + rng.uniform(0, 0.0008, n)
    return targets, np.stack([crackle, wheeze], axis=1)


def _icbhi(targets: np.ndarray, probabilities: np.ndarray, thresholds) -> float:
    return multilabel_scores(targets, probabilities, thresholds, warn=False)["icbhi_score"]


# --------------------------------------------------------------------------------------------- candidates
def test_candidates_lie_between_the_probabilities_and_include_the_extremes_and_one_half() -> None:
    probabilities = np.array([0.2, 0.2, 0.4, 0.9, 0.7])
    candidates = candidate_thresholds(probabilities)
    assert candidates.tolist() == pytest.approx([0.1, 0.3, 0.5, 0.55, 0.8, 0.95])
    assert not np.isin(candidates, probabilities).any()  # no validation cycle sits on a threshold
    assert (probabilities >= candidates[0]).all() and (probabilities < candidates[-1]).all()
    many = np.random.default_rng(0).random(5000)
    subsampled = candidate_thresholds(many)
    assert len(subsampled) <= MAX_CANDIDATES + 3 and 0.5 in subsampled
    assert np.array_equal(subsampled, candidate_thresholds(many[::-1]))  # order-free, deterministic
    # quantiles: about as many probabilities between consecutive candidates
    counts = np.histogram(many, bins=subsampled)[0]
    assert counts.max() < 3 * len(many) / MAX_CANDIDATES
    assert candidate_thresholds([0.3, 0.3]).tolist() == pytest.approx([0.15, 0.5, 0.65])


# --------------------------------------------------------------------------------------------- objectives
@pytest.mark.parametrize("metric", ["f1", "icbhi_score"])
def test_tuned_thresholds_separate_constructed_data(metric: str) -> None:
    targets, probabilities = _separable_dataset()
    t_crackle, t_wheeze = tune_thresholds(targets, probabilities, metric=metric)
    for index, threshold in enumerate((t_crackle, t_wheeze)):
        positive = targets[:, index] == 1
        assert probabilities[positive, index].min() >= threshold
        assert probabilities[~positive, index].max() < threshold
    assert t_crackle == 0.5  # every threshold in (0.3, 0.62] separates crackles: ties go to 0.5
    largest_negative = probabilities[targets[:, 1] == 0, 1].max()
    smallest_positive = probabilities[targets[:, 1] == 1, 1].min()
    assert t_wheeze == pytest.approx((largest_negative + smallest_positive) / 2)  # a midpoint
    scores = multilabel_scores(targets, probabilities, (t_crackle, t_wheeze))
    assert scores["f1_crackle"] == scores["f1_wheeze"] == scores["icbhi_score"] == 1.0
    assert multilabel_scores(targets, probabilities)["f1_wheeze"] == 0.0


def _best_of_all(targets: np.ndarray, probabilities: np.ndarray, options: list, rows: list, worst) -> float:
    """The best, over every (crackle, wheeze) pair of ``options``, of the lowest ICBHI score over ``rows``
    (masks), found at once: the cycles of a class a pair decides right are a product of the two labels'
    flags. Checked against ``worst(pair)`` (by multilabel_scores) at the best pair and 20 others."""
    grid = np.full((len(options[0]), len(options[1])), np.inf)
    for mask in rows:
        classes = flags_to_classes(targets[mask])
        flags = [(probabilities[mask, i][None, :] >= options[i][:, None]).astype(float) for i in range(2)]
        right = [
            (flags[0] if c % 2 else 1 - flags[0])[:, classes == c]
            @ (flags[1] if c // 2 else 1 - flags[1])[:, classes == c].T
            for c in range(4)
        ]
        specificity = right[0] / (classes == 0).sum()
        sensitivity = (right[1] + right[2] + right[3]) / (classes != 0).sum()
        grid = np.minimum(grid, (specificity + sensitivity) / 2)
    best = np.unravel_index(np.argmax(grid), grid.shape)
    others = np.random.default_rng(0).integers(0, grid.shape, (20, 2))
    for i, j in [best, *others]:
        assert grid[i, j] == pytest.approx(worst((options[0][i], options[1][j])))
    return float(grid.max())


def test_joint_icbhi_tuning_finds_the_best_pair_of_all() -> None:
    rng = np.random.default_rng(3)
    targets = (rng.random((60, 2)) < 0.4).astype(int)
    probabilities = np.clip(0.3 * targets + 0.7 * rng.random((60, 2)), 0, 1)
    # every decision a threshold can make: at each distinct probability, and above them all
    options = [np.append(np.unique(probabilities[:, i]), 1.0) for i in range(2)]
    everything = [np.ones(len(targets), dtype=bool)]
    best = _best_of_all(
        targets, probabilities, options, everything, lambda pair: _icbhi(targets, probabilities, pair)
    )
    chosen = tune_thresholds(targets, probabilities, metric="icbhi_score")
    assert _icbhi(targets, probabilities, chosen) == pytest.approx(best)


def test_joint_icbhi_tuning_counts_a_probability_on_a_threshold_as_present() -> None:
    rng = np.random.default_rng(3)
    targets = (rng.random((60, 2)) < 0.4).astype(int)
    # probabilities on a 0.1 grid, 0.5 among them: a cycle at the threshold is flagged (>=), as everywhere
    probabilities = np.round(np.clip(0.3 * targets + 0.7 * rng.random((60, 2)), 0, 1), 1)
    grid = np.round(np.linspace(0.0, 1.0, 11), 1)  # every decision a threshold makes on these probabilities
    best = max(_icbhi(targets, probabilities, pair) for pair in itertools.product(grid, grid))
    chosen = tune_thresholds(targets, probabilities, metric="icbhi_score")
    assert _icbhi(targets, probabilities, chosen) == pytest.approx(best)
    # a perfect split at exactly 0.5 for both labels: 0.5 itself (the candidate closest to 0.5) flags them
    exact = np.array([[0, 0], [1, 1], [1, 1], [0, 0]])
    at_half = np.array([[0.1, 0.3], [0.5, 0.5], [0.7, 0.7], [0.2, 0.4]])
    assert tune_thresholds(exact, at_half, metric="icbhi_score") == (0.5, 0.5)


def test_per_label_tuning_finds_the_best_threshold_of_all() -> None:
    metric = "f1"
    rng = np.random.default_rng(5)
    targets = (rng.random((50, 2)) < 0.4).astype(int)
    probabilities = np.clip(0.25 * targets + 0.75 * rng.random((50, 2)), 0, 1)

    def value(index: int, threshold: float) -> float:
        predicted = probabilities[:, index] >= threshold
        positive = targets[:, index] == 1
        tp, fp = (predicted & positive).sum(), (predicted & ~positive).sum()
        return 2 * tp / (2 * tp + fp + (positive.sum() - tp))

    chosen = tune_thresholds(targets, probabilities, metric=metric)
    for index in range(2):
        options = np.append(np.unique(probabilities[:, index]), 1.0)
        assert value(index, chosen[index]) == pytest.approx(max(value(index, t) for t in options))


def _two_domains() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A large domain and a small one whose probabilities sit 0.25 higher (another stethoscope): the
    pooled optimum follows the large domain and over-calls the small one."""
    rng = np.random.default_rng(11)
    domains = np.repeat(np.array(["large", "small"]), [90, 30])
    targets = (rng.random((120, 2)) < 0.35).astype(int)
    shift = np.where(domains == "small", 0.25, 0.0)[:, None]
    probabilities = np.clip(0.3 * targets + 0.45 * rng.random((120, 2)) + shift, 0, 1)
    return targets, probabilities, domains


@pytest.mark.parametrize("metric", ["icbhi_score", "f1"])
def test_worst_domain_tuning_finds_the_best_lowest_domain_score_of_all(metric: str) -> None:
    targets, probabilities, domains = _two_domains()
    rows = [domains == name for name in ("large", "small")]
    options = [np.append(np.unique(probabilities[:, i]), 1.0) for i in range(2)]

    def per_label(index: int, threshold: float, mask: np.ndarray) -> float:
        predicted, positive = probabilities[mask, index] >= threshold, targets[mask, index] == 1
        tp, fp = (predicted & positive).sum(), (predicted & ~positive).sum()
        return 2 * tp / (2 * tp + fp + (positive.sum() - tp))

    chosen = tune_thresholds(targets, probabilities, metric=metric, domains=domains)
    pooled = tune_thresholds(targets, probabilities, metric=metric)
    if metric == "icbhi_score":

        def worst(pair) -> float:
            return min(_icbhi(targets[mask], probabilities[mask], pair) for mask in rows)

        best = _best_of_all(targets, probabilities, options, rows, worst)
        assert worst(chosen) == pytest.approx(best)
        assert worst(pooled) < best - 0.02  # the pooled pair is worse on its worst domain
        return
    for index in range(2):
        best = max(min(per_label(index, t, mask) for mask in rows) for t in options[index])
        assert min(per_label(index, chosen[index], mask) for mask in rows) == pytest.approx(best)
    assert chosen != pooled
    assert choose_thresholds(targets, probabilities, metric, domains=domains).thresholds == chosen


def test_worst_domain_tuning_skips_domains_it_cannot_score_and_checks_their_count() -> None:
    targets, probabilities, domains = _two_domains()
    # a third domain of normal cycles only: the ICBHI score is undefined there, so it is left out
    extra_targets = np.vstack([targets, np.zeros((5, 2), dtype=int)])
    extra_probabilities = np.vstack([probabilities, np.full((5, 2), 0.99)])
    extra_domains = np.append(domains, ["normal only"] * 5)
    with_extra = tune_thresholds(extra_targets, extra_probabilities, domains=extra_domains)
    assert with_extra == tune_thresholds(targets, probabilities, domains=domains)
    # a single domain is the pooled search; every domain undefined raises as the pooled search does
    assert tune_thresholds(targets, probabilities, domains=["one"] * len(targets)) == tune_thresholds(
        targets, probabilities
    )
    normal = np.zeros_like(targets)
    with pytest.raises(ValueError, match="normal and abnormal"):
        tune_thresholds(normal, probabilities, domains=domains)
    assert choose_thresholds(normal, probabilities, domains=domains).tuned == (False, False)
    with pytest.raises(ValueError, match=r"one domain per example \(120\), got 3"):
        tune_thresholds(targets, probabilities, domains=["a", "b", "c"])


def test_tuning_fixes_scores_compressed_around_one_half() -> None:
    targets, probabilities = _compressed_dataset()
    at_half = _icbhi(targets, probabilities, (0.5, 0.5))
    assert at_half < 0.3  # every normal cycle flagged as wheezing, no crackle ever found
    chosen = tune_thresholds(targets, probabilities)  # icbhi_score by default
    assert _icbhi(targets, probabilities, chosen) == 1.0
    assert 0.4960 < chosen[0] < 0.5 < chosen[1] < 0.5048
    # on held-out cycles of the same model the tuned thresholds still beat 0.5 by far
    held_out, held_out_probabilities = _compressed_dataset(seed=1)
    assert (
        _icbhi(held_out, held_out_probabilities, chosen)
        > _icbhi(held_out, held_out_probabilities, (0.5, 0.5)) + 0.6
    )


def test_tuning_is_deterministic_and_order_free() -> None:
    targets, probabilities = _compressed_dataset(seed=2, n=400)
    order = np.random.default_rng(0).permutation(len(targets))
    for metric in ("icbhi_score", "f1"):
        first = tune_thresholds(targets, probabilities, metric=metric)
        assert tune_thresholds(targets, probabilities, metric=metric) == first
        assert tune_thresholds(targets[order], probabilities[order], metric=metric) == first


# ------------------------------------------------------------------------------------ degenerate data
def test_undefined_objectives_raise_and_choose_falls_back_to_one_half() -> None:
    targets, probabilities = _separable_dataset()
    all_normal = np.zeros_like(targets)
    with pytest.raises(ValueError, match="normal and abnormal"):
        tune_thresholds(all_normal, probabilities, metric="icbhi_score")
    choice = choose_thresholds(all_normal, probabilities, "icbhi_score")
    assert choice.thresholds == (0.5, 0.5) and choice.tuned == (False, False)

    no_wheeze = targets.copy()
    no_wheeze[:, 1] = 0
    with pytest.raises(ValueError, match=r"'wheeze'.*no positive"):
        tune_thresholds(no_wheeze, probabilities, metric="f1")
    choice = choose_thresholds(no_wheeze, probabilities, "f1")
    assert choice.tuned == (True, False) and choice.thresholds == (0.5, 0.5)  # crackle tuned to 0.5 (tie)
    choice = choose_thresholds(no_wheeze, probabilities, "f1", fallback=(0.3, 0.7))
    assert choice.tuned == (True, False) and choice.thresholds[1] == 0.7
    # icbhi_score still tunes a label without positives: it is never flagged (above every probability)
    t_crackle, t_wheeze = tune_thresholds(no_wheeze, probabilities, metric="icbhi_score")
    assert (
        t_wheeze > probabilities[:, 1].max()
        and _icbhi(no_wheeze, probabilities, (t_crackle, t_wheeze)) == 1.0
    )
    assert choose_thresholds(targets, probabilities, "fixed", fallback=(0.2, 0.8)).thresholds == (0.2, 0.8)
    with pytest.raises(ValueError, match="metric"):
        tune_thresholds(targets, probabilities, metric="accuracy")
    with pytest.raises(ValueError, match="threshold_objective"):
        choose_thresholds(targets, probabilities, "accuracy")


# --------------------------------------------------------------------------------------------- selection
def _eval_prediction(logits: np.ndarray, labels: np.ndarray) -> object:
    from transformers import EvalPrediction

    return EvalPrediction(predictions=logits, label_ids=labels)


def _logits(probabilities: np.ndarray) -> np.ndarray:
    return np.log(probabilities / (1 - probabilities))


def test_tuned_compute_metrics_scores_at_the_tuned_thresholds() -> None:
    targets, probabilities = _compressed_dataset()
    logits = _logits(probabilities)
    tuned = make_compute_metrics(threshold_objective="icbhi_score")(_eval_prediction(logits, targets))
    chosen = tune_thresholds(targets, sigmoid(logits))
    assert (tuned["threshold_crackle"], tuned["threshold_wheeze"]) == chosen
    assert tuned["thresholds_tuned"] == 2.0 and tuned["icbhi_score"] == 1.0
    fixed = make_compute_metrics()(_eval_prediction(logits, targets))
    assert fixed["threshold_crackle"] == 0.5 and "thresholds_tuned" not in fixed
    assert fixed["icbhi_score"] == pytest.approx(_icbhi(targets, probabilities, (0.5, 0.5)))
    with pytest.raises(ValueError, match="threshold_objective"):
        make_compute_metrics(threshold_objective="auc")


def test_selection_at_tuned_thresholds_prefers_the_better_ranked_checkpoint() -> None:
    """Checkpoint A ranks cycles perfectly but squeezes them around 0.5; B is mediocre but calibrated.
    At 0.5 B looks better; at each one's tuned thresholds A is, as its ranking deserves."""
    targets, compressed = _compressed_dataset()
    rng = np.random.default_rng(4)
    mediocre = np.clip(0.5 + 0.2 * (targets - 0.5) + rng.normal(0, 0.2, targets.shape), 0.01, 0.99)
    checkpoints = {"A": _logits(compressed), "B": _logits(mediocre)}

    def best(objective: str) -> str:
        compute = make_compute_metrics(threshold_objective=objective)
        scores = {
            name: compute(_eval_prediction(logits, targets))["icbhi_score"]
            for name, logits in checkpoints.items()
        }
        return max(scores, key=scores.get)

    assert best("fixed") == "B"
    assert best("icbhi_score") == "A"
