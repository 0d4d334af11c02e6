"""A report's figures: its confusion matrix, and per label ROC, precision–recall and the scores against the
label's threshold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.multilabel import average_precision, ranked_counts, roc_auc
from ..models.respira.labels import MULTI_LABEL_NAMES, flags_to_classes
from .figures import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVE_FILES: tuple[str, ...] = ("roc_curves.png", "precision_recall_curves.png")
THRESHOLD_FILE = "threshold_curves.png"
GRID = np.linspace(0.0, 1.0, 201)
QUANTILES = 301
"""Quantiles of the label's probabilities added to the threshold plot's ``GRID`` (and the model's own)."""
CURVE_COLOUR, POINT_COLOUR, CHANCE_COLOUR = "#1f77b4", "#d62728", "#7f7f7f"
WIDTH, HEIGHT = 12.0, 5.4  # the figures' size in inches (their panels at fixed margins)


def _operating_point(y: np.ndarray, called: np.ndarray) -> tuple[float, float, float]:
    """(sensitivity, specificity, precision) of the 0/1 decisions ``called`` (both classes in ``y``)."""
    return called[y == 1].mean(), 1.0 - called[y == 0].mean(), y[called].mean() if called.any() else np.nan


def _undefined(ax: Any, name: str, y: np.ndarray, unit: str) -> bool:
    if 0 < y.sum() < y.size:
        return False
    which = "positive" if y.sum() == 0 else "negative"
    ax.text(0.5, 0.5, f"no curve:\nno {which} {unit}s for {name}", ha="center", va="center", fontsize=11)
    ax.set_axis_off()
    return True


def _decision_label(threshold: float | None) -> str:
    return "the model's decisions" if threshold is None else f"at the model's threshold {threshold:.2f}"


def _roc_panel(ax: Any, name: str, y: np.ndarray, s: np.ndarray, called: np.ndarray, t: float | None) -> None:
    _, tps, fps = ranked_counts(y, s)
    fpr, tpr = np.r_[0.0, fps / (y.size - y.sum())], np.r_[0.0, tps / y.sum()]
    ax.plot(fpr, tpr, color=CURVE_COLOUR, lw=2, label=f"ROC (AUC {roc_auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color=CHANCE_COLOUR, ls="--", lw=1, label="chance (AUC 0.5)")
    se, sp, _ = _operating_point(y, called)
    point = f"{_decision_label(t)}: Se {se:.2f}, Sp {sp:.2f}"
    ax.plot([1 - sp], [se], "o", color=POINT_COLOUR, ms=9, label=point)
    ax.set(xlabel="1 − specificity (false positive rate)", ylabel="sensitivity (true positive rate)")
    ax.legend(loc="lower right", fontsize=9)


def _pr_panel(ax: Any, name: str, y: np.ndarray, s: np.ndarray, called: np.ndarray, t: float | None) -> None:
    _, tps, fps = ranked_counts(y, s)
    precision, recall = np.r_[1.0, tps / (tps + fps)], np.r_[0.0, tps / y.sum()]
    curve = f"precision–recall (AP {average_precision(y, s):.3f})"
    ax.step(recall, precision, where="pre", color=CURVE_COLOUR, lw=2, label=curve)
    prevalence = y.mean()
    ax.axhline(prevalence, color=CHANCE_COLOUR, ls="--", lw=1, label=f"chance (prevalence {prevalence:.2f})")
    se, _, ppv = _operating_point(y, called)
    if np.isfinite(ppv):
        point = f"{_decision_label(t)}: Se {se:.2f}, precision {ppv:.2f}"
        ax.plot([se], [ppv], "o", color=POINT_COLOUR, ms=9, label=point)
    else:  # no positive call: the point has no precision
        ax.plot([], [], "o", color=POINT_COLOUR, ms=9, label=f"{_decision_label(t)}: no {name} call")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision")
    ax.legend(loc="best", fontsize=9, framealpha=0.9)


def _threshold_panel(
    ax: Any, index: int, truth: np.ndarray, scores: np.ndarray, thresholds: Sequence[float]
) -> None:
    name, other = MULTI_LABEL_NAMES[index], MULTI_LABEL_NAMES[1 - index]
    y = truth[:, index] == 1
    own = float(thresholds[index])
    quantiles = np.quantile(scores[:, index], np.linspace(0.0, 1.0, QUANTILES))  # where the scores crowd
    grid = np.union1d(np.union1d(GRID, quantiles), [own])
    limits = np.tile(np.asarray(thresholds, dtype=np.float64), (grid.size, 1))
    limits[:, index] = grid
    called = scores[None, :, :] >= limits[:, None, :]  # [thresholds, examples, labels]
    right = flags_to_classes(called) == flags_to_classes(truth)
    normal = flags_to_classes(truth) == 0
    with np.errstate(invalid="ignore"):  # a side without examples is nan: the score is the other side
        sides = np.stack([right[:, normal].mean(axis=1), right[:, ~normal].mean(axis=1)])
        curves = {
            f"sensitivity ({name})": ("#2ca02c", called[:, y, index].mean(axis=1)),
            f"specificity ({name})": ("#9467bd", 1.0 - called[:, ~y, index].mean(axis=1)),
            f"ICBHI score ({other} at {thresholds[1 - index]:.2f})": ("#ff7f0e", np.nanmean(sides, axis=0)),
        }
    at = int(np.searchsorted(grid, own))
    for label, (colour, values) in curves.items():
        ax.plot(grid, values, color=colour, lw=2, label=label)
    ax.axvline(own, color=POINT_COLOUR, ls="--", lw=1.5, label=f"the model's threshold {own:.2f}")
    for _, values in curves.values():
        ax.plot([own], [values[at]], "o", color=POINT_COLOUR, ms=6)
    ax.set(xlim=(0, 1), ylim=(-0.02, 1.02), ylabel="score")
    ax.set_xlabel(f"{name} threshold (present when its probability is at least this)")
    ax.legend(loc="best", fontsize=9, framealpha=0.9)


def label_curve_figures(
    targets: Any,
    probabilities: Any,
    decided: Any,
    *,
    thresholds: Sequence[float] | None = None,
    unit: str = "cycle",
) -> dict[str, Figure]:
    """The report's curve figures by file name (``thresholds=None``: no threshold plot)."""
    truth, scores = np.asarray(targets, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)
    called = np.asarray(decided, dtype=bool)
    kinds: dict[str, tuple[str, Any]] = {
        CURVE_FILES[0]: ("ROC curves", _roc_panel),
        CURVE_FILES[1]: ("precision–recall curves", _pr_panel),
    }
    if thresholds is not None:
        kinds[THRESHOLD_FILE] = ("scores against each label's threshold", None)
    figures = {}
    for file_name, (kind, panel) in kinds.items():
        figure = new_figure(WIDTH, HEIGHT, margins=(0.6, 0.2, 0.6, 0.75))
        axes = figure.subplots(1, len(MULTI_LABEL_NAMES), gridspec_kw={"wspace": 0.2})
        for index, (ax, name) in enumerate(zip(axes, MULTI_LABEL_NAMES, strict=True)):
            ax.set_title(f"{name}: {int(truth[:, index].sum())} of {len(truth)} {unit}s positive")
            if _undefined(ax, name, truth[:, index], unit):
                continue
            if panel is None:
                _threshold_panel(ax, index, truth, scores, thresholds)
            else:
                threshold = None if thresholds is None else float(thresholds[index])
                panel(ax, name, truth[:, index], scores[:, index], called[:, index], threshold)
                ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
            ax.grid(alpha=0.3)
        figure.suptitle(f"{kind} ({len(truth)} {unit}s)", fontsize=14)
        figures[file_name] = figure
    return figures


def plot_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path
) -> Path:
    """Each cell's cycle count and its fraction of the true class (the colour); return ``path``."""
    counts = np.asarray(cm, dtype=np.float64)
    if counts.shape != (len(class_names), len(class_names)):
        raise ValueError(f"{len(class_names)} class names for a confusion matrix of shape {counts.shape}")
    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.full_like(counts, np.nan), where=row_sums > 0)
    figure = new_figure(6.8, 5.4, margins=(0.9, 0.1, 0.7, 0.45))
    ax = figure.subplots()
    image = ax.imshow(np.ma.masked_invalid(fractions), cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), count in np.ndenumerate(counts):
        fraction = fractions[i, j]
        text = f"{int(count)}\n({fraction:.2f})" if np.isfinite(fraction) else f"{int(count)}"
        colour = "white" if fraction > 0.5 else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=11, color=colour)
    positions = np.arange(len(class_names))
    ax.set_xticks(positions, labels=list(class_names))
    ax.set_yticks(positions, labels=list(class_names))
    ax.set(xlabel="predicted class", ylabel="true class")
    figure.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    ax.set_title(f"Confusion matrix ({int(counts.sum())} cycles)", fontsize=13)
    return save_figure(figure, path)
