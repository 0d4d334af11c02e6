"""fit_sample and learning_curve on synthetic samples whose right answer is known."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from respira.sites import SiteSample, choice, out_of_sample
from respira.sites.choice import fit_procedure
from respira.sites.out_of_sample import SiteFit, fit_sample, learning_curve
from respira.sites.scores import recording_classes, recording_probabilities

from .conftest import faint_crackle_sample, make_sample


@pytest.fixture(scope="module")
def backwards_fit(backwards_sample) -> SiteFit:
    """The backwards sample fitted with every candidate (200 resamples), which four tests read."""
    return fit_sample(backwards_sample, resamples=200)


@pytest.fixture(scope="module")
def faint_sample() -> SiteSample:
    """:func:`faint_crackle_sample`: crackles faint in every window, wheezes the model reads right."""
    return faint_crackle_sample()


@pytest.fixture(scope="module")
def faint_fit(faint_sample) -> SiteFit:
    """The faint-crackle sample fitted with every candidate (200 resamples), which two tests read."""
    return fit_sample(faint_sample, resamples=200)


def test_a_label_ranked_backwards_gets_a_head_that_scores_out_of_sample(backwards_sample, backwards_fit):
    fit = backwards_fit
    assert fit.chosen[0] in ("site_head", "anchored_head")
    assert fit.row("chosen")["icbhi_score"] > 0.85
    assert fit.row("chosen")["crackle_auc"] > 0.95
    assert fit.row("as_is")["crackle_auc"] < 0.1  # the model ranks crackles upside down
    assert fit.applies
    only_site = fit_sample(backwards_sample, candidates=("as_is", "thresholds", "site_head"), resamples=200)
    assert only_site.chosen[0] == "site_head"
    assert only_site.row("site_head")["icbhi_score"] > 0.85
    assert "anchored_head" not in {row["candidate"] for row in only_site.outer}


def test_a_label_the_model_reads_right_keeps_the_models_head(backwards_sample, backwards_fit):
    fit = backwards_fit
    assert fit.chosen[1] in ("as_is", "thresholds")
    weight, bias = backwards_sample.base_head
    np.testing.assert_array_equal(fit.head_weight[1], weight[1])
    assert fit.head_bias[1] == bias[1]


def test_a_model_right_on_both_labels_is_kept_as_is():
    sample = make_sample(crackle_backwards=False)
    fit = fit_sample(sample, resamples=200)
    assert set(fit.chosen) <= {"as_is", "thresholds"}
    np.testing.assert_allclose(sample.embeddings @ fit.head_weight.T + fit.head_bias, sample.base_logits)
    if fit.chosen == ("as_is", "as_is"):
        assert fit.thresholds == sample.base_thresholds


def test_the_written_head_decides_as_the_fitted_procedure(backwards_sample, backwards_fit):
    """The raw-space head (Platt scaling included) is one linear layer: applied to the embeddings it
    gives the recording probabilities the procedure scored, and its logits are affine in the input."""
    fitted = fit_procedure(backwards_sample)
    fit = backwards_fit
    logits = backwards_sample.embeddings.astype(np.float64) @ fit.head_weight.T + fit.head_bias
    count = len(backwards_sample.recordings)
    written = recording_probabilities(logits, backwards_sample.recording, count, "max", None)
    np.testing.assert_allclose(written, fitted.rules["chosen"].probabilities(backwards_sample), atol=1e-9)
    assert fit.thresholds == fitted.rules["chosen"].thresholds
    x = backwards_sample.embeddings.astype(np.float64)
    a, b = x[:5], x[5:10]
    head = fitted.rules["chosen"].heads[0]
    np.testing.assert_allclose(head(0.3 * a + 0.7 * b), 0.3 * head(a) + 0.7 * head(b), atol=1e-9)


def test_nested_cv_never_scores_a_unit_it_trained_on(backwards_sample, monkeypatch):
    calls: list[np.ndarray] = []
    real = out_of_sample.fit_procedure

    def recording(sample, train=None, **options):
        calls.append(np.arange(len(sample.recordings)) if train is None else np.asarray(train))
        return real(sample, train, **options)

    monkeypatch.setattr(out_of_sample, "fit_procedure", recording)
    fit = fit_sample(backwards_sample, outer_folds=4, resamples=20)
    units = backwards_sample.units
    # four outer folds; wheeze, which the model reads right, shows no gain of its own: kept, and the
    # four folds again without it; then the final fit on everything
    assert fit.kept == (1,) and len(calls) == 9
    for fold, train in enumerate(calls[:4] + calls[4:8]):
        held = np.flatnonzero(fit.folds == fold % 4)
        assert not set(units[held]) & set(units[train])
        assert np.array_equal(np.sort(np.concatenate([held, train])), np.arange(len(units)))
    assert sorted(np.unique(fit.folds)) == [0, 1, 2, 3]
    for unit in set(units):  # a unit's recordings are all in one fold
        assert len(set(fit.folds[units == unit])) == 1
    assert len(calls[8]) == len(units)


def test_inner_selection_sees_only_the_training_units(backwards_sample, monkeypatch):
    """Inside a procedure every head is fitted and every threshold tuned on the training recordings only."""
    seen: list[int] = []
    real = choice.ridge_paths

    def counting(embeddings, target, weights, logits):
        seen.append(embeddings.shape[0])
        return real(embeddings, target, weights, logits)

    monkeypatch.setattr(choice, "ridge_paths", counting)
    train = np.flatnonzero(np.isin(backwards_sample.units, [f"p{i}" for i in range(12)]))
    fit_procedure(backwards_sample, train)
    windows_in_train = int(np.isin(backwards_sample.recording, train).sum())
    assert seen and max(seen) == windows_in_train


def test_applies_needs_the_interval_above_all_normal_and_the_paired_gain_above_zero():
    """fit-site writes by the rule its card and ``predict`` say "serves" by: a chosen procedure whose
    point beats both but whose interval reaches all-normal (issue 58's 59.8 [41.9, 75.8]) does not apply."""

    def fit_with(low: float, gain_low: float) -> SiteFit:
        rows = [
            {"candidate": "as_is", "icbhi_score": 0.547},
            {"candidate": "chosen", "icbhi_score": 0.598, "icbhi_score_low": low, "icbhi_score_high": 0.758,
             "gain_over_as_is": 0.051, "gain_over_as_is_low": gain_low, "gain_over_as_is_high": 0.15},
            {"candidate": "all_normal", "icbhi_score": 0.5},
        ]  # fmt: skip
        return SiteFit(("as_is", "as_is"), None, None, (0.5, 0.5), rows, np.zeros(1), [], 1, 1, True)

    assert fit_with(0.51, 0.01).applies
    assert not fit_with(0.419, 0.01).applies
    assert not fit_with(0.51, -0.01).applies


def test_the_chosen_row_holds_its_gain_over_the_model_as_is_paired_by_patient(backwards_fit):
    fit = backwards_fit
    chosen, as_is = fit.row("chosen"), fit.row("as_is")
    assert chosen["gain_over_as_is"] == pytest.approx(chosen["icbhi_score"] - as_is["icbhi_score"])
    assert 0 < chosen["gain_over_as_is_low"] <= chosen["gain_over_as_is"] <= chosen["gain_over_as_is_high"]
    assert fit.applies  # a perfect head against one ranking crackles backwards: both parts shown


def test_topk_mean_aggregation_is_scored_through_the_detectors_rule():
    sample = make_sample(aggregation="topk_mean", top_k=2, units=16)
    fitted = fit_procedure(sample)
    rule = fitted.rules["chosen"]
    probabilities = rule.probabilities(sample)
    logits = rule.logits(sample)
    from respira.models.respira.windows import aggregate_windows

    first = aggregate_windows(1 / (1 + np.exp(-logits[sample.recording == 0])), "topk_mean", 2)
    np.testing.assert_allclose(probabilities[0], first, atol=1e-12)
    assert recording_classes(probabilities, rule.thresholds).shape == (len(sample.recordings),)


def test_learning_curve_scores_each_draw_on_the_other_units(backwards_sample):
    curve = learning_curve(backwards_sample, sizes=[5, 10], draws=2, resamples=50)
    sizes = {(row["units"], row["draw"]) for row in curve.rows}
    assert sizes == {(5, 0), (5, 1), (10, 0), (10, 1)}
    total = len(set(backwards_sample.units))
    for row in curve.rows:
        assert row["scored_units"] == total - row["units"]
    summary = {(row["units"], row["candidate"]): row for row in curve.summary}
    assert summary[(10, "all_normal")]["icbhi_score"] == 0.5
    assert summary[(10, "chosen")]["icbhi_score"] > summary[(10, "as_is")]["icbhi_score"]
    low, high = summary[(10, "chosen")]["icbhi_score_low"], summary[(10, "chosen")]["icbhi_score_high"]
    assert low <= summary[(10, "chosen")]["icbhi_score"] <= high


def test_a_win_the_noise_of_a_few_patients_could_give_keeps_the_model(monkeypatch):
    """Labels unrelated to the embeddings and a model that calls every recording normal: whatever pair
    scores best in the inner folds, it does not beat the model in enough patient-bootstrap resamples."""
    sample = make_sample(units=16, seed=3)
    rng = np.random.default_rng(0)
    shuffled = tuple(
        type(r)(r.path, bool(c), bool(w), r.unit, r.recording_id, r.duration)
        for r, (c, w) in zip(sample.recordings, rng.permutation(sample.labels), strict=True)
    )
    silent = (np.zeros_like(sample.base_head[0]), np.full(2, -3.0))
    logits = np.full_like(sample.base_logits, -3.0)
    noise = type(sample)(
        sample.embeddings, sample.recording, shuffled, logits, silent, sample.base_thresholds
    )
    fitted = fit_procedure(noise, selection="bonferroni")
    assert fitted.chosen == ("as_is", "as_is")
    best = max(fitted.inner_scores, key=fitted.inner_scores.get)
    assert best != "as_is/as_is"  # something won by chance, and the evidence rule set it aside
    monkeypatch.setattr(choice, "EVIDENCE", -np.inf)  # no evidence needed
    assert fit_procedure(noise, selection="bonferroni").chosen != ("as_is", "as_is")


MAX = ("max", None)
AS_IS = (MAX, "as_is", "as_is")


def test_the_evidence_rule_has_spread_with_a_few_patients_of_distinct_classes():
    """Five patients, one recording each, most of a class no other patient has: a pair right on one more
    recording than the model is not convincing (that patient is missing from a third of the resamples),
    however the patients' classes are spread."""
    from respira.sites import LabelledRecording, SiteSample

    flags = [(False, False), (True, False), (False, True), (True, True), (True, False)]
    recordings = tuple(
        LabelledRecording(Path(f"{i}.wav"), c, w, f"p{i}", f"r{i}", 4.0) for i, (c, w) in enumerate(flags)
    )
    part = SiteSample(
        np.zeros((5, 2), np.float32), np.arange(5), recordings, np.zeros((5, 2)), None, (0.5, 0.5)
    )
    as_is = np.zeros(5, dtype=np.int64)
    one_more = as_is.copy()
    one_more[2] = 2  # the wheeze recording, right
    for selection in ("bonferroni", "one_se_units"):
        chosen = choice._select(
            part, {AS_IS: as_is, (MAX, "thresholds", "thresholds"): one_more}, AS_IS, selection, 0
        )
        assert chosen == AS_IS


def test_the_evidence_needed_grows_with_the_pairs_compared():
    """A pair right on three more of twenty patients' recordings wins in about 96 % of resamples: enough
    against the model alone, not when fifteen pairs had a chance to win by luck."""
    from respira.sites import LabelledRecording, SiteSample

    recordings = tuple(
        LabelledRecording(Path(f"{i}.wav"), i % 2 == 1, False, f"p{i}", f"r{i}", 4.0) for i in range(20)
    )
    part = SiteSample(
        np.zeros((20, 2), np.float32), np.arange(20), recordings, np.zeros((20, 2)), None, (0.5, 0.5)
    )
    as_is = np.zeros(20, dtype=np.int64)
    better = as_is.copy()
    better[[1, 3, 5]] = 1  # three crackle recordings right
    pair = (MAX, "thresholds", "as_is")
    assert choice._select(part, {AS_IS: as_is, pair: better}, AS_IS, "bonferroni", 0) == pair
    others = {(MAX, *other): as_is for other in itertools.product(choice.CANDIDATES, repeat=2)}
    others.pop(pair)
    assert len(others) == 15
    compared = {AS_IS: as_is, pair: better, **others}
    assert choice._select(part, compared, AS_IS, "bonferroni", 0) == AS_IS
    # the outer nested CV guards against a lucky inner win: a gain clear of its own noise is enough
    assert choice._select(part, compared, AS_IS, "one_se_units", 0) == pair


def test_a_model_without_a_linear_head_is_fitted_with_its_own_head_only(backwards_sample):
    sample = replace(backwards_sample, base_head=None)
    fit = fit_sample(sample, resamples=50)
    assert set(fit.chosen) <= {"as_is", "thresholds"}
    assert fit.head_weight is None and fit.head_bias is None
    assert {row["candidate"] for row in fit.outer} == {"as_is", "thresholds", "chosen", "all_normal"}


def test_the_recording_rule_is_chosen_with_the_candidates_and_recorded(faint_sample, faint_fit):
    """Crackles a little louder in every window of a crackle recording, too little to see in its loudest
    window (:func:`faint_crackle_sample`): a head reads them through the mean of the windows, and the
    procedure chooses that rule (the model as is keeps its own); a label kept as the model has it keeps the
    model's rule in what is written."""
    faint = faint_sample
    fitted = fit_procedure(faint)
    assert fitted.chosen[0] in ("site_head", "anchored_head")
    assert (fitted.aggregation, fitted.top_k) == ("mean", None)
    assert fitted.rules["chosen"].recording_rule(faint) == ("mean", None)
    assert fitted.rules["as_is"].recording_rule(faint) == ("max", None)
    assert fitted.inner_scores["site_head/site_head@mean"] > fitted.inner_scores["site_head/site_head"]
    fit = faint_fit
    # wheeze, which the model reads right, shows no gain of its own: kept as the model has it, and with it
    # the model's own rule, which the written procedure (crackle's head refitted at it) records
    assert fit.kept == (1,) and fit.chosen[1] == "as_is" and fit.chosen[0] in ("site_head", "anchored_head")
    assert fit.to_json()["recording_aggregation"] == fit.aggregation == "max"
    assert {rule for rule, _ in fit.rules_by_fold} == {"max"}


def test_a_units_rule_keeps_the_model_when_an_inner_fold_must_lack_normal_patients():
    """Twelve patients, three of them normal: a pair right on every recording convinces ``bonferroni``
    and ``one_se_units`` without its guard, but with four inner folds one fold holds no normal patient, so
    ``one_se_units`` keeps the model as is; with three folds it lets the pair in."""
    from respira.sites import LabelledRecording, SiteSample

    flags = [(False, False)] * 3 + [(True, False)] * 9
    recordings = tuple(
        LabelledRecording(Path(f"{i}.wav"), c, w, f"p{i}", f"r{i}", 4.0) for i, (c, w) in enumerate(flags)
    )
    part = SiteSample(
        np.zeros((12, 2), np.float32), np.arange(12), recordings, np.zeros((12, 2)), None, (0.5, 0.5)
    )
    as_is = np.zeros(12, dtype=np.int64)
    right = np.array([0] * 3 + [1] * 9, dtype=np.int64)
    better = (MAX, "thresholds", "thresholds")
    predicted = {AS_IS: as_is, better: right}
    for rule in ("bonferroni", "one_se_units"):
        assert choice._select(part, predicted, AS_IS, rule, 0) == better
    assert choice._select(part, predicted, AS_IS, "one_se_units", 0, 4) == AS_IS
    assert choice._select(part, predicted, AS_IS, "one_se_units", 0, 3) == better
    # the model ranks crackles perfectly but its thresholds flag nothing: re-tuned thresholds win
    logits = np.where(right[:, None] == 1, 2.0, -2.0) * np.array([[1.0, 0.0]]) - np.array([[0.0, 2.0]])
    sample = SiteSample(part.embeddings, part.recording, recordings, logits, None, (0.95, 0.95))
    assert fit_procedure(sample, selection="bonferroni").chosen[0] == "thresholds"
    assert fit_procedure(sample, selection="one_se_units").chosen == ("as_is", "as_is")
    assert fit_procedure(sample, selection="one_se_units", inner_folds=3).chosen[0] == "thresholds"


def test_fit_site_keeps_the_selection_rules_its_benchmark_supports():
    """Issue 59: the default and one alternative; the rules measured and retired are refused."""
    assert choice.SELECTIONS == (choice.SELECTION, "bonferroni")
    for retired in ("one_se", "best", "p90", "p95", "bonferroni_units"):
        with pytest.raises(
            ValueError, match=f"selection must be one of one_se_units, bonferroni, got '{retired}'"
        ):
            choice.check_selection(retired)


def test_a_label_without_its_own_gain_stays_the_models_bit_for_bit(faint_sample, faint_fit):
    """Issue 82: the choice re-tuned wheeze's threshold and moved both labels to the mean of the windows
    though the model reads wheeze right (nothing to gain): wheeze keeps the model's head row, threshold and
    recording rule, crackle alone is fitted (at the model's rule), and each label's evidence is kept."""
    sample, fit = faint_sample, faint_fit
    crackle, wheeze = fit.labels
    assert crackle.served and crackle.candidate == fit.chosen[0] in ("site_head", "anchored_head")
    assert crackle.gain_interval[0] > 0 and crackle.auc_interval[0] > 0.5
    assert not wheeze.served and wheeze.candidate == fit.chosen[1] == "as_is" and fit.kept == (1,)
    assert wheeze.gain_interval[0] <= 0
    weight, bias = sample.base_head
    np.testing.assert_array_equal(fit.head_weight[1], weight[1])
    assert fit.head_bias[1] == bias[1] and fit.thresholds[1] == sample.base_thresholds[1]
    assert (fit.aggregation, fit.top_k) == (sample.aggregation, sample.top_k)
    # the rows are the written procedure's: its wheeze is the model as is's on every recording
    assert fit.row("chosen")["wheeze_auc"] == fit.row("as_is")["wheeze_auc"]
    assert fit.applies and fit.to_json()["kept"] == [1]
