"""``respira train`` with ``split_strategy: patient_kfold``: every fold x seed, summarised and pooled.

Each fold's test split is fold ``i`` (:func:`respira.data.folds.compose_fold`); each seed trains in
``fold_<i>/seed_<n>/`` as a plain run's seed does. ``metrics.json`` holds ``per_fold``,
``test_<metric>_mean`` / ``_std`` and ``test_<metric>_ci95`` (Student's t over folds x seeds; a rough guide,
since the runs share patients), ``out_of_fold`` (the pooled test predictions' scores beside the corpus's
baselines) and the kept model's ``test_*`` (best **validation** score: ``selected_fold``,
``selected_seed``). ``out_of_fold_predictions.csv`` holds every cycle's test predictions.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...labels import MULTI_LABEL
from ...metrics.groups import splits_device_shift_note
from ...run_record import DataRecord, MetricsRecord, SeedResult
from ..splits.datasets import load_splits, with_split_sizes
from ..splits.multi_corpus import primary_rows
from .cross_fit import check_cross_fit_pool
from .fold_summary import FoldRun, fold_statistics, fold_table, summarize_folds
from .run_folder import _metrics, build_run_record, save_kept_model, write_model_card, write_reports
from .seeds import baseline_warning, run_seed

if TYPE_CHECKING:
    import datasets

    from ...core.decision import Decision
    from ..recipe.arguments import RespiraTrainingArguments
    from ..recipe.recipe_fields import DataArguments, ModelArguments, RunArguments
    from ..trainer.trainer import RespiraTrainer
    from .output import ResumePoint

__all__ = ["OUT_OF_FOLD_FILE", "cycle_keys", "train_folds"]

OUT_OF_FOLD_FILE = "out_of_fold_predictions.csv"


def fold_folder(folder: Path, fold: int, seed: int) -> Path:
    """Where fold ``fold``, seed ``seed`` trains: ``fold_<i>/seed_<n>``."""
    return folder / f"fold_{fold}" / f"seed_{seed}"


def cycle_keys(split: datasets.Dataset) -> list[str]:
    """``<recording>_<cycle_index>`` of each row: the key that checks every cycle is tested once."""
    return [f"{r}_{c:03d}" for r, c in zip(split["recording"], split["cycle_index"], strict=True)]


def fold_predictions(trainer: RespiraTrainer, test: datasets.Dataset) -> Decision:
    """The decision on each test cycle, made as the trainer's test scoring makes it (multi-label: sigmoid
    at the config's thresholds; single-label: the most probable class of the softmax)."""
    from ...core.decision import decide
    from ...metrics.thresholds import sigmoid

    logits = np.asarray(trainer.predict_logits(test), dtype=np.float64)
    if trainer.model.config.problem_type == MULTI_LABEL:
        return decide(sigmoid(logits), trainer.model.config)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return decide(shifted / shifted.sum(axis=1, keepdims=True), trainer.model.config)


def write_out_of_fold_predictions(
    runs: list[FoldRun], folds: dict[int, dict], data: DataRecord, path: Path
) -> None:
    """``out_of_fold_predictions.csv``: one row per fold x seed x test cycle, in fold, seed and test order:
    ``fold``, ``seed``, the held-out device (device folds), the cycle's identity columns, its true and decided
    class and its crackle / wheeze probabilities (single-label models: the class sums)."""
    import pandas as pd

    from ...labels import CLASS_NAMES
    from ...utils.files import write_text_atomic

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


def train_folds(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    data: DataRecord,
    seeds: list[int],
    folder: Path,
    target: Path,
    resume: ResumePoint | None,
    log,
    main: bool,
    state,
) -> dict[str, Any]:
    """Train every fold x seed of a ``patient_kfold`` / ``leave_one_device_out`` run in ``folder`` and
    write the run (main process)."""
    args = replace(args, resume_from_checkpoint=None)
    folds: dict[int, datasets.DatasetDict] = {}
    with state.main_process_first():  # one process builds the dataset cache, the others reuse it
        for fold in range(data.num_folds):
            folds[fold] = load_splits(
                replace(data, fold=fold), cache_dir=data_args.dataset_cache_dir, num_proc=data_args.num_proc
            )
    state.wait_for_everyone()
    all_keys = [key for split in folds[0].values() for key in cycle_keys(primary_rows(split))]
    if data.train_fraction == 1.0:  # a train subset leaves cycles out of fold 0's splits, not of the folds
        from ...data.folds import check_every_cycle_tested_once

        check_every_cycle_tested_once([cycle_keys(folds[f]["test"]) for f in folds], all_keys)
    else:
        all_keys = [key for f in folds for key in cycle_keys(folds[f]["test"])]
    if args.threshold_source == "cross_fit":  # every fold's pool, before any training
        for splits in folds.values():
            check_cross_fit_pool(splits, args)
    runs: list[FoldRun] = []
    kept: FoldRun | None = None
    for fold, splits in folds.items():
        for seed in seeds:
            seed_folder = fold_folder(folder, fold, seed)
            checkpoint = resume.checkpoint_for(seed, folder, seed_folder) if resume is not None else None
            action = f"resuming {checkpoint.name}" if checkpoint is not None else "training"
            epochs = f"{args.num_train_epochs:g} epochs"
            log(f"== fold {fold} of {data.num_folds}, seed {seed}: {action} ({epochs}) ==")
            outcome = run_seed(
                model_args,
                data_args,
                run_args,
                args,
                splits,
                seed,
                seed_folder,
                resume_from=checkpoint,
            )
            test = splits["test"]
            decision = fold_predictions(outcome.trainer, test)
            run = FoldRun(
                fold,
                seed,
                outcome,
                cycle_keys(test),
                np.asarray(test["label"]),
                decision.classes,
                decision.flags,
            )
            runs.append(run)
            score = outcome.validation_score if outcome.validation_score is not None else -math.inf
            best = kept.outcome.validation_score if kept is not None else None
            if kept is None or score > (best if best is not None else -math.inf):
                if kept is not None:
                    kept.outcome.trainer = None  # only the kept model stays in memory
                kept = run
            else:
                outcome.trainer = None
    assert kept is not None
    sizes = {
        fold: {
            "test_cycles": len(splits["test"]),
            "test_patients": len(splits["test"].unique("patient_id")),
            **({"held_out_device": data.fold_devices[fold]} if data.fold_devices else {}),
        }
        for fold, splits in folds.items()
    }
    summary = summarize_folds(runs, kept, all_keys, sizes, data.split_strategy)
    if data.fold_devices:
        summary["fold_devices"] = list(data.fold_devices)
    warning = baseline_warning(kept.outcome, f"{kept.seed}, fold {kept.fold}")
    if warning is not None:
        summary["warning"] = warning
    device_shift = splits_device_shift_note(folds[kept.fold])
    if device_shift:
        summary["device_shift"] = device_shift
    if not main:
        return summary
    trainer = kept.outcome.trainer
    save_kept_model(trainer, folder, summary)
    record = build_run_record(
        model_args,
        with_split_sizes(replace(data, fold=kept.fold), folds[kept.fold]),
        run_args,
        replace(args, output_dir=str(target)),
        {kept.seed: kept.outcome},
        kept.seed,
        trainer.model,
    )
    statistics_ = fold_statistics([run.outcome.test for run in runs])
    record = replace(
        record,
        seeds=list(seeds),
        selected_fold=kept.fold,
        metrics=MetricsRecord(
            test=_metrics(
                {k.removesuffix("_mean"): v for k, v in statistics_.items() if k.endswith("_mean")}, "test_"
            ),
            test_std=_metrics(
                {k.removesuffix("_std"): v for k, v in statistics_.items() if k.endswith("_std")}, "test_"
            ),
            test_ci95={
                k.removeprefix("test_").removesuffix("_ci95"): v
                for k, v in statistics_.items()
                if k.endswith("_ci95")
            },
            out_of_fold={k: v for k, v in summary["out_of_fold"].items() if k != "per_seed"},
            per_seed=[
                SeedResult(
                    run.seed,
                    _metrics(run.outcome.test, "test_"),
                    _metrics(run.outcome.validation, "eval_"),
                    run.fold,
                    run.outcome.embedding_passes,
                )
                for run in runs
            ],
        ),
    )
    record.save(folder)
    write_out_of_fold_predictions(runs, folds, data, folder / OUT_OF_FOLD_FILE)
    write_reports(trainer, folds[kept.fold], folder)
    write_model_card(trainer, record, folder)
    log(fold_table(summary))
    return summary
