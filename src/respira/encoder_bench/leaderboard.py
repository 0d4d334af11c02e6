"""The bench's leaderboard: every score row in ``results.csv``, the table (``leaderboard.md``,
``leaderboard.csv``, ``leaderboard.png``) and each model's results as Hub ``model-index`` entries."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..utils.tables import format_percent

__all__ = ["columns", "entries", "marked", "write_leaderboard"]

METRICS = {"icbhi_score": "ICBHI score", "crackle_auc": "crackle AUC", "wheeze_auc": "wheeze AUC"}
BASELINE_TITLES = {"all_normal": "all-normal", "class_prior": "class prior"}


def _metrics(row: dict) -> tuple[Any, str]:
    """A row's metrics and what it scores: in domain every metric per cycle, else the score per recording."""
    return (METRICS, "cycle") if row["task"] == "in_domain" else (("icbhi_score",), "recording")


def columns(rows: Sequence[dict]) -> list[tuple[str, str, str]]:
    """The leaderboard's ``(task title, column, metric)`` in order: the ICBHI score of every column, and in
    domain the crackle and wheeze AUCs too."""
    seen: dict[tuple[str, str, str], None] = {}
    for row in rows:
        for metric in _metrics(row)[0]:
            seen.setdefault((row["title"], row["column"], metric), None)
    return list(seen)


def entries(rows: Sequence[dict]) -> list[str]:
    """The models, in the order given, then the baselines."""
    models = [row["model"] for row in rows if row["entry"] == "probe"]
    return [*dict.fromkeys(models), *BASELINE_TITLES]


def _scores(rows: Sequence[dict], entry: str, column: tuple[str, str, str]) -> tuple[float, float, float]:
    """``(score, low, high)`` of ``entry`` in ``column`` (NaN where it has none)."""
    _, name, metric = column
    for row in rows:
        if row["column"] == name and (
            (entry in BASELINE_TITLES and row["entry"] == entry)
            or (row["entry"] == "probe" and row["model"] == entry)
        ):
            values = [row.get(metric + suffix) for suffix in ("", "_low", "_high")]
            return tuple(math.nan if v is None else float(v) for v in values)  # type: ignore[return-value]
    return math.nan, math.nan, math.nan


def marked(rows: Sequence[dict], column: tuple[str, str, str]) -> str | None:
    """The entry marked best in ``column``: the highest, only when the lower end of its 95 % interval lies
    above the next entry's score (baselines included); ``None`` otherwise."""
    scores = {entry: _scores(rows, entry, column) for entry in entries(rows)}
    scored = sorted((v[0], e) for e, v in scores.items() if not math.isnan(v[0]))
    if len(scored) < 2:
        return None
    (best, name), (following, _) = scored[-1], scored[-2]
    low = scores[name][1]
    return name if not math.isnan(low) and low > following and best > following else None


def _text(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "—"
    interval = "" if math.isnan(low) else f" ({100 * low:.1f}–{100 * high:.1f})"
    return f"{format_percent(value)}{interval}"


def _markdown(rows: Sequence[dict], names: list[tuple[str, str, str]]) -> str:
    lines = [
        "Scores in % with patient-bootstrap 95 % intervals; each model is its frozen encoder's linear probe "
        "(fit-site's site head). **Bold**: the best of a column, only where the lower end of its interval "
        "lies above the next entry's score.",
        "",
    ]
    for title in dict.fromkeys(title for title, _, _ in names):
        chosen = [column for column in names if column[0] == title]
        headers = [
            f"{name}, {METRICS[metric]}" if metric != "icbhi_score" else name for _, name, metric in chosen
        ]
        lines += [
            f"## {title}",
            "",
            "| model | " + " | ".join(headers) + " |",
            "|---" * (len(chosen) + 1) + "|",
        ]
        for entry in entries(rows):
            cells = []
            for column in chosen:
                text = _text(*_scores(rows, entry, column))
                cells.append(f"**{text}**" if marked(rows, column) == entry else text)
            lines.append(f"| {BASELINE_TITLES.get(entry, entry)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _figure(rows: Sequence[dict], names: list[tuple[str, str, str]]) -> Any:
    from ..reports.figures import new_figure

    listed = entries(rows)
    figure = new_figure(8.0, 1.2 + 0.35 * len(names) * max(1, len(listed)) ** 0.5)
    axis = figure.add_subplot()
    for offset, entry in enumerate(listed):
        ys, xs, lows, highs = [], [], [], []
        for position, column in enumerate(names):
            value, low, high = _scores(rows, entry, column)
            if math.isnan(value):
                continue
            ys.append(position + (offset - (len(listed) - 1) / 2) * 0.8 / len(listed))
            xs.append(100 * value)
            lows.append(0.0 if math.isnan(low) else 100 * (value - low))
            highs.append(0.0 if math.isnan(high) else 100 * (high - value))
        axis.errorbar(xs, ys, xerr=[lows, highs], fmt="o", markersize=4, capsize=2,
                      label=BASELINE_TITLES.get(entry, entry))  # fmt: skip
    axis.set_yticks(range(len(names)))
    axis.set_yticklabels([f"{name}, {METRICS[metric]}" for _, name, metric in names], fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel("score (%), patient-bootstrap 95 % interval")
    axis.legend(fontsize=7, loc="best")
    return figure


def model_index(rows: Sequence[dict], model: str) -> dict[str, Any]:
    """``{"model-index": ...}``: ``model``'s probe scores as Hub eval results a card's metadata can carry."""
    from huggingface_hub import EvalResult
    from huggingface_hub.repocard_data import eval_results_to_model_index

    from ..hub.card_results import HUB_METRIC_ARGS, HUB_METRIC_ID

    results = []
    for row in rows:
        if row["entry"] != "probe" or row["model"] != model:
            continue
        for metric in _metrics(row)[0]:
            if row.get(metric) is None or math.isnan(float(row[metric])):
                continue
            results.append(
                EvalResult(
                    task_type="audio-classification",
                    task_name="Respiratory sound classification (frozen linear probe)",
                    dataset_type=row["dataset"],
                    dataset_name=row["column"],
                    dataset_split=row["title"],
                    metric_type=HUB_METRIC_ID if metric == "icbhi_score" else "roc_auc",
                    metric_args=HUB_METRIC_ARGS["icbhi_score"] if metric == "icbhi_score" else None,
                    metric_name=f"{METRICS[metric]} per {_metrics(row)[1]} (%)",
                    metric_value=round(100 * float(row[metric]), 2),
                )
            )
    return {"model-index": eval_results_to_model_index(f"{model} (respira bench)", results)}


def write_leaderboard(rows: Sequence[dict], folder: Path) -> list[Path]:
    """Write ``results.csv``, ``leaderboard.md`` / ``.csv`` / ``.png`` and ``model_index/MODEL.yaml`` into
    ``folder`` (a staging folder); return the paths."""
    import yaml

    from ..reports.figures import save_figure

    names = columns(rows)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, keys)
        writer.writeheader()
        writer.writerows(rows)
    with (folder / "leaderboard.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["entry"]
        for title, name, metric in names:
            header += [f"{title} | {name} | {metric}{s}" for s in ("", "_low", "_high", "_best")]
        writer.writerow(header)
        for entry in entries(rows):
            line: list[Any] = [BASELINE_TITLES.get(entry, entry)]
            for column in names:
                line += [*_scores(rows, entry, column), marked(rows, column) == entry]
            writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in line])
    (folder / "leaderboard.md").write_text(_markdown(rows, names) + "\n", encoding="utf-8")
    save_figure(_figure(rows, names), folder / "leaderboard.png")
    (folder / "model_index").mkdir()
    written = [folder / n for n in ("results.csv", "leaderboard.csv", "leaderboard.md", "leaderboard.png")]
    for model in entries(rows)[: -len(BASELINE_TITLES)]:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._") or "model"
        path = folder / "model_index" / f"{name}.yaml"
        path.write_text(yaml.safe_dump(model_index(rows, model), sort_keys=False), encoding="utf-8")
        written.append(path)
    return written
