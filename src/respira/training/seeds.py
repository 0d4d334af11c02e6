"""One training run per seed: train, tune thresholds and score a seed; pick the kept seed; summarise."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..labels import MULTI_LABEL
from ..utils.tables import format_number, format_table
from .arguments import RespiraTrainingArguments
from .model_factory import build_model
from .recipe import DataArguments, ModelArguments, RunArguments
from .schedules import train_with_schedule, tune_thresholds_on_validation

if TYPE_CHECKING:
    import datasets

    from .trainer import RespiraTrainer


@dataclass
class SeedOutcome:
    """What training one seed gave: its trainer (holding the final model) and its metrics."""

    trainer: RespiraTrainer
    validation: dict[str, Any]
    """The final evaluation on the validation split (``eval_*`` keys); empty without one."""
    test: dict[str, Any]
    """The test split's metrics (``test_*`` keys); empty without one."""

    @property
    def validation_score(self) -> float | None:
        """The validation ICBHI score, which selects the kept seed."""
        return self.validation.get("eval_icbhi_score")


def run_seed(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    splits: datasets.DatasetDict,
    seed: int,
    folder: Path,
    *,
    resume_from: Path | None = None,
) -> SeedOutcome:
    """Train one seed in ``folder`` (its checkpoints and ``metrics.json``) and score it.

    ``resume_from``: a checkpoint of this seed to continue from (standard schedule).
    """
    import transformers

    transformers.set_seed(seed)
    args = replace(args, seed=seed, output_dir=str(folder))
    model = build_model(model_args, splits["train"]["label"])
    trainer = train_with_schedule(model, args, run_args, splits, resume_from=resume_from)
    if model.config.problem_type == MULTI_LABEL and "validation" in splits:
        tune_thresholds_on_validation(trainer, splits["validation"])
    validation = trainer.evaluate(splits["validation"]) if "validation" in splits else {}
    test = trainer.evaluate_test(splits["test"]) if "test" in splits else {}
    return SeedOutcome(trainer, validation, test)


def select_seed(outcomes: dict[int, SeedOutcome]) -> int:
    """The seed with the best validation score (the first one on ties, or without validation)."""
    best_seed, best_score = None, -math.inf
    for seed, outcome in outcomes.items():
        score = outcome.validation_score if outcome.validation_score is not None else -math.inf
        if best_seed is None or score > best_score:
            best_seed, best_score = seed, score
    if best_seed is None:
        raise ValueError("no seed was trained")
    return best_seed


def seed_statistics(
    per_seed: dict[int, dict[str, Any]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per ``test_*`` metric: the mean over seeds (one seed: its value) and, with several seeds, the
    sample standard deviation. Undefined (NaN) values are left out; a metric with none has no entry."""
    means: dict[str, float] = {}
    stds: dict[str, float] = {}
    keys = sorted({key for metrics in per_seed.values() for key in metrics if key.startswith("test_")})
    for key in keys:
        values = [
            m[key]
            for m in per_seed.values()
            if isinstance(m.get(key), (int, float)) and not math.isnan(m[key])
        ]
        if not values:
            continue
        means[key] = values[0] if len(values) == 1 else statistics.fmean(values)
        if len(per_seed) > 1:
            stds[key] = statistics.stdev(values) if len(values) > 1 else 0.0
    return means, stds


def summarize_seeds(per_seed: dict[int, dict[str, float]]) -> dict[str, Any]:
    """``metrics.json`` of a run: every ``test_*`` metric's mean and, with several seeds,
    ``test_*_mean`` / ``test_*_std`` (sample standard deviation); ``seeds`` and ``per_seed``."""
    summary: dict[str, Any] = {"seeds": sorted(per_seed)}
    means, stds = seed_statistics(per_seed)
    for key, mean in means.items():
        summary[key] = mean
        if key in stds:
            summary[f"{key}_mean"] = mean
            summary[f"{key}_std"] = stds[key]
    summary["per_seed"] = {str(seed): metrics for seed, metrics in per_seed.items()}
    return summary


def results_table(per_seed: dict[int, dict[str, float]], validation: dict[int, float | None]) -> str:
    """Validation and test scores per seed, and their mean ± std over several seeds."""
    keys = ("specificity", "sensitivity", "icbhi_score")
    rows = [
        [seed, format_number(validation.get(seed)), *(format_number(metrics.get(f"test_{k}")) for k in keys)]
        for seed, metrics in per_seed.items()
    ]
    if len(per_seed) > 1:
        summary = summarize_seeds(per_seed)
        spread = [
            f"{format_number(summary.get(f'test_{k}_mean'))} ± {format_number(summary.get(f'test_{k}_std'))}"
            for k in keys
        ]
        rows.append(["mean", "", *spread])
    return format_table(rows, ["seed", "val score", "test Sp", "test Se", "test score"])
