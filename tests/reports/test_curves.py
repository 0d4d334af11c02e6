"""respira.reports.curves: ROC, precision–recall and threshold plots, their values and operating points
(the curves and average precision against scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from sklearn import metrics as sk

from respira.metrics import icbhi_scores, roc_auc
from respira.metrics.multilabel import average_precision
from respira.models.respira.decision import decide_flags
from respira.models.respira.labels import flags_to_classes
from respira.reports.curves import (
    CURVE_FILES,
    THRESHOLD_FILE,
    label_curve_figures,
)
from respira.reports.figures import save_figures

TARGETS = np.array([[0, 1], [0, 0], [1, 0], [1, 0], [0, 0], [1, 1]])
PROBABILITIES = np.array([[0.1, 0.8], [0.6, 0.3], [0.7, 0.2], [0.4, 0.6], [0.2, 0.1], [0.9, 0.75]])
THRESHOLDS = (0.5, 0.7)
# crackle at 0.5: called rows 1, 2, 5 → Se 2/3, Sp 2/3, precision 2/3
# wheeze at 0.7: called rows 0, 5 → Se 1, Sp 1, precision 1


def _decided() -> np.ndarray:
    return decide_flags(PROBABILITIES, THRESHOLDS).present


def _line(ax, prefix: str):
    (line,) = [line for line in ax.get_lines() if str(line.get_label()).startswith(prefix)]
    return line


def _legend(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_operating_points_and_areas_are_where_the_decisions_put_them() -> None:
    figures = label_curve_figures(TARGETS, PROBABILITIES, _decided(), thresholds=THRESHOLDS)
    assert list(figures) == [*CURVE_FILES, THRESHOLD_FILE]
    roc, pr = (figures[name].axes for name in CURVE_FILES)
    expected = {0: (2 / 3, 2 / 3, 2 / 3), 1: (1.0, 1.0, 1.0)}  # Se, Sp, precision
    for index, (se, sp, precision) in expected.items():
        point = _line(roc[index], "at the model's threshold")
        assert point.get_xdata().tolist() == pytest.approx([1 - sp])
        assert point.get_ydata().tolist() == pytest.approx([se])
        point = _line(pr[index], "at the model's threshold")
        assert point.get_xdata().tolist() == pytest.approx([se])
        assert point.get_ydata().tolist() == pytest.approx([precision])
        auc = roc_auc(TARGETS[:, index], PROBABILITIES[:, index])
        assert f"ROC (AUC {auc:.3f})" in _legend(roc[index])
        ap = average_precision(TARGETS[:, index], PROBABILITIES[:, index])
        assert f"precision–recall (AP {ap:.3f})" in _legend(pr[index])
    assert _legend(roc[0])[-1] == "at the model's threshold 0.50: Se 0.67, Sp 0.67"
    assert roc[0].get_title() == "crackle: 3 of 6 cycles positive"


def test_threshold_plot_scores_each_threshold_with_the_other_at_the_model() -> None:
    figures = label_curve_figures(TARGETS, PROBABILITIES, _decided(), thresholds=THRESHOLDS)
    axes = figures[THRESHOLD_FILE].axes
    classes = flags_to_classes(TARGETS)
    for index in range(2):
        marked = _line(axes[index], "the model's threshold")
        assert list(marked.get_xdata()) == [THRESHOLDS[index]] * 2
        score = _line(axes[index], "ICBHI score")
        sensitivity = _line(axes[index], "sensitivity")
        for threshold, value, se in zip(
            score.get_xdata(), score.get_ydata(), sensitivity.get_ydata(), strict=True
        ):
            pair = list(THRESHOLDS)
            pair[index] = threshold
            predicted = decide_flags(PROBABILITIES, pair).classes
            assert value == pytest.approx(icbhi_scores(classes, predicted, warn=False)["icbhi_score"])
            positives = TARGETS[:, index] == 1
            assert se == pytest.approx(np.mean(PROBABILITIES[positives, index] >= threshold))
        specificity = _line(axes[index], "specificity").get_ydata()
        negatives = PROBABILITIES[TARGETS[:, index] == 0, index]
        assert specificity == pytest.approx([np.mean(negatives < t) for t in score.get_xdata()])
        assert THRESHOLDS[index] in score.get_xdata().tolist()


@pytest.mark.figures
def test_a_label_with_one_class_has_no_curve_and_argmax_models_no_threshold_plot(tmp_path: Path) -> None:
    targets = TARGETS.copy()
    targets[:, 1] = 0  # no wheeze
    decided = _decided()
    figures = label_curve_figures(targets, PROBABILITIES, decided, unit="recording")
    written = save_figures(figures, tmp_path / "report")
    assert [path.name for path in written] == list(CURVE_FILES)
    for path in written:
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 300 and image.std() > 0.05
    wheeze = figures["roc_curves.png"].axes[1]
    assert not wheeze.axison
    assert [text.get_text() for text in wheeze.texts] == ["no curve:\nno positive recordings for wheeze"]
    assert "the model's decisions" in _legend(figures["roc_curves.png"].axes[0])[-1]
    assert np.isnan(roc_auc(targets[:, 1], PROBABILITIES[:, 1]))
    assert np.isnan(average_precision(targets[:, 1], PROBABILITIES[:, 1]))


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Random labels and scores, half of them with many ties (scores rounded to one decimal)."""
    rng = np.random.default_rng(0)
    cases = []
    while len(cases) < 60:
        n = int(rng.integers(2, 80))
        targets = rng.integers(0, 2, n)
        if targets.min() < targets.max():
            cases.append((targets, rng.random(n) if len(cases) % 2 else np.round(rng.random(n), 1)))
    return cases


def test_average_precision_equals_scikit_learn() -> None:
    for targets, scores in _cases():
        assert average_precision(targets, scores) == pytest.approx(
            sk.average_precision_score(targets, scores), abs=1e-12
        )
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5 + 1 / 3)
    assert np.isnan(average_precision([0, 0], [0.2, 0.4]))


@pytest.mark.parametrize("case", range(4))
def test_the_drawn_curves_are_scikit_learns(case: int) -> None:
    targets, scores = _cases()[case]
    flags, probabilities = np.column_stack([targets, 1 - targets]), np.column_stack([scores, 1 - scores])
    figures = label_curve_figures(flags, probabilities, probabilities >= 0.5)
    roc = _line(figures["roc_curves.png"].axes[0], "ROC")
    fpr, tpr, _ = sk.roc_curve(targets, scores, drop_intermediate=False)
    np.testing.assert_allclose(roc.get_xdata(), fpr, atol=1e-12)
    np.testing.assert_allclose(roc.get_ydata(), tpr, atol=1e-12)
    pr = _line(figures["precision_recall_curves.png"].axes[0], "precision–recall")
    precision, recall, _ = sk.precision_recall_curve(targets, scores)
    np.testing.assert_allclose(pr.get_xdata(), recall[::-1], atol=1e-12)
    np.testing.assert_allclose(pr.get_ydata(), precision[::-1], atol=1e-12)
    assert pr.get_drawstyle() == "steps-pre"
