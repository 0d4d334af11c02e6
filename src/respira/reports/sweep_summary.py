"""A sweep's summary: every trial with its parameters and validation score, best first (``respira sweep``
writes ``sweep_summary.csv``, ``.md`` and ``.png``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from ..utils.files import write_text_atomic
from ..utils.tables import format_number
from .figures import new_figure, save_figure

__all__ = ["SUMMARY_FILES", "SweepTrial", "plot_sweep", "summary_rows", "write_sweep_summary"]

SUMMARY_FILES: tuple[str, ...] = ("sweep_summary.csv", "sweep_summary.md", "sweep_summary.png")
SCORE = "validation_icbhi_score"


@dataclass(frozen=True)
class SweepTrial:
    """One trial of an Optuna search, or one run of a grid."""

    name: str
    """``trial 3``, or the grid run's folder name (``learning_rate=0.001``)."""
    number: int
    """Its position in the sweep (the Optuna trial number, or the grid run's index)."""
    params: Mapping[str, Any]
    score: float | None
    """The validation ICBHI score (``None``: not finished, or no validation score)."""
    state: str = "complete"
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Other columns, e.g. the grid run's test score."""


def _order(trial: SweepTrial) -> tuple:
    finished = trial.score is not None and not math.isnan(trial.score)
    return (not finished, -(trial.score or 0.0) if finished else 0.0, trial.number)


def summary_rows(trials: Sequence[SweepTrial]) -> list[dict[str, Any]]:
    """One dict per trial, best validation score first (unscored trials last, in their order)."""
    names = list(dict.fromkeys(name for trial in trials for name in trial.params))
    extras = list(dict.fromkeys(name for trial in trials for name in trial.extra))
    return [
        {
            "rank": rank,
            "trial": trial.name,
            "state": trial.state,
            SCORE: trial.score,
            **{name: trial.params.get(name) for name in names},
            **{name: trial.extra.get(name) for name in extras},
        }
        for rank, trial in enumerate(sorted(trials, key=_order), start=1)
    ]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 and value != 0 else format_number(value, 4)
    return "" if value is None else str(value)


def _markdown(rows: list[dict[str, Any]], title: str) -> str:
    columns = list(rows[0]) if rows else ["rank", "trial", "state", SCORE]
    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[name]) for name in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    columns = list(rows[0]) if rows else ["rank", "trial", "state", SCORE]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{key: "" if value is None else value for key, value in row.items()} for row in rows])
    return buffer.getvalue()


def _numeric(values: Sequence[Any]) -> list[float] | None:
    try:
        return [float(value) for value in values]
    except (TypeError, ValueError):
        return None


def plot_sweep(trials: Sequence[SweepTrial], path: str | Path, *, title: str) -> Path:
    """The validation score per trial (with the best so far) and against each parameter, one panel each."""
    scored = sorted(
        (t for t in trials if t.score is not None and not math.isnan(t.score)), key=lambda t: t.number
    )
    names = list(dict.fromkeys(name for trial in trials for name in trial.params))
    figure = new_figure(4.2 * (1 + len(names)), 3.6)
    axes = figure.subplots(1, 1 + len(names), squeeze=False)[0]
    numbers, scores = [t.number for t in scored], [t.score for t in scored]
    axes[0].plot(numbers, scores, "o", color="tab:blue", label="trial")
    if scores:
        best = [max(scores[: index + 1]) for index in range(len(scores))]
        axes[0].step(numbers, best, where="post", color="tab:orange", label="best so far")
        axes[0].legend(loc="lower right", fontsize=8)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel("validation ICBHI score")
    axes[0].set_title("score per trial")
    for ax, name in zip(axes[1:], names, strict=True):
        values = [t.params.get(name) for t in scored]
        numeric = _numeric(values)
        if numeric is None:  # categories (e.g. an encoder name), in order of first appearance
            categories = list(dict.fromkeys(str(value) for value in values))
            ax.plot([categories.index(str(value)) for value in values], scores, "o", color="tab:blue")
            ax.set_xticks(range(len(categories)), labels=categories, rotation=20)
            ax.set_xlim(-0.5, len(categories) - 0.5)
        else:
            ax.plot(numeric, scores, "o", color="tab:blue")
            positive = [value for value in numeric if value > 0]
            if (
                len(positive) == len(numeric) and positive and max(positive) / min(positive) >= 10
            ):  # spans a decade or more
                ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_title(f"score per {name}")
    figure.suptitle(title)
    return save_figure(figure, path)


def write_sweep_summary(trials: Sequence[SweepTrial], folder: str | Path, *, title: str) -> list[Path]:
    """Write :data:`SUMMARY_FILES` into ``folder`` (best validation score first); return their paths."""
    folder = Path(folder)
    rows = summary_rows(trials)
    csv_path, markdown_path, png_path = (folder / name for name in SUMMARY_FILES)
    write_text_atomic(csv_path, _csv(rows))
    write_text_atomic(markdown_path, _markdown(rows, title))
    plot_sweep(trials, png_path, title=title)
    return [csv_path, markdown_path, png_path]
