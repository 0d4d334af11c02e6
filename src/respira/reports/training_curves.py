"""The training-curves plot: loss components and the validation ICBHI score over training."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .figures import new_figure, save_figure

LOSS_KEYS: dict[str, str] = {
    "loss": "training loss (total)",
    "task_loss": "task loss (classification)",
    "aux_loss": "auxiliary loss",
    "eval_loss": "validation loss",
}
SCORE_KEY = "eval_icbhi_score"
END_OF_TRAINING_KEY = "train_runtime"
"""The key of the Trainer's end-of-training summary entry in ``log_history``."""
SELECTED_COLOUR = "#ffbf00"  # gold: no curve uses it


def _is_number(value: Any) -> bool:
    """A finite number, numpy's included (``inf`` would break the axes' autoscaling)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value))


def training_entries(log_history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The entries of ``log_history`` before the Trainer's end-of-training summary (all, without one)."""
    entries = [entry for entry in log_history if isinstance(entry, Mapping)]
    end = next((index for index, entry in enumerate(entries) if END_OF_TRAINING_KEY in entry), len(entries))
    return entries[:end]


def _x_axis(entries: Sequence[Mapping[str, Any]]) -> tuple[str | None, str]:
    """Epochs when training lasted at least one epoch, else steps, else the entry's position."""
    epochs = [float(entry["epoch"]) for entry in entries if _is_number(entry.get("epoch"))]
    if epochs and max(epochs) >= 1.0:
        return "epoch", "epoch"
    if any(_is_number(entry.get("step")) for entry in entries):
        return "step", "training step"
    if epochs:
        return "epoch", "epoch"
    return None, "log entry"


def _x(entry: Mapping[str, Any], index: int, x_key: str | None) -> float:
    value = entry.get(x_key) if x_key is not None else None
    return float(value) if _is_number(value) else float(index)


def _series(
    entries: Sequence[Mapping[str, Any]], key: str, x_key: str | None, scale: float = 1.0
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for index, entry in enumerate(entries):
        if _is_number(entry.get(key)):
            xs.append(_x(entry, index, x_key))
            ys.append(scale * float(entry[key]))
    return xs, ys


def training_curves_figure(
    log_history: Sequence[Mapping[str, Any]], *, best_step: int | None = None
) -> Figure:
    """The figure :func:`plot_training_curves` writes (its axes and lines can be inspected)."""
    entries = training_entries(log_history)
    x_key, x_label = _x_axis(entries)
    figure = new_figure(9.0, 5.8, margins=(0.8, 0.8, 1.45, 0.45))
    ax = figure.subplots()
    handles = []
    for key, label in LOSS_KEYS.items():
        xs, ys = _series(entries, key, x_key)
        if xs:
            marker = "o" if key == "eval_loss" or len(xs) < 30 else None
            handles += ax.plot(xs, ys, marker=marker, markersize=4, linewidth=1.6, label=f"{label} [{key}]")
    ax.set(xlabel=x_label, ylabel="loss")
    ax.grid(True, alpha=0.3)
    if x_key is not None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    xs, ys = _series(entries, SCORE_KEY, x_key, scale=100.0)
    if xs:
        score_axis = ax.twinx()
        label = f"validation ICBHI score, % [{SCORE_KEY}]"
        handles += score_axis.plot(
            xs, ys, color="black", linestyle="--", marker="s", markersize=4, label=label
        )
        score_axis.set(ylabel="validation ICBHI score (%)", ylim=(0.0, 100.0))
        evaluated = (entry for entry in entries if _is_number(entry.get(SCORE_KEY)))
        selected = next((entry for entry in evaluated if entry.get("step") == best_step), None)
        if selected is not None:
            x = _x(selected, entries.index(selected), x_key)
            ax.axvline(x, color="#555555", linestyle=":", linewidth=1.4)
            where = [f"step {int(selected['step'])}"] if _is_number(selected.get("step")) else []
            where += [f"epoch {float(selected['epoch']):g}"] if _is_number(selected.get("epoch")) else []
            label = "selected checkpoint" + (f" ({', '.join(where)})" if where else "")
            y = 100.0 * float(selected[SCORE_KEY])
            label += f": validation ICBHI score {y:.2f} %"
            star = {
                "marker": "*",
                "markersize": 16,
                "markerfacecolor": SELECTED_COLOUR,
                "markeredgecolor": "k",
            }
            handles += score_axis.plot([x], [y], linestyle="none", label=label, zorder=5, **star)
    if handles:
        figure.legend(handles=handles, loc="lower center", ncols=2, fontsize=9, frameon=False)
    else:
        empty = "no loss or ICBHI score in log_history"
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Training curves", fontsize=14)
    return figure


def plot_training_curves(
    log_history: Sequence[Mapping[str, Any]], path: str | Path, *, best_step: int | None = None
) -> Path:
    """Plot loss components and the validation ICBHI score of ``log_history``; return ``path``."""
    return save_figure(training_curves_figure(log_history, best_step=best_step), path)
