"""A run's results over seeds and folds: what each seed's model gave, the kept one (the best validation
score), the summary over seeds beside the trivial baselines of the same split; and a cross-validated run's
``per_fold``, ``test_<metric>_mean`` / ``_std`` / ``_ci95`` (Student's t over folds x seeds), ``out_of_fold``
scores and the kept model's ``test_*``. Thresholds tuned on cross-fitted predictions of the training pool
(``threshold_source: cross_fit``): per patient group, a model trained as the kept one on the rest predicts
it; the thresholds are tuned on those predictions (pooled or worst domain) and stored in the kept model's
config."""

from __future__ import annotations

import copy
import math
import statistics
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.folds import check_every_cycle_tested_once, patient_kfold
from ..data.multi_corpus import primary_rows, threshold_unit_column, threshold_units
from ..metrics import icbhi_scores, multilabel_scores, trivial_baselines
from ..metrics.baselines import BASELINE_PREFIX
from ..metrics.thresholds import ThresholdChoice, choose_thresholds, sigmoid
from ..models.respira.audio_decoding import is_number
from ..models.respira.decision import decide
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL
from ..records.run import DataRecord, EmbeddingPass, MetricsRecord, SeedResult
from ..utils.files import write_text_atomic
from ..utils.progress import progress
from ..utils.tables import format_percent, format_table
from .embedding_cache import ViewStore, shows_progress, uses_cache
from .training_args import build_model

if TYPE_CHECKING:
    import datasets
    from torch import nn

    from .trainer import RespiraTrainer
    from .training_args import ModelArguments, RespiraTrainingArguments


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


OUT_OF_FOLD_FILE = "out_of_fold_predictions.csv"

CI_METRICS: tuple[str, ...] = (
    "icbhi_score",
    "specificity",
    "sensitivity",
    "patient_icbhi_score",
    "auc_crackle",
    "auc_wheeze",
)


@dataclass
class FoldRun:
    """One fold x seed: its outcome and its test fold's per-cycle keys, classes and flag probabilities."""

    fold: int
    seed: int
    outcome: SeedOutcome
    keys: list[str]
    labels: np.ndarray
    predictions: np.ndarray
    flag_probabilities: np.ndarray | None = None


def cycle_keys(split: datasets.Dataset) -> list[str]:
    """``<recording>_<cycle_index>`` of each row."""
    return [f"{r}_{c:03d}" for r, c in zip(split["recording"], split["cycle_index"], strict=True)]


def fold_run(fold: int, seed: int, outcome: SeedOutcome, test: datasets.Dataset) -> FoldRun:
    """A trained fold x seed with the decision on each of its test cycles."""
    from scipy.special import softmax

    config = outcome.trainer.model.config
    logits = np.asarray(outcome.test_logits, dtype=np.float64)
    probabilities = sigmoid(logits) if config.problem_type == MULTI_LABEL else softmax(logits, axis=1)
    decision = decide(probabilities, config)
    labels = np.asarray(test["label"])
    return FoldRun(fold, seed, outcome, cycle_keys(test), labels, decision.classes, decision.flags)


def all_cycle_keys(folds: dict[int, datasets.DatasetDict], data: DataRecord) -> list[str]:
    """Every cycle the folds test, checked to be tested once each (not with a ``train_fraction`` subset)."""
    if data.train_fraction != 1.0:
        return [key for fold in folds for key in cycle_keys(folds[fold]["test"])]
    keys = [key for split in folds[0].values() for key in cycle_keys(primary_rows(split))]
    check_every_cycle_tested_once([cycle_keys(folds[fold]["test"]) for fold in folds], keys)
    return keys


def t_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """The ``confidence`` interval of the mean of ``values`` with Student's t (``len - 1`` d.o.f.)."""
    from scipy import stats

    mean, n = statistics.fmean(values), len(values)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return float(mean - half), float(mean + half)


def fold_statistics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``test_<m>_mean`` and, with several runs, ``test_<m>_std`` over ``runs`` (test metrics of each fold x
    seed, baselines left out), plus ``test_<m>_ci95`` for :data:`CI_METRICS`."""
    result: dict[str, Any] = {}
    for key, values in test_values(runs).items():
        if BASELINE_PREFIX in key:
            continue
        result[f"{key}_mean"] = statistics.fmean(values)
        if len(values) > 1:
            result[f"{key}_std"] = statistics.stdev(values)
            if key.removeprefix("test_") in CI_METRICS:
                result[f"{key}_ci95"] = list(t_interval(values))
    return result


def out_of_fold(runs: list[FoldRun], all_keys: list[str]) -> dict[str, Any]:
    """Scores of the pooled test predictions, per seed and their mean, and the corpus's baselines."""
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
    runs: list[FoldRun], kept: FoldRun, folds: dict[int, datasets.DatasetDict], data: DataRecord
) -> dict[str, Any]:
    """``metrics.json`` of a cross-validated run (see the module docstring)."""
    sizes = {
        fold: {
            "test_cycles": len(splits["test"]),
            "test_patients": len(splits["test"].unique("patient_id")),
            **({"held_out_device": data.fold_devices[fold]} if data.fold_devices else {}),
        }
        for fold, splits in folds.items()
    }
    summary: dict[str, Any] = {
        "split_strategy": data.split_strategy,
        "num_folds": len(sizes),
        "seeds": sorted({run.seed for run in runs}),
        "runs": len(runs),
        "selection": "the fold x seed with the best validation ICBHI score (test folds never choose)",
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
    summary["out_of_fold"] = out_of_fold(runs, all_cycle_keys(folds, data))
    summary["per_fold"] = _per_fold(runs, sizes)
    if data.fold_devices:
        summary["fold_devices"] = list(data.fold_devices)
    return summary


def fold_metrics(runs: list[FoldRun], summary: dict[str, Any], per_seed: list[SeedResult]) -> MetricsRecord:
    """The run record's metrics of a cross-validated run: over folds x seeds, out of fold, per run."""
    statistics_ = fold_statistics([run.outcome.test for run in runs])

    def over_runs(suffix: str) -> dict[str, Any]:
        return {k.removesuffix(suffix): v for k, v in statistics_.items() if k.endswith(suffix)}

    return MetricsRecord(
        test=record_metrics(over_runs("_mean"), "test_"),
        test_std=record_metrics(over_runs("_std"), "test_"),
        test_ci95={k.removeprefix("test_"): v for k, v in over_runs("_ci95").items()},
        out_of_fold={k: v for k, v in summary["out_of_fold"].items() if k != "per_seed"},
        per_seed=per_seed,
    )


def write_out_of_fold_predictions(
    runs: list[FoldRun], folds: dict[int, dict], data: DataRecord, path: Path
) -> None:
    """``out_of_fold_predictions.csv``: one row per fold x seed x test cycle, with its true and decided
    class and crackle / wheeze probabilities."""
    import pandas as pd

    tables = []
    for run in runs:
        test = folds[run.fold]["test"]
        table = pd.DataFrame({"fold": run.fold, "seed": run.seed}, index=range(len(test)))
        if data.fold_devices:
            table["held_out_device"] = data.fold_devices[run.fold]
        for name in ("recording", "cycle_index", "start", "end"):
            if name in test.column_names:
                table[name] = test[name]
        table["label"] = [CLASS_NAMES[int(label)] for label in run.labels]
        table["predicted"] = [CLASS_NAMES[int(label)] for label in run.predictions]
        if run.flag_probabilities is not None:
            table["crackle"], table["wheeze"] = run.flag_probabilities.T
        tables.append(table)
    write_text_atomic(path, pd.concat(tables, ignore_index=True).to_csv(index=False))


def kfold_headline(summary: dict[str, Any]) -> str:
    """Mean ± std and 95 % CI over folds x seeds, the pooled out-of-fold score and its baseline."""
    n, k = summary["runs"], summary["num_folds"]
    text = f"test ICBHI score over {k} folds x {len(summary['seeds'])} seed(s)"
    text += f" {percent(summary.get('test_icbhi_score_mean'))}"
    if "test_icbhi_score_std" in summary:
        low, high = summary["test_icbhi_score_ci95"]
        text += (
            f" ± {percent(summary['test_icbhi_score_std'])} (95% CI {percent(low)}-{percent(high)}, n={n})"
        )
    pooled = summary["out_of_fold"]
    text += f"; out-of-fold {percent(pooled['icbhi_score'])} on {pooled['cycles']} cycles"
    text += f" (all-normal {percent(pooled[f'{BASELINE_PREFIX}all_normal_icbhi_score'])})"
    text += (
        f"; kept model: fold {summary['selected_fold']}, seed {summary['selected_seed']} "
        f"({percent(summary.get('test_icbhi_score'))} on its test fold)"
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
                    percent(entry["validation_icbhi_score"][seed]),
                    *(percent(test.get(f"test_{k}")) for k in ("specificity", "sensitivity", "icbhi_score")),
                    percent(baseline.get(f"{BASELINE_PREFIX}all_normal_icbhi_score")),
                    percent(baseline.get(f"{BASELINE_PREFIX}class_prior_icbhi_score")),
                ]
            )
    rows.append(
        ["mean ± std", "", "", *spread(summary, ("specificity", "sensitivity", "icbhi_score")), "", ""]
    )
    pooled = summary["out_of_fold"]
    rows.append(
        [
            "out of fold",
            "",
            "",
            *(percent(pooled[k]) for k in ("specificity", "sensitivity", "icbhi_score")),
            percent(pooled[f"{BASELINE_PREFIX}all_normal_icbhi_score"]),
            percent(pooled[f"{BASELINE_PREFIX}class_prior_icbhi_score"]),
        ]
    )
    header = ["fold", "seed", "val score", "test Sp", "test Se", "test score", "all-normal", "class prior"]
    return format_table(rows, header, align="<<" + ">" * (len(header) - 2))


@dataclass(frozen=True)
class CrossFit:
    """The chosen thresholds, the pool's out-of-fold probabilities and groups, the epochs and the score."""

    choice: ThresholdChoice
    probabilities: np.ndarray
    groups: np.ndarray
    epochs: float
    icbhi_score: float


def training_pool(splits: datasets.DatasetDict) -> datasets.Dataset:
    """Train and validation (when there is one), in that order."""
    import datasets

    parts = [splits[name] for name in ("train", "validation") if name in splits]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def check_cross_fit_pool(splits: datasets.DatasetDict, args: RespiraTrainingArguments) -> None:
    """Raise a one-line ``ValueError`` when the training pool cannot make ``args``' cross-fit groups."""
    folds, key = args.threshold_folds, args.group_by_key
    pool = training_pool(splits)
    if args.threshold_aggregation == "worst_domain":
        option = "threshold_aggregation=worst_domain"
        if key not in pool.column_names:
            raise ValueError(f"{option}: the training pool has no {key!r} column (group_by_key)")
        names = sorted({str(domain) for domain in pool[key]})
        if len(names) < 2:
            raise ValueError(
                f"{option} needs at least 2 recording domains ({key}) in train + validation, which hold "
                f"{len(names)} ({', '.join(names)}): use threshold_aggregation: pooled"
            )
    patients = set(pool["patient_id"])
    if len(patients) < folds:
        raise ValueError(
            f"threshold_source=cross_fit: threshold_folds={folds} needs at least {folds} patients in "
            f"train + validation, which hold {len(patients)}: lower threshold_folds"
        )


def pool_groups(pool: datasets.Dataset, folds: int, seed: int) -> np.ndarray:
    """The group (``0 .. folds - 1``) of each pool row: whole patients, stratified by class."""
    import pandas as pd

    index = pd.DataFrame({"patient_id": pool["patient_id"], "label": pool["label"]})
    return patient_kfold(index, folds, seed=seed, require_all=None).to_numpy()


def group_training_rows(pool: datasets.Dataset, groups: np.ndarray, group: int) -> np.ndarray:
    """The pool rows group ``group``'s model trains on: all but the group's and its patients'."""
    patients = np.asarray([str(patient) for patient in pool["patient_id"]])
    held = groups == group
    return np.flatnonzero(~held & ~np.isin(patients, patients[held]))


def selected_epochs(trainer: RespiraTrainer) -> float:
    """The epochs of the kept model's selected checkpoint (else the last), at least one."""
    state = trainer.state
    epoch = state.epoch or 0.0
    best = state.best_global_step
    if best:
        logged = [entry["epoch"] for entry in state.log_history if entry.get("step") == best]
        epoch = logged[0] if logged else epoch
    return max(1.0, float(math.ceil(epoch - 1e-9)))


def cross_fit_thresholds(
    model_args: ModelArguments,
    args: RespiraTrainingArguments,
    splits: datasets.DatasetDict,
    epochs: float,
    *,
    lowpass_cutoff: float | None = None,
    store: ViewStore | None = None,
    template: nn.Module | None = None,
) -> CrossFit:
    """Tune multi-label thresholds on cross-fitted predictions of ``splits``' training pool; the group
    models start from copies of ``template`` (the seed's fresh model), else each is built anew."""
    import transformers

    pool = training_pool(splits)  # its options and pool: checked before the run trained (validate_run)
    groups = pool_groups(pool, args.threshold_folds, args.seed)
    probabilities = np.zeros((len(pool), 2))
    if store is None and uses_cache(args):
        store = ViewStore()
    if template is None and not model_args.lora_r:  # the group models' initial weights are the seed's
        transformers.set_seed(args.seed)
        template = build_model(model_args, lowpass_cutoff=lowpass_cutoff)
    with tempfile.TemporaryDirectory(prefix="respira_cross_fit_") as scratch:
        group_args = replace(
            args,
            output_dir=scratch,
            num_train_epochs=epochs,
            max_steps=-1,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            early_stopping_patience=None,
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
        )
        groups_shown = progress(
            range(int(groups.max()) + 1),
            "training the cross-fit group models",
            unit="group",
            enabled=shows_progress(args),
        )
        for group in groups_shown:
            held_out = np.flatnonzero(groups == group)
            if held_out.size == 0:
                continue
            trained = pool.select(group_training_rows(pool, groups, group))
            probabilities[held_out] = _group_probabilities(
                model_args, group_args, trained, pool.select(held_out), lowpass_cutoff, store, template
            )
    flags, scored = threshold_units(pool, probabilities)  # a recording's windows: one unit, as deployed
    domains = None
    if args.threshold_aggregation == "worst_domain":
        domains = threshold_unit_column(pool, args.group_by_key)
    choice = choose_thresholds(flags, scored, args.threshold_objective, domains=domains)
    score = multilabel_scores(flags, scored, choice.thresholds, warn=False)["icbhi_score"]
    return CrossFit(choice, probabilities, groups, epochs, float(score))


def _group_probabilities(
    model_args: ModelArguments,
    args: RespiraTrainingArguments,
    trained: datasets.Dataset,
    held_out: datasets.Dataset,
    lowpass_cutoff: float | None,
    store: ViewStore | None,
    template: nn.Module | None,
) -> np.ndarray:
    """Train one group model on ``trained`` (from a copy of ``template`` when given); its probabilities on
    ``held_out``."""
    import transformers
    from transformers import PrinterCallback

    from .trainer import RespiraTrainer

    transformers.set_seed(args.seed)
    if template is not None:
        model = copy.deepcopy(template)
    else:
        model = build_model(model_args, lowpass_cutoff=lowpass_cutoff)
    trainer = RespiraTrainer(model, args, trained, embedding_store=store)  # evaluates nothing
    trainer.remove_callback(PrinterCallback)  # the group models train silently
    trainer.train()
    return sigmoid(trainer.predict_logits(held_out))
