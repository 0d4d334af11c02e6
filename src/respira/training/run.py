"""``respira train``: train one model per seed (and fold) of a recipe and write the run folder: the kept
model (best validation score), ``metrics.json``, ``respira_run.json``, plots, the test report, a model card
and one ``[fold_<i>/]seed_<n>/`` folder per model. The run trains in ``runs/.x.incomplete`` (kept when
interrupted, for resuming), renamed to ``runs/x`` on success, one writer at a time (``runs/.x.lock``);
:class:`TrainedRun` is the finished folder."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.dataset_folder import split_counts
from ..data.run_splits import load_folds
from ..metrics.groups import splits_device_shift_note
from ..records.run import METRICS_FILE, DataRecord, MetricsRecord, RunRecord, SeedResult
from .cross_validation import (
    OUT_OF_FOLD_FILE,
    FoldRun,
    SeedOutcome,
    all_cycle_keys,
    baseline_warning,
    check_cross_fit_pool,
    cross_fit_thresholds,
    fold_metrics,
    fold_run,
    fold_table,
    headline,
    kfold_headline,
    record_metrics,
    seed_statistics,
    seed_table,
    select_seed,
    selected_epochs,
    summarize_folds,
    summarize_seeds,
    write_out_of_fold_predictions,
)
from .data import data_record, with_split_sizes
from .embedding_cache import ViewStore, uses_cache
from .recipe import Recipe, parse_recipe
from .run_checks import validate_run
from .run_folder import (
    ResumePoint,
    apply_run_threads,
    build_run_record,
    record_num_threads,
    resolve_resume,
    run_output,
    save_kept_model,
    staging_folder,
    write_reports,
)
from .training_args import (
    DataArguments,
    ModelArguments,
    RespiraTrainingArguments,
    RunArguments,
    build_model,
    model_sampling_rate,
    parse_seeds,
)

if TYPE_CHECKING:
    import datasets

    from ..models import RespiraForAudioClassification


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
        _disable_progress_bars()
    resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)
    validate_run(model_args, data_args, run_args, args, resuming=resume is not None)
    threads = apply_run_threads(args.dataloader_num_workers, resume)
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
    with output as folder:
        if main:
            record_num_threads(folder, threads.num_threads, threads.source)
        with state.main_process_first():  # one process builds the dataset cache, the others reuse it
            folds = load_folds(data, cache_dir=data_args.dataset_cache_dir, num_proc=data_args.num_proc)
        state.wait_for_everyone()
        kfold = None not in folds
        if kfold:
            all_cycle_keys(folds, data)  # every cycle tested once, before any training
        else:
            log(split_counts(folds[None]))
        if args.threshold_source == "cross_fit":  # a pool too small for the groups fails before training
            for splits in folds.values():
                check_cross_fit_pool(splits, args)
        summary = _train(model_args, data_args, run_args, args, data, folds, seeds, folder, resume, log, main)
        state.wait_for_everyone()
    _log_written(target, summary, kfold=kfold, log=log)  # the other processes' log says nothing
    return TrainedRun(target)


def _disable_progress_bars() -> None:
    """Silence the progress bars of the Trainer, transformers and the dataset build."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()


def _log_written(target: Path, summary: dict[str, Any], *, kfold: bool, log) -> None:
    """Say where the run is, which model it kept, its headline scores and warnings (the device shift last)."""
    if kfold:
        kept = f"fold {summary['selected_fold']}, seed {summary['selected_seed']}"
        log(f"run written to {target} (model from {kept}: the best validation score of all folds x seeds)")
        log(kfold_headline(summary))
    else:
        log(f"run written to {target} (model from seed {summary['selected_seed']}, chosen on validation)")
        log(headline(summary))
    for key in ("warning", "device_shift"):  # the device shift said last
        if summary.get(key):
            log(summary[key])


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
    outcomes, runs = _train_seeds(
        model_args, data_args, run_args, args, data, folds, seeds, folder, resume, log
    )
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
    metrics = _run_metrics(outcomes, runs, summary, folds, data, folder)
    record = build_run_record(model_args, kept_data, run_args, args, seeds, trainer.model, metrics)
    record = replace(record, selected_seed=selected, selected_fold=kept_fold)
    record.save(folder)
    write_reports(kept, folds[kept_fold], folder)
    if kfold:
        log(fold_table(summary))
        return summary
    log(seed_table({seed: outcome for (_, seed), outcome in outcomes.items()}, selected))
    return summary


def _train_seeds(
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
) -> tuple[dict[tuple[int | None, int], SeedOutcome], list[FoldRun]]:
    """Train (or resume) each fold x seed in its own folder; the outcomes, and each fold's run."""
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
    return outcomes, runs


def _run_metrics(
    outcomes: dict[tuple[int | None, int], SeedOutcome],
    runs: list[FoldRun],
    summary: dict[str, Any],
    folds: dict[int | None, datasets.DatasetDict],
    data: DataRecord,
    folder: Path,
) -> MetricsRecord:
    """The run's metrics record of every fold x seed (a fold run writes its out-of-fold predictions)."""
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
    if None not in folds:
        metrics = fold_metrics(runs, summary, results)
        write_out_of_fold_predictions(runs, folds, data, folder / OUT_OF_FOLD_FILE)
        return metrics
    means, stds = seed_statistics({seed: outcome.test for (_, seed), outcome in outcomes.items()})
    return MetricsRecord(record_metrics(means, "test_"), record_metrics(stds, "test_"), results)


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

    from .trainer import train_with_schedule

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


@dataclass(frozen=True)
class TrainedRun:
    """A run folder written by ``respira train`` or :func:`respira.train`.

    Example::

        run = respira.TrainedRun("runs/cnn_ce")
        run.metrics["test_icbhi_score"], run.record.selected_seed
    """

    output_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir).expanduser().absolute())

    def __fspath__(self) -> str:
        """The run folder's path: a run is given wherever a model folder is (``respira.evaluate(run)``)."""
        return str(self.output_dir)

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """The run's ``metrics.json``."""
        path = self.output_dir / METRICS_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} not found: not a finished respira run folder") from None

    @cached_property
    def record(self) -> RunRecord:
        """The run's ``respira_run.json``."""
        return RunRecord.load(self.output_dir)

    @cached_property
    def model(self) -> RespiraForAudioClassification:
        """The kept model, in eval mode on CUDA when available, else the CPU."""
        from ..hub.loading import load_model

        return load_model(self.output_dir)[0]
