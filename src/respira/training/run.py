"""``respira train``: train one model per seed (and fold) of a recipe and write the run folder: the kept
model (best validation score), ``metrics.json``, ``respira_run.json``, plots, the test report, a model card
and one ``[fold_<i>/]seed_<n>/`` folder per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.dataset_folder import split_counts
from ..data.folds import is_fold_strategy
from ..data.run_splits import load_splits
from ..metrics.groups import splits_device_shift_note
from ..models.respira.decision import has_tuned_thresholds, thresholds_of
from ..run_record import DataRecord, MetricsRecord, ModelRecord, RunRecord, SeedResult, TrainingRecord
from ..utils.threads import apply_num_threads, read_recorded_threads
from .cross_fit import check_cross_fit_pool
from .cross_validation import (
    OUT_OF_FOLD_FILE,
    FoldRun,
    all_cycle_keys,
    fold_metrics,
    fold_run,
    fold_table,
    kfold_headline,
    summarize_folds,
    write_out_of_fold_predictions,
)
from .data import data_record, with_split_sizes
from .recipe import Recipe, parse_recipe, validate_run
from .run_folder import (
    THREADS_FILE,
    ResumePoint,
    TrainedRun,
    record_num_threads,
    resolve_resume,
    run_output,
    staging_folder,
)
from .seeds import (
    SeedOutcome,
    baseline_warning,
    headline,
    record_metrics,
    run_seed,
    seed_statistics,
    seed_table,
    select_seed,
    summarize_seeds,
)
from .training_args import (
    DataArguments,
    ModelArguments,
    RespiraTrainingArguments,
    RunArguments,
    encoder_checkpoint,
    json_option,
    model_sampling_rate,
    parse_seeds,
)

if TYPE_CHECKING:
    import datasets

    from .trainer import RespiraTrainer


def train_recipe(
    recipe: str | Path | Recipe | Mapping[str, Any] | None,
    given: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    resume_hint: str,
) -> TrainedRun:
    """Train ``recipe`` with ``given`` fields and ``overrides`` flags over it; return the run folder.
    Interrupted, it says ``resume_hint``."""
    import sys

    from ..utils.signals import terminate_as_interrupt

    model_args, data_args, run_args, training_args = parse_recipe(recipe, list(overrides), given=given)
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
    """Train every seed of a parsed recipe and write the run folder; return it."""
    from accelerate import PartialState

    state = PartialState()
    main = state.is_main_process
    log = log if main else (lambda *_: None)
    if args.disable_tqdm:  # one switch: the Trainer's bars, transformers' own, the dataset build's
        import datasets
        from transformers.utils import logging as transformers_logging

        datasets.disable_progress_bars()
        transformers_logging.disable_progress_bar()
    resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)
    validate_run(model_args, data_args, run_args, args, resume=resume)
    threads = apply_num_threads(  # beside the DataLoader's workers; a resumed run keeps its count
        dataloader_workers=args.dataloader_num_workers,
        resumed=read_recorded_threads(resume.source / THREADS_FILE) if resume is not None else None,
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
        with state.main_process_first():  # one process builds the dataset cache, the others reuse it
            folds = {
                fold: load_splits(
                    replace(data, fold=fold) if kfold else data,
                    cache_dir=data_args.dataset_cache_dir,
                    num_proc=data_args.num_proc,
                )
                for fold in (range(data.num_folds) if kfold else [None])
            }
        state.wait_for_everyone()
        if kfold:
            all_cycle_keys(folds, data)  # every cycle tested once, before any training
        else:
            log(split_counts(folds[None]))
        if args.threshold_source == "cross_fit":  # a pool too small for the groups fails before training
            for splits in folds.values():
                check_cross_fit_pool(splits, args)
        summary = _train(model_args, data_args, run_args, args, data, folds, seeds, folder, resume, log, main)
        state.wait_for_everyone()
    if kfold:  # the other processes' log says nothing
        kept = f"fold {summary['selected_fold']}, seed {summary['selected_seed']}"
        log(f"run written to {target} (model from {kept}: the best validation score of all folds x seeds)")
        log(kfold_headline(summary))
    else:
        log(f"run written to {target} (model from seed {summary['selected_seed']}, chosen on validation)")
        log(headline(summary))
    for key in ("warning", "device_shift"):  # the device shift said last
        if summary.get(key):
            log(summary[key])
    return TrainedRun(target)


def _train(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    data: DataRecord,
    folds: dict[int | None, datasets.DatasetDict],
    seeds: list[int],
    folder: Path,
    resume: ResumePoint | None,
    log,
    main: bool,
) -> dict[str, Any]:
    """Train each fold x seed in ``folder``, keep the best on validation and write the run (main process).
    ``folds``: ``{None: splits}`` without cross-validation."""
    args = replace(args, resume_from_checkpoint=None)
    kfold = None not in folds
    outcomes: dict[tuple[int | None, int], SeedOutcome] = {}
    runs: list[FoldRun] = []
    for fold, splits in folds.items():
        for seed in seeds:
            seed_folder = folder / (f"fold_{fold}" if kfold else "") / f"seed_{seed}"
            checkpoint = resume.checkpoint_for(seed, folder, seed_folder) if resume is not None else None
            action = f"resuming {checkpoint.name}" if checkpoint is not None else "training"
            where = f"fold {fold} of {data.num_folds}, seed {seed}" if kfold else f"seed {seed}"
            log(f"== {where}: {action} ({args.num_train_epochs:g} epochs) ==")
            outcome = run_seed(
                model_args, data_args, run_args, args, splits, seed, seed_folder, resume_from=checkpoint
            )
            outcomes[fold, seed] = outcome
            if kfold:
                runs.append(fold_run(fold, seed, outcome, splits["test"]))
                best = select_seed(outcomes)
                for key, other in outcomes.items():  # only the kept model stays in memory
                    other.trainer = other.trainer if key == best else None
    kept_fold, selected = select_seed(outcomes)
    kept = outcomes[kept_fold, selected]
    per_seed = {seed: outcome.test for (_, seed), outcome in outcomes.items()}
    if kfold:
        kept_run = next(run for run in runs if (run.fold, run.seed) == (kept_fold, selected))
        summary = summarize_folds(runs, kept_run, folds, data)
    else:
        summary = summarize_seeds(per_seed, selected, kept.validation)
    notes = {
        "warning": baseline_warning(kept, f"{selected}, fold {kept_fold}" if kfold else selected),
        "device_shift": splits_device_shift_note(folds[kept_fold]),  # a test device absent from train
    }
    summary.update({key: note for key, note in notes.items() if note})
    if not main:
        return summary
    trainer = kept.trainer
    save_kept_model(trainer, folder, summary)
    kept_data = with_split_sizes(replace(data, fold=kept_fold), folds[kept_fold])  # fold None: no folds
    results = [
        SeedResult(
            seed,
            record_metrics(outcome.test, "test_"),
            record_metrics(outcome.validation, "eval_"),
            fold,
            outcome.embedding_passes,
        )
        for (fold, seed), outcome in outcomes.items()
    ]
    if kfold:
        metrics = fold_metrics(runs, summary, results)
        write_out_of_fold_predictions(runs, folds, data, folder / OUT_OF_FOLD_FILE)
    else:
        means, stds = seed_statistics(per_seed)
        metrics = MetricsRecord(record_metrics(means, "test_"), record_metrics(stds, "test_"), results)
    record = build_run_record(model_args, kept_data, run_args, args, seeds, trainer.model, metrics)
    record = replace(record, selected_seed=selected, selected_fold=kept_fold)
    record.save(folder)
    write_reports(kept, folds[kept_fold], folder)
    if kfold:
        log(fold_table(summary))
        return summary
    log(seed_table({seed: outcome for (_, seed), outcome in outcomes.items()}, selected))
    return summary


TRAINING_KEYS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "optim",
    "metric_for_best_model",
    "early_stopping_patience",
    "seed",
)
_MODEL_RECORD_KEYS = ("encoder", "encoder_name_or_path", "problem_type", "lora_r")


def build_run_record(
    model_args: ModelArguments,
    data: DataRecord,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    seeds: list[int],
    model: Any,
    metrics: MetricsRecord,
) -> RunRecord:
    """The record of a finished run; ``model`` is the kept (saved) model."""
    from transformers import TrainingArguments

    values = args.to_dict()  # the hyper-parameters recorded: TRAINING_KEYS and every respira-specific one
    respira_keys = values.keys() - TrainingArguments.__dataclass_fields__.keys()
    options = {key: value for key, value in asdict(model_args).items() if key not in _MODEL_RECORD_KEYS}
    for key in ("encoder_config", "spec_augment"):
        options[key] = json_option(options[key], key) or None
    tuned = has_tuned_thresholds(model.config)
    return RunRecord(
        model=ModelRecord(
            encoder=model_args.encoder,
            checkpoint=encoder_checkpoint(model_args),
            problem_type=model_args.problem_type,
            lora_r=model_args.lora_r,
            num_parameters=sum(parameter.numel() for parameter in model.parameters()),
            options=options,
        ),
        data=data,
        training=TrainingRecord(
            schedule=run_args.schedule,
            two_stage_rounds=run_args.two_stage_rounds,
            head_epochs=run_args.head_epochs,
            head_learning_rate=run_args.head_learning_rate,
            hyperparameters={k: values[k] for k in sorted({*TRAINING_KEYS, *respira_keys}) if k in values},
        ),
        seeds=seeds,
        thresholds=list(thresholds_of(model.config)) if tuned else None,
        thresholds_tuned=tuned,
        metrics=metrics,
    )


def save_kept_model(trainer: RespiraTrainer, output_dir: Path, summary: dict[str, Any]) -> None:
    """Save the kept seed's model, feature extractor, trainer state and metrics."""
    if hasattr(trainer.model, "merge_and_unload"):
        from ..models.lora import save_adapter

        save_adapter(trainer.model, output_dir)
        trainer.model = trainer.model.merge_and_unload()
    trainer.args.output_dir = str(output_dir)  # the kept seed's trainer now writes the run folder
    trainer.save_model()
    trainer.save_state()
    trainer.save_metrics("test", summary)


def write_reports(kept: SeedOutcome, splits: datasets.DatasetDict, output_dir: Path) -> None:
    """Training curves, the test split's evaluation report and the model card (``README.md``)."""
    from ..evaluation.cycles import evaluate_model
    from ..hub.card_render import card_data_from_run_dir, render_model_card
    from ..reports.training_curves import plot_training_curves

    trainer = kept.trainer
    state = trainer.state  # the kept model: the best checkpoint with load_best_model_at_end, else the last
    selected = state.best_global_step if trainer.args.load_best_model_at_end else state.global_step
    plot_training_curves(state.log_history, output_dir / "training_curves.png", best_step=selected)
    if "test" in splits:
        evaluate_model(
            trainer.model, splits["test"], output_dir=output_dir / "evaluation_test", logits=kept.test_logits
        )
    render_model_card(card_data_from_run_dir(output_dir)).save(output_dir / "README.md")
