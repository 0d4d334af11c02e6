"""The results of a cross-validated run: statistics over folds x seeds, the pooled out-of-fold score,
``metrics.json``'s summary and the tables and headline printed from it (see
:mod:`respira.training.run.cross_validation`, which trains the folds)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...metrics import icbhi_scores, trivial_baselines
from ...metrics.baselines import BASELINE_PREFIX
from ...utils.tables import format_percent, format_table
from .seeds import SeedOutcome

__all__ = [
    "CI_METRICS",
    "FoldRun",
    "fold_statistics",
    "fold_table",
    "kfold_headline",
    "out_of_fold",
    "summarize_folds",
    "t_interval",
]

CI_METRICS: tuple[str, ...] = (
    "icbhi_score",
    "specificity",
    "sensitivity",
    "patient_icbhi_score",
    "auc_crackle",
    "auc_wheeze",
)
"""Test metrics whose mean over folds x seeds gets a 95 % confidence interval (when the run has them)."""
SELECTION = "the fold x seed with the best validation ICBHI score (test folds never choose)"


@dataclass
class FoldRun:
    """One fold x seed: its outcome and its test fold's per-cycle classes (for the pooled score)."""

    fold: int
    seed: int
    outcome: SeedOutcome
    keys: list[str]
    """``<recording>_<cycle_index>`` of each test cycle."""
    labels: np.ndarray
    predictions: np.ndarray
    flag_probabilities: np.ndarray | None = None
    """``[N, 2]`` crackle and wheeze probabilities of each test cycle (:attr:`Decision.flags`)."""


def t_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """The ``confidence`` interval of the mean of ``values`` with Student's t (``len - 1`` d.o.f.)."""
    from scipy import stats

    mean = statistics.fmean(values)
    half = (
        stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    )
    return float(mean - half), float(mean + half)


def fold_statistics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``test_<m>_mean`` and, with several runs, ``test_<m>_std`` over ``runs`` (test metrics of each fold x
    seed, baselines left out), plus ``test_<m>_ci95`` for :data:`CI_METRICS`."""
    result: dict[str, Any] = {}
    keys = sorted({k for run in runs for k in run if k.startswith("test_") and BASELINE_PREFIX not in k})
    for key in keys:
        values = [
            run[key] for run in runs if isinstance(run.get(key), (int, float)) and not math.isnan(run[key])
        ]
        if not values:
            continue
        result[f"{key}_mean"] = statistics.fmean(values)
        if len(values) > 1:
            result[f"{key}_std"] = statistics.stdev(values)
            if key.removeprefix("test_") in CI_METRICS:
                result[f"{key}_ci95"] = list(t_interval(values))
    return result


def out_of_fold(runs: list[FoldRun], all_keys: list[str]) -> dict[str, Any]:
    """Scores of the pooled test predictions, per seed and their mean, and the corpus's baselines."""
    from ...data.folds import check_every_cycle_tested_once

    seeds = sorted({run.seed for run in runs})
    per_seed: dict[str, dict[str, float]] = {}
    labels = np.array([])
    for seed in seeds:
        mine = sorted((run for run in runs if run.seed == seed), key=lambda run: run.fold)
        check_every_cycle_tested_once([run.keys for run in mine], all_keys)
        labels = np.concatenate([run.labels for run in mine])
        predicted = np.concatenate([run.predictions for run in mine])
        scores = icbhi_scores(labels, predicted, warn=False)
        per_seed[str(seed)] = {k: float(scores[k]) for k in ("icbhi_score", "specificity", "sensitivity")}
    result: dict[str, Any] = {"cycles": len(all_keys)}
    for key in ("icbhi_score", "specificity", "sensitivity"):
        result[key] = statistics.fmean(scores[key] for scores in per_seed.values())
    baselines = trivial_baselines(labels)
    for name in ("all_normal", "class_prior"):
        result[f"{BASELINE_PREFIX}{name}_icbhi_score"] = baselines[f"{BASELINE_PREFIX}{name}_icbhi_score"]
    result["per_seed"] = per_seed
    return result


def _per_fold(runs: list[FoldRun], sizes: dict[int, dict[str, Any]]) -> dict[str, Any]:
    per_fold: dict[str, Any] = {}
    for fold in sorted(sizes):
        mine = [run for run in runs if run.fold == fold]
        first = mine[0].outcome.test
        per_fold[str(fold)] = {
            **sizes[fold],
            "baselines": {k.removeprefix("test_"): v for k, v in first.items() if BASELINE_PREFIX in k},
            "per_seed": {
                str(run.seed): {k: v for k, v in run.outcome.test.items() if BASELINE_PREFIX not in k}
                for run in mine
            },
            "validation_icbhi_score": {str(run.seed): run.outcome.validation_score for run in mine},
        }
    return per_fold


def summarize_folds(
    runs: list[FoldRun],
    kept: FoldRun,
    all_keys: list[str],
    sizes: dict[int, dict[str, Any]],
    split_strategy: str = "patient_kfold",
) -> dict[str, Any]:
    """``metrics.json`` of a cross-validated run (see the module docstring)."""
    summary: dict[str, Any] = {
        "split_strategy": split_strategy,
        "num_folds": len(sizes),
        "seeds": sorted({run.seed for run in runs}),
        "runs": len(runs),
        "selection": SELECTION,
        "selected_fold": kept.fold,
        "selected_seed": kept.seed,
    }
    summary.update(
        {k: v for k, v in kept.outcome.test.items() if k.startswith("test_") and BASELINE_PREFIX not in k}
    )
    summary.update(fold_statistics([run.outcome.test for run in runs]))
    for key in ("icbhi_score", f"{BASELINE_PREFIX}all_normal_icbhi_score"):
        if f"eval_{key}" in kept.outcome.validation:
            summary[f"validation_{key}"] = kept.outcome.validation[f"eval_{key}"]
    summary["out_of_fold"] = out_of_fold(runs, all_keys)
    summary["per_fold"] = _per_fold(runs, sizes)
    return summary


def _percent(value: object) -> str:
    """A score as a person reads it (:func:`~respira.utils.tables.format_percent`), ``-`` when absent."""
    return format_percent(value, missing="-")


def kfold_headline(summary: dict[str, Any]) -> str:
    """Mean ± std and 95 % CI over folds x seeds, the pooled out-of-fold score and its baseline."""
    n, k = summary["runs"], summary["num_folds"]
    text = f"test ICBHI score over {k} folds x {len(summary['seeds'])} seed(s)"
    text += f" {_percent(summary.get('test_icbhi_score_mean'))}"
    if "test_icbhi_score_std" in summary:
        low, high = summary["test_icbhi_score_ci95"]
        text += (
            f" ± {_percent(summary['test_icbhi_score_std'])} (95% CI {_percent(low)}-{_percent(high)}, n={n})"
        )
    pooled = summary["out_of_fold"]
    text += f"; out-of-fold {_percent(pooled['icbhi_score'])} on {pooled['cycles']} cycles"
    text += f" (all-normal {_percent(pooled[f'{BASELINE_PREFIX}all_normal_icbhi_score'])})"
    text += (
        f"; kept model: fold {summary['selected_fold']}, seed {summary['selected_seed']} "
        f"({_percent(summary.get('test_icbhi_score'))} on its test fold)"
    )
    return text


def fold_table(summary: dict[str, Any]) -> str:
    """Validation and test scores of each fold x seed beside its fold's baselines, then the summary."""
    rows = []
    for fold, entry in summary["per_fold"].items():
        baseline = entry["baselines"]
        for seed, test in entry["per_seed"].items():
            kept = (int(fold), int(seed)) == (summary["selected_fold"], summary["selected_seed"])
            rows.append(
                [
                    fold,
                    f"{seed} (kept)" if kept else seed,
                    _percent(entry["validation_icbhi_score"][seed]),
                    *(_percent(test.get(f"test_{k}")) for k in ("specificity", "sensitivity", "icbhi_score")),
                    _percent(baseline.get(f"{BASELINE_PREFIX}all_normal_icbhi_score")),
                    _percent(baseline.get(f"{BASELINE_PREFIX}class_prior_icbhi_score")),
                ]
            )
    spread = [
        f"{_percent(summary.get(f'test_{k}_mean'))} ± {_percent(summary.get(f'test_{k}_std'))}"
        for k in ("specificity", "sensitivity", "icbhi_score")
    ]
    rows.append(["mean ± std", "", "", *spread, "", ""])
    pooled = summary["out_of_fold"]
    rows.append(
        [
            "out of fold",
            "",
            "",
            *(_percent(pooled[k]) for k in ("specificity", "sensitivity", "icbhi_score")),
            _percent(pooled[f"{BASELINE_PREFIX}all_normal_icbhi_score"]),
            _percent(pooled[f"{BASELINE_PREFIX}class_prior_icbhi_score"]),
        ]
    )
    header = ["fold", "seed", "val score", "test Sp", "test Se", "test score", "all-normal", "class prior"]
    return format_table(rows, header, align="<<" + ">" * (len(header) - 2))
