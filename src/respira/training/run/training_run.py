"""``respira train``: build the data and the model from a recipe, train one run per seed, report.

The output directory gets the kept model (best *validation* score among seeds), ``trainer_state.json``,
``metrics.json``, ``respira_run.json`` (:class:`~respira.run_record.RunRecord`), plots, the test split's
report, a model card and one ``seed_<n>/`` folder per seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...data.folds import is_fold_strategy
from ...data.summary import split_counts
from ...metrics.groups import splits_device_shift_note
from ...utils.threads import apply_num_threads
from ..recipe.arguments import RespiraTrainingArguments
from ..recipe.model_factory import model_sampling_rate
from ..recipe.recipe import Recipe, parse_recipe, parse_seeds
from ..recipe.recipe_fields import DataArguments, ModelArguments, RunArguments
from ..splits.datasets import data_record, load_splits, with_split_sizes
from .cross_fit import check_cross_fit_pool
from .cross_validation import train_folds
from .fold_summary import kfold_headline
from .output import (
    ResumePoint,
    read_num_threads,
    record_num_threads,
    resolve_resume,
    run_output,
    staging_folder,
)
from .recipe_checks import validate_run
from .run_folder import build_run_record, save_kept_model, write_model_card, write_reports
from .seeds import (
    SeedOutcome,
    baseline_warning,
    headline,
    run_seed,
    seed_table,
    select_seed,
    summarize_seeds,
)
from .trained import TrainedRun


def train_recipe(
    recipe: str | Path | Recipe | Mapping[str, Any] | None,
    given: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    resume_hint: str,
) -> TrainedRun:
    """Train ``recipe`` with ``given`` fields and ``overrides`` flags over it
    (:func:`~respira.training.recipe.recipe.parse_recipe`); return the run folder (``respira train``,
    :func:`respira.train`). Interrupted, it says ``resume_hint``."""
    import sys

    import datasets

    from ...utils.signals import terminate_as_interrupt

    model_args, data_args, run_args, training_args = parse_recipe(recipe, list(overrides), given=given)
    if training_args.disable_tqdm:  # one switch for the Trainer's bars and the dataset build's
        datasets.disable_progress_bars()
    with terminate_as_interrupt():  # SIGTERM too keeps the run resumable and says how to go on
        try:
            return run_training(model_args, data_args, run_args, training_args)
        except KeyboardInterrupt:
            print(f"resume with: {resume_hint}", file=sys.stderr)
            raise


def run_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    *,
    log=print,
) -> TrainedRun:
    """Train every seed of a parsed recipe and write the run folder; return it (its ``metrics.json``
    holds the metrics summary)."""
    from accelerate import PartialState

    state = PartialState()
    main = state.is_main_process
    log = log if main else (lambda *_: None)
    if args.disable_tqdm:  # also transformers' own bars, e.g. "Writing model shards" at each checkpoint
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)
    validate_run(model_args, data_args, run_args, args, resume=resume)
    threads = apply_num_threads(  # beside the DataLoader's workers; a resumed run keeps its count
        dataloader_workers=args.dataloader_num_workers, resumed=read_num_threads(resume)
    )
    if resume is not None and resume.target != Path(args.output_dir).expanduser().absolute():
        log(f"resuming the run in {resume.target}, where the checkpoint belongs")
    target = resume.target if resume is not None else Path(args.output_dir).expanduser().absolute()
    seeds = parse_seeds(run_args.seeds, args.seed)
    data = data_record(data_args, model_sampling_rate(model_args))  # the data is at the model's rate
    if data.dataset_name:  # a prepared dataset's own low-pass: the model's config records it
        data_args = replace(data_args, lowpass_cutoff=data.lowpass_cutoff, lowpass_order=data.lowpass_order)
        log(f"data: dataset {data.dataset_name} (config {data.dataset_config_name}), its own splits")
    output = (
        run_output(target, overwrite=run_args.overwrite, resume=resume, log=log)
        if main
        else nullcontext(staging_folder(target))
    )
    kfold = is_fold_strategy(data.split_strategy)
    with output as folder:
        if main:
            record_num_threads(folder, threads.num_threads, threads.source)
        if kfold:  # every fold x seed (training/run/folds.py)
            summary = train_folds(
                model_args, data_args, run_args, args, data, seeds, folder, target, resume, log, main, state
            )
        else:
            with state.main_process_first():  # one process builds the dataset cache, the others reuse it
                splits = load_splits(data, cache_dir=data_args.dataset_cache_dir, num_proc=data_args.num_proc)
            state.wait_for_everyone()
            log(split_counts(splits))
            if args.threshold_source == "cross_fit":  # a pool too small for the groups fails before training
                check_cross_fit_pool(splits, args)
            summary = _train_seeds(
                model_args, data_args, run_args, args, splits, seeds, folder, target, resume, log, main
            )
        state.wait_for_everyone()
    if main:
        if kfold:
            kept = f"fold {summary['selected_fold']}, seed {summary['selected_seed']}"
            log(
                f"run written to {target} (model from {kept}: the best validation score of all folds x seeds)"
            )
            log(kfold_headline(summary))
        else:
            log(f"run written to {target} (model from seed {summary['selected_seed']}, chosen on validation)")
            log(headline(summary))
        if summary.get("warning"):
            log(summary["warning"])
        if summary.get("device_shift"):
            log(summary["device_shift"])
    return TrainedRun(target)


def _train_seeds(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    splits,
    seeds: list[int],
    folder: Path,
    target: Path,
    resume: ResumePoint | None,
    log,
    main: bool,
) -> dict[str, Any]:
    """Train each seed in ``folder``/seed_<n> (resuming its checkpoint when resuming), write the run."""
    args = replace(args, resume_from_checkpoint=None)
    outcomes: dict[int, SeedOutcome] = {}
    for seed in seeds:
        seed_folder = folder / f"seed_{seed}"
        checkpoint = resume.checkpoint_for(seed, folder, seed_folder) if resume is not None else None
        action = f"resuming {checkpoint.name}" if checkpoint is not None else "training"
        log(f"== seed {seed}: {action} ({args.num_train_epochs:g} epochs) ==")
        outcomes[seed] = run_seed(
            model_args, data_args, run_args, args, splits, seed, seed_folder, resume_from=checkpoint
        )
    selected = select_seed(outcomes)
    per_seed = {seed: outcome.test for seed, outcome in outcomes.items()}
    summary = summarize_seeds(per_seed, selected, outcomes[selected].validation)
    warning = baseline_warning(outcomes[selected], selected)
    if warning is not None:
        summary["warning"] = warning
    device_shift = splits_device_shift_note(splits)  # a test device absent from train, said at the end
    if device_shift:
        summary["device_shift"] = device_shift
    if not main:
        return summary
    kept = outcomes[selected].trainer
    save_kept_model(kept, folder, summary)
    record = build_run_record(
        model_args,
        with_split_sizes(data_record(data_args, model_sampling_rate(model_args)), splits),
        run_args,
        replace(args, output_dir=str(target)),
        outcomes,
        selected,
        kept.model,
    )
    record.save(folder)
    write_reports(kept, splits, folder)
    write_model_card(kept, record, folder)
    validation = outcomes[selected].validation
    log(
        seed_table(
            per_seed,
            {seed: outcome.validation_score for seed, outcome in outcomes.items()},
            selected=selected,
            validation_baselines={
                name: validation.get(f"eval_baseline_{name}_icbhi_score")
                for name in ("all_normal", "class_prior")
            },
        )
    )
    return summary
