"""The bench's leaderboard: every score row in ``results.csv``, the table (``leaderboard.md``,
``leaderboard.csv``, ``leaderboard.png``), each model's results as Hub ``model-index`` entries, and the
best of each column, marked from a paired patient-bootstrap difference with the runner-up
(:func:`mark_best`)."""

from __future__ import annotations

import csv
import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.tables import format_percent
from .tasks import BENCH, TASKS

__all__ = ["column_marks", "columns", "entries", "mark_best", "marked", "model_index", "write_leaderboard"]

METRICS = {"icbhi_score": "ICBHI score", "crackle_auc": "crackle AUC", "wheeze_auc": "wheeze AUC"}
BASELINE_TITLES = {"all_normal": "all-normal", "class_prior": "class prior"}
COST = {"parameters": "parameters", "embedding_size": "embedding size", "real_time": "× real time",
        "machine": "machine"}  # fmt: skip
"""The cost columns of each model: its encoder's parameters, its embedding's size, how many times real
time it embedded on the machine that ran it (the cache's first pass), and that machine."""
INTERNAL = ("paired", "folds", "drawn")
"""Row keys the run reads (the pairing, the suite's splits) that ``results.csv`` leaves out."""


def _listed(row: Mapping[str, Any]) -> bool:
    return row["entry"] == "probe" or row["entry"] in BASELINE_TITLES


def columns(rows: Sequence[dict]) -> list[tuple[str, str, str]]:
    """The leaderboard's ``(task title, column, metric)`` in order: the ICBHI score and the crackle and
    wheeze AUCs of every column."""
    seen: dict[tuple[str, str, str], None] = {}
    for row in (row for row in rows if _listed(row)):
        for metric in METRICS:
            seen.setdefault((row["title"], row["column"], metric), None)
    return list(seen)


def entries(rows: Sequence[dict]) -> list[str]:
    """The models, in the order given, then the baselines."""
    models = [row["model"] for row in rows if row["entry"] == "probe"]
    return [*dict.fromkeys(models), *BASELINE_TITLES]


def _row(rows: Sequence[dict], entry: str, column: tuple[str, str, str]) -> dict | None:
    """``entry``'s row in ``column`` (a baseline's: the first model's)."""
    title, name, _ = column
    for row in rows:
        if (
            row["column"] == name
            and row["title"] == title
            and (
                (entry in BASELINE_TITLES and row["entry"] == entry)
                or (row["entry"] == "probe" and row["model"] == entry)
            )
        ):
            return row
    return None


def _number(value: Any) -> float:
    return math.nan if value is None or value == "" else float(value)


def _scores(rows: Sequence[dict], entry: str, column: tuple[str, str, str]) -> tuple[float, float, float]:
    """``(score, low, high)`` of ``entry`` in ``column`` (NaN where it has none)."""
    row = _row(rows, entry, column) or {}
    return tuple(_number(row.get(column[2] + suffix)) for suffix in ("", "_low", "_high"))  # type: ignore[return-value]


def _parts(payload: Mapping[str, Any]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    count = len(payload["units"])
    parts = []
    for scored, classes, probabilities in payload["parts"]:
        mask = np.zeros(count, bool)
        mask[np.asarray(scored, np.int64)] = True
        parts.append(
            (
                mask,
                np.asarray(classes, np.int64),
                None if probabilities is None else np.asarray(probabilities),
            )
        )
    return parts


def _mark(rows: Sequence[dict], column: tuple[str, str, str], resamples: int, seed: int) -> dict[str, Any]:
    """``column``'s best entry (or ``None``), the runner-up and the paired difference between them."""
    from ..metrics.recording_level import paired_differences

    metric = column[2]
    ranked = sorted(((v[0], e) for e in entries(rows) if not math.isnan((v := _scores(rows, e, column))[0])),
                    reverse=True)  # fmt: skip
    paired = [e for _, e in ranked if (_row(rows, e, column) or {}).get("paired") is not None]
    if len(ranked) < 2 or len(paired) < 2 or ranked[0][1] != paired[0]:
        return {"best": None, "leader": None}
    best, runner_up = paired[:2]
    winner, other = _row(rows, best, column), _row(rows, runner_up, column)
    payload = winner["paired"]  # type: ignore[index]
    gain = paired_differences(
        np.asarray(payload["labels"]), payload["units"], _parts(payload), _parts(other["paired"]),  # type: ignore[index]
        keys=(metric,), resamples=resamples, seed=seed,
    )[metric]  # fmt: skip
    _, low, high = _scores(rows, best, column)
    prior = _scores(rows, "class_prior", column)[0]
    clear = (
        gain["gain_low"] > 0
        and gain["gain_high"] > gain["gain_low"]
        and (high > low or best == "all_normal")  # all-normal is 50 in every resample by construction
        and (math.isnan(prior) or ranked[1][1] != "class_prior" or low > prior)
    )
    return {"best": best if clear else None, "leader": best, "over": runner_up, **gain}


def column_marks(rows: Sequence[dict], *, resamples: int = 1000, seed: int = 0) -> list[list[Any]]:
    """``[[column, mark], ...]`` (JSON-ready) of every column of ``rows``: its best entry (``None``), its
    leader (the highest entry with predictions), the runner-up and their paired difference."""
    return [[list(column), _mark(rows, column, resamples, seed)] for column in columns(rows)]


def mark_best(
    rows: list[dict], *, resamples: int = 1000, seed: int = 0, marks: Sequence[Sequence[Any]] | None = None
) -> list[dict]:
    """``rows`` with each column's mark (``marks``, else :func:`column_marks`) and without the run's own
    keys (:data:`INTERNAL`): ``METRIC_best`` on every listed row, and on the leader's ``METRIC_over`` (the
    runner-up) and ``METRIC_gain`` with its paired interval. The leader is marked best only where the
    patient-bootstrap 95 % interval of its difference with the runner-up, over the same patient
    resamples, lies above 0 and its own interval is not of zero width."""
    for column, mark in marks if marks is not None else column_marks(rows, resamples=resamples, seed=seed):
        metric = column[2]
        for row in rows:
            if row["column"] != column[1] or row["title"] != column[0] or not _listed(row):
                continue
            entry = row["entry"] if row["entry"] != "probe" else row["model"]
            row[f"{metric}_best"] = mark["best"] == entry
            if entry == mark["leader"]:
                row[f"{metric}_over"] = mark["over"]
                row |= {f"{metric}_{key}": value for key, value in mark.items() if key.startswith("gain")}
    return [{key: value for key, value in row.items() if key not in INTERNAL} for row in rows]


def marked(rows: Sequence[dict], column: tuple[str, str, str]) -> str | None:
    """The entry :func:`mark_best` marked best in ``column``; ``None`` where none is."""
    for entry in entries(rows):
        if str((_row(rows, entry, column) or {}).get(f"{column[2]}_best")) == "True":
            return entry
    return None


def _text(value: float, low: float, high: float, spread: float = math.nan) -> str:
    if math.isnan(value):
        return "—"
    interval = "" if math.isnan(low) else f" ({100 * low:.1f}–{100 * high:.1f})"
    return f"{format_percent(value)}{interval}" + ("" if math.isnan(spread) else f" ±{100 * spread:.1f}")


def _cell(rows: Sequence[dict], entry: str, column: tuple[str, str, str]) -> str:
    spread = _number((_row(rows, entry, column) or {}).get(f"{column[2]}_draw_sd"))
    text = _text(*_scores(rows, entry, column), spread)
    return f"**{text}**" if marked(rows, column) == entry else text


def _table(rows: Sequence[dict], chosen: Sequence[tuple[str, str, str]], headers: Sequence[str]) -> list[str]:
    lines = ["| model | " + " | ".join(headers) + " |", "|---" * (len(chosen) + 1) + "|"]
    for entry in entries(rows):
        cells = [_cell(rows, entry, column) for column in chosen]
        lines.append(f"| {BASELINE_TITLES.get(entry, entry)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _costs(costs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = ["## cost", "", "| model | " + " | ".join(COST.values()) + " |", "|---" * (len(COST) + 1) + "|"]
    for model, cost in costs.items():
        cells = [f"{cost[key]:,}" if isinstance(cost.get(key), int) else
                 f"{cost[key]:.0f}" if isinstance(cost.get(key), float) and not math.isnan(cost[key]) else
                 str(cost.get(key) or "—") for key in COST]  # fmt: skip
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _markdown(rows: Sequence[dict], names: list[tuple[str, str, str]], costs: Mapping[str, Any],
              suite: str | None) -> str:  # fmt: skip
    lines = [
        "Scores in % with patient-bootstrap 95 % intervals (a resample without a normal or an abnormal "
        "recording, or without a label's positive and negative, is left out and counted in results.csv); "
        "± the standard deviation over the draws of a site's patients. Each model is its frozen encoder's "
        "linear probe (fit-site's site head). **Bold**: the best of a column, only where the paired "
        "patient-bootstrap 95 % interval of its difference with the runner-up lies above 0 and its own "
        "interval is not of zero width.",
        "",
    ]
    if suite:
        lines += [f"Task suite: {suite}.", ""]
    for title in dict.fromkeys(title for title, _, _ in names):
        chosen = [column for column in names if column[0] == title]
        lines += [f"## {title}", ""]
        if len({name for _, name, _ in chosen}) == 1:
            lines += _table(rows, chosen, [f"{chosen[0][1]}, {METRICS[m]}" for _, _, m in chosen])
            continue
        for metric, label in METRICS.items():
            some = [column for column in chosen if column[2] == metric]
            lines += [f"### {label}", "", *_table(rows, some, [name for _, name, _ in some])]
    return "\n".join([*lines, *(_costs(costs) if costs else [])])


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
BASELINE_COLOURS = {"all_normal": "#000000", "class_prior": "#7f7f7f"}


def colours(listed: Sequence[str]) -> dict[str, str]:
    """Each entry's colour: a baseline's its own, a model's chosen by its name (the next free one where two
    names meet), so a model keeps its colour whatever else is benched."""
    chosen = dict(BASELINE_COLOURS)
    for entry in (entry for entry in listed if entry not in BASELINE_COLOURS):
        start = zlib.crc32(entry.encode()) % len(PALETTE)
        taken = set(chosen.values())
        free = [PALETTE[(start + step) % len(PALETTE)] for step in range(len(PALETTE))]
        chosen[entry] = next((colour for colour in free if colour not in taken), free[0])
    return chosen


def _panel(axis: Any, rows: Sequence[dict], chosen: Sequence[tuple[str, str, str]], colour: dict) -> None:
    """One protocol's metric: every entry's score and interval per column, a zero-width interval hollow."""
    listed = entries(rows)
    for offset, entry in enumerate(listed):
        for position, column in enumerate(chosen):
            value, low, high = _scores(rows, entry, column)
            if math.isnan(value):
                continue
            y = position + (offset - (len(listed) - 1) / 2) * 0.8 / len(listed)
            flat = not high - low > 0  # a zero-width interval, hollow; no interval (the prior's), a cross
            spread = [[0.0], [0.0]] if math.isnan(low) else [[100 * (value - low)], [100 * (high - value)]]
            marker = "x" if math.isnan(low) else "D" if flat else "o"
            face = "none" if marker == "D" else colour[entry]
            axis.errorbar([100 * value], [y], xerr=spread, fmt=marker, markersize=4, capsize=2,
                          color=colour[entry], markerfacecolor=face, markeredgewidth=1.2)  # fmt: skip
            if marked(rows, column) == entry:
                axis.plot([100 * value], [y], marker="*", markersize=9, color=colour[entry], linestyle="none")
    axis.axvline(50, color="#7f7f7f", linestyle="--", linewidth=0.8)
    axis.set_xlim(0, 100)
    axis.set_yticks(range(len(chosen)))
    axis.set_yticklabels([name for _, name, _ in chosen], fontsize=7)
    axis.set_ylim(len(chosen) - 0.5, -0.5)
    axis.tick_params(axis="x", labelsize=7)


def _figure(rows: Sequence[dict], names: list[tuple[str, str, str]]) -> Any:
    from matplotlib.lines import Line2D

    from ..reports.figures import new_figure

    titles = list(dict.fromkeys(title for title, _, _ in names))
    heights = [0.9 + 0.28 * len({n for t, n, _ in names if t == title}) for title in titles]
    figure = new_figure(12.0, 1.0 + sum(heights))
    grid = figure.add_gridspec(len(titles), len(METRICS), height_ratios=heights)
    colour = colours(entries(rows))
    for row_index, title in enumerate(titles):
        for metric_index, (metric, label) in enumerate(METRICS.items()):
            axis = figure.add_subplot(grid[row_index, metric_index])
            chosen = [column for column in names if column[0] == title and column[2] == metric]
            _panel(axis, rows, chosen, colour)
            axis.set_title(f"{title}: {label}", fontsize=8)
            if metric_index:
                axis.set_yticklabels([])
    handles = [Line2D([], [], marker="x" if e == "class_prior" else "o", color=colour[e], linestyle="none",
                      label=BASELINE_TITLES.get(e, e)) for e in entries(rows)]  # fmt: skip
    handles += [Line2D([], [], marker="D", color="#000000", markerfacecolor="none", linestyle="none",
                       label="interval of zero width"),
                Line2D([], [], marker="*", color="#000000", linestyle="none", markersize=9,
                       label="best (paired interval above 0)"),
                Line2D([], [], color="#7f7f7f", linestyle="--", label="50 %")]  # fmt: skip
    figure.supxlabel("score (%), patient-bootstrap 95 % interval", fontsize=8)
    figure.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 6), fontsize=7)
    return figure


PROCEDURES = {"chosen": "fit-site", "site_head": "site-head"}


def config_name(row: Mapping[str, Any]) -> str:
    """The model-index ``dataset.config`` of a row's column: its protocol, procedure and column as one
    slug, so that huggingface_hub files each column's results apart (it groups by task, dataset type,
    config and split)."""
    procedure = PROCEDURES.get(str(row.get("procedure") or ""), "")
    text = "-".join(part for part in (row["task"], procedure, row["column"]) if part)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def model_index(rows: Sequence[dict], model: str) -> dict[str, Any]:
    """``{"model-index": ...}``: ``model``'s probe scores as Hub eval results a card's metadata can carry,
    one result per leaderboard column (its own ``dataset.config``), each metric named by its ``config``."""
    from huggingface_hub import EvalResult
    from huggingface_hub.repocard_data import eval_results_to_model_index

    from ..hub.card_results import HUB_METRIC_ARGS, HUB_METRIC_ID

    results = []
    for row in (row for row in rows if row["entry"] == "probe" and row["model"] == model):
        for metric, label in METRICS.items():
            value = _number(row.get(metric))
            if math.isnan(value):
                continue
            args = dict(HUB_METRIC_ARGS["icbhi_score"]) if metric == "icbhi_score" else {"label": metric[:-4]}
            if not math.isnan(_number(row.get(f"{metric}_low"))):
                args["interval_95"] = [
                    round(100 * _number(row[f"{metric}{end}"]), 2) for end in ("_low", "_high")
                ]
            results.append(
                EvalResult(
                    task_type="audio-classification",
                    task_name=f"Respiratory sound classification: {row['title']} (frozen linear probe)",
                    dataset_type=row["dataset"],
                    dataset_name=row["column"],
                    dataset_config=config_name(row),
                    dataset_split=TASKS[row["task"]].split,
                    metric_type=HUB_METRIC_ID if metric == "icbhi_score" else "roc_auc",
                    metric_config=metric,
                    metric_args=args,
                    metric_name=f"{label} per {TASKS[row['task']].unit} (%)",
                    metric_value=round(100 * value, 2),
                )
            )
    return {"model-index": eval_results_to_model_index(f"{model} (respira bench)", results)}


def _leaderboard_csv(rows: Sequence[dict], names: list[tuple[str, str, str]], costs: Mapping[str, Any],
                     path: Path) -> None:  # fmt: skip
    suffixes = ("", "_low", "_high", "_undefined", "_draw_sd", "_best")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["entry", *COST]
        for title, name, metric in names:
            header += [f"{title} | {name} | {metric}{suffix}" for suffix in suffixes]
        writer.writerow(header)
        for entry in entries(rows):
            line: list[Any] = [
                BASELINE_TITLES.get(entry, entry),
                *(costs.get(entry, {}).get(k) for k in COST),
            ]
            for column in names:
                row = _row(rows, entry, column) or {}
                line += [*_scores(rows, entry, column), row.get(f"{column[2]}_undefined"),
                         _number(row.get(f"{column[2]}_draw_sd")), marked(rows, column) == entry]  # fmt: skip
            writer.writerow(
                ["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in line]
            )


def write_leaderboard(
    rows: Sequence[dict],
    output_dir: Path,
    *,
    costs: Mapping[str, Mapping[str, Any]] | None = None,
    suite: Mapping[str, Any],
    overwrite: bool = True,
) -> list[str]:
    """Write the bench's report (:data:`~.tasks.BENCH`'s files: ``results.csv``, ``leaderboard.csv`` /
    ``.md``, ``model_index/MODEL.yaml``, ``suite.json``: the patients of every split; then
    ``leaderboard.png``) from :func:`mark_best`'s rows and each model's ``costs`` through the one report
    writer (:func:`~respira.evaluation.protocol.write_report`); return the names written."""
    import yaml

    from ..evaluation.protocol import write_report
    from ..utils.files import write_text_atomic

    names, costs = columns(rows), costs or {}
    named = f"{suite['name']} (version {suite['version']})"

    def results(path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, list(dict.fromkeys(key for row in rows for key in row)))
            writer.writeheader()
            writer.writerows(rows)

    def model_indexes(folder: Path) -> None:
        folder.mkdir()
        for model in entries(rows)[: -len(BASELINE_TITLES)]:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._") or "model"
            write_text_atomic(
                folder / f"{name}.yaml", yaml.safe_dump(model_index(rows, model), sort_keys=False)
            )

    writers = {
        "results.csv": results,
        "leaderboard.csv": lambda path: _leaderboard_csv(rows, names, costs, path),
        "leaderboard.md": lambda path: write_text_atomic(path, _markdown(rows, names, costs, named) + "\n"),
        "model_index": model_indexes,
        "suite.json": lambda path: write_text_atomic(path, json.dumps(suite, indent=1) + "\n"),
    }
    figure = lambda: {"leaderboard.png": _figure(rows, names)}  # noqa: E731
    return write_report(BENCH, output_dir, None, writers, figure, overwrite=overwrite)
