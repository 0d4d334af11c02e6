"""One model per seed: trained on its schedule (``standard``: one ``Trainer.train``, or
``contrastive_two_stage``) and scored; the kept seed picked, the run summarised beside the trivial baselines
of the same split."""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metrics.baselines import BASELINE_PREFIX
from ..models.respira.number_checks import is_number
from ..run_record import EmbeddingPass
from ..utils.tables import format_percent, format_table
from .cross_fit import cross_fit_thresholds, selected_epochs
from .embedding_cache import ViewStore, uses_cache
from .training_args import DataArguments, ModelArguments, RespiraTrainingArguments, RunArguments, build_model

if TYPE_CHECKING:
    import datasets
    import numpy as np
    from torch import nn

    from .trainer import RespiraTrainer


def make_trainer(
    model: nn.Module, args: RespiraTrainingArguments, splits: datasets.DatasetDict, **kwargs: Any
) -> RespiraTrainer:
    """A trainer on the training split, evaluating on validation when ``args.eval_strategy`` asks."""
    from .trainer import RespiraTrainer

    evaluation = splits.get("validation") if args.eval_strategy != "no" else None
    return RespiraTrainer(model, args, splits["train"], eval_dataset=evaluation, **kwargs)


def train_with_schedule(
    model: nn.Module,
    args: RespiraTrainingArguments,
    run: RunArguments,
    splits: datasets.DatasetDict,
    *,
    resume_from: str | Path | None = None,
    embedding_store: ViewStore | None = None,
) -> RespiraTrainer:
    """Train ``model`` with ``run.schedule``; return the trainer that holds the final model."""
    if run.schedule == "contrastive_two_stage":  # resuming it is refused by validate_run
        return _contrastive_two_stage(model, args, run, splits)
    trainer = make_trainer(model, args, splits, embedding_store=embedding_store)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    return trainer


def _contrastive_two_stage(
    model: nn.Module, args: RespiraTrainingArguments, run: RunArguments, splits: datasets.DatasetDict
) -> RespiraTrainer:
    """Song et al. (2021): the encoder trained with the contrastive loss alone, then frozen while the
    classifier trains on it (``run.head_epochs`` at ``run.head_learning_rate``)."""
    trainer = None
    for _ in range(run.two_stage_rounds):
        model.freeze_encoder(False)
        embedding_args = replace(
            args,
            task_loss_weight=0.0,
            aux_loss=args.aux_loss or "contrastive_tuple",
            batch_sampler="contrastive_tuple" if args.batch_sampler == "random" else args.batch_sampler,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            early_stopping_patience=None,
        )
        make_trainer(model, embedding_args, splits).train()
        model.freeze_encoder()
        head_args = replace(
            args,
            aux_loss=None,
            batch_sampler="random",
            num_train_epochs=run.head_epochs,
            learning_rate=run.head_learning_rate,
        )
        trainer = make_trainer(model, head_args, splits)
        trainer.train()
    return trainer


@dataclass
class SeedOutcome:
    """What training one seed gave (its ``embedding_passes`` are kept when the trainer is dropped)."""

    trainer: RespiraTrainer
    validation: dict[str, Any]
    test: dict[str, Any]
    embedding_passes: list[EmbeddingPass] = field(default_factory=list)
    test_logits: np.ndarray | None = None

    @property
    def validation_score(self) -> float | None:
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
    """Train one seed in ``folder`` (its checkpoints and ``metrics.json``) and score it."""
    import transformers
    from transformers.trainer_utils import PredictionOutput

    transformers.set_seed(seed)
    args = replace(args, seed=seed, output_dir=str(folder))
    model = build_model(
        model_args,
        lowpass_cutoff=data_args.lowpass_cutoff,
        lowpass_order=data_args.lowpass_order,
    )
    cross_fit = args.threshold_source == "cross_fit"
    store = ViewStore() if cross_fit and uses_cache(args) else None  # the group models reuse the views
    template = copy.deepcopy(model) if cross_fit and not model_args.lora_r else None  # their start
    trainer = train_with_schedule(
        model, args, run_args, splits, resume_from=resume_from, embedding_store=store
    )
    fitted = None
    if cross_fit:
        fitted = cross_fit_thresholds(
            model_args,
            args,
            splits,
            selected_epochs(trainer),
            lowpass_cutoff=data_args.lowpass_cutoff,
            store=store,
            template=template,
        )
        chosen = fitted.choice
        trainer.keep_thresholds(list(chosen.thresholds) if any(chosen.tuned) else None)
    scored = trainer.eval_dataset if trainer.eval_dataset is not None else splits.get("validation")
    validation = trainer.evaluate(scored) if "validation" in splits else {}  # embedded once when cached
    if fitted is not None:
        validation["eval_cross_fit_icbhi_score"] = fitted.icbhi_score  # out of fold, at its thresholds
        validation["eval_cross_fit_epochs"] = fitted.epochs
    test = trainer.evaluate_test(splits["test"]) if "test" in splits else PredictionOutput(None, None, {})
    share = getattr(trainer, "embedding_share", None)
    passes = list(share.passes) if share is not None else []
    return SeedOutcome(trainer, validation, test.metrics, passes, test.predictions)


def select_seed(outcomes: dict[Any, SeedOutcome]) -> Any:
    """The key of the best validation score (the first one on ties, or without validation)."""
    scores = {key: outcome.validation_score for key, outcome in outcomes.items()}
    return max(scores, key=lambda key: -math.inf if scores[key] is None else scores[key])


def test_values(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each ``test_*`` metric's values over ``runs``, NaN left out (a metric with none: absent)."""
    keys = sorted({key for metrics in runs for key in metrics if key.startswith("test_")})
    values = {
        key: [m[key] for m in runs if isinstance(m.get(key), (int, float)) and not math.isnan(m[key])]
        for key in keys
    }
    return {key: found for key, found in values.items() if found}


def seed_statistics(
    per_seed: dict[int, dict[str, Any]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per ``test_*`` metric, its mean over seeds and, with several seeds, its sample standard deviation."""
    values = test_values(list(per_seed.values()))
    means = {key: found[0] if len(found) == 1 else statistics.fmean(found) for key, found in values.items()}
    stds = {key: statistics.stdev(found) if len(found) > 1 else 0.0 for key, found in values.items()}
    return means, stds if len(per_seed) > 1 else {}


def summarize_seeds(
    per_seed: dict[int, dict[str, float]],
    selected: int | None = None,
    validation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``metrics.json`` of a run: ``seeds``, ``selected_seed`` and ``per_seed``."""
    summary: dict[str, Any] = {"seeds": sorted(per_seed), "selected_seed": selected}
    means, stds = seed_statistics(per_seed)
    kept = per_seed.get(selected, {})  # no seed selected: the means
    for key, mean in means.items():
        summary[key] = kept.get(key, mean)
        if key in stds and not key.startswith(f"test_{BASELINE_PREFIX}"):
            summary[f"{key}_mean"] = mean
            summary[f"{key}_std"] = stds[key]
    for key in ("icbhi_score", f"{BASELINE_PREFIX}all_normal_icbhi_score"):
        if validation and f"eval_{key}" in validation:
            summary[f"validation_{key}"] = validation[f"eval_{key}"]
    summary["per_seed"] = {str(seed): metrics for seed, metrics in per_seed.items()}
    return summary


def baseline_warning(outcome: SeedOutcome, seed: int | str) -> str | None:
    """One line when the kept model's validation ICBHI score is below the all-normal classifier's."""
    score = outcome.validation_score
    baseline = outcome.validation.get(f"eval_{BASELINE_PREFIX}all_normal_icbhi_score")
    if not (is_number(score) and is_number(baseline)) or score >= baseline:
        return None
    where = ""
    trainer = outcome.trainer
    if getattr(getattr(trainer, "args", None), "threshold_source", None) == "cross_fit":
        where = " at the cross-fitted thresholds"
        best = getattr(trainer.state, "best_metric", None)
        if isinstance(best, float) and not math.isnan(best):
            where += f" (selection saw {percent(best)} at thresholds tuned on validation itself)"
    return (
        f"warning: the kept model (seed {seed}) scores {percent(score)} on validation{where}, below the "
        f"all-normal baseline's {percent(baseline)} (every cycle predicted normal): it is worse than a "
        "trivial classifier"
    )


def percent(value: object) -> str:
    """A score in percent, ``-`` when absent."""
    return format_percent(value, missing="-")


def spread(summary: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    """Each ``test_<key>``'s mean ± std in ``summary``, in percent."""
    return [
        f"{percent(summary.get(f'test_{k}_mean'))} ± {percent(summary.get(f'test_{k}_std'))}" for k in keys
    ]


def headline(summary: dict[str, Any]) -> str:
    """The kept seed's test ICBHI score beside the mean ± std over seeds (one line)."""
    seed = summary.get("selected_seed")
    text = f"test ICBHI score {percent(summary.get('test_icbhi_score'))}"
    if seed is not None:
        text += f" (kept model, seed {seed})"
    if "test_icbhi_score_std" in summary:
        mean, std = summary["test_icbhi_score_mean"], summary["test_icbhi_score_std"]
        text += f"; mean ± std over {len(summary['seeds'])} seeds {percent(mean)} ± {percent(std)}"
    baseline = summary.get(f"test_{BASELINE_PREFIX}all_normal_icbhi_score")
    if baseline is not None:
        text += f"; all-normal baseline {percent(baseline)}"
    return text


_NOT_METRICS = ("epoch", "runtime", "samples_per_second", "steps_per_second", "model_preparation_time")


def record_metrics(values: dict[str, Any], prefix: str) -> dict[str, float | None]:
    """``prefix``-ed numeric metrics without their prefix (no bookkeeping values); NaN as ``None``."""
    kept: dict[str, float | None] = {}
    for key, value in values.items():
        if not key.startswith(prefix) or key.endswith(_NOT_METRICS) or isinstance(value, bool):
            continue
        if value is None or isinstance(value, (int, float)):
            kept[key.removeprefix(prefix)] = None if value is None or math.isnan(value) else value
    return kept


_TABLE_KEYS = ("specificity", "sensitivity", "icbhi_score", "patient_icbhi_score")
_BASELINES = (("all-normal", "all_normal"), ("class prior", "class_prior"))


def seed_table(outcomes: dict[int, SeedOutcome], selected: int | None = None) -> str:
    """Validation and test scores per seed, their mean ± std, and the trivial baselines of the splits (their
    validation scores: the kept seed's)."""
    per_seed = {seed: outcome.test for seed, outcome in outcomes.items()}
    rows = [
        [
            f"{seed} (kept)" if seed == selected else str(seed),
            percent(outcome.validation_score),
            *(percent(outcome.test.get(f"test_{k}")) for k in _TABLE_KEYS),
        ]
        for seed, outcome in outcomes.items()
    ]
    if len(per_seed) > 1:
        rows.append(["mean ± std", "", *spread(summarize_seeds(per_seed), _TABLE_KEYS)])
    first = next(iter(per_seed.values()), {})
    validation = outcomes[selected].validation if selected in outcomes else {}
    for label, name in _BASELINES:
        prefix = f"{BASELINE_PREFIX}{name}_"
        if f"test_{prefix}icbhi_score" not in first:
            continue
        cells = [first.get(f"test_{prefix}{k}") for k in _TABLE_KEYS]
        rows.append(
            [
                f"{label} baseline",
                percent(validation.get(f"eval_{prefix}icbhi_score")),
                *(percent(value) if value is not None else "" for value in cells),
            ]
        )
    header = ["seed", "val score", "test Sp", "test Se", "test score", "test per patient"]
    return format_table(rows, header, align="<" + ">" * (len(header) - 1))
