"""``respira train``: train one model per seed (and fold) of a recipe and write the run folder: the kept
model (best validation score), ``metrics.json``, ``respira_run.json``, plots, the test report, a model card
and one ``[fold_<i>/]seed_<n>/`` folder per model. The run trains in ``runs/.x.incomplete`` (kept when
interrupted, for resuming), renamed to ``runs/x`` on success, one writer at a time (``runs/.x.lock``);
:class:`TrainedRun` is the finished folder."""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.dataset_folder import split_counts
from ..data.folds import is_fold_strategy
from ..data.run_splits import load_splits
from ..metrics.groups import splits_device_shift_note
from ..models.respira.decision import has_tuned_thresholds, thresholds_of
from ..records.run import (
    METRICS_FILE,
    DataRecord,
    MetricsRecord,
    ModelRecord,
    RunRecord,
    SeedResult,
    TrainingRecord,
)
from ..utils.files import read_json_object, swap_into_place, write_json_atomic
from ..utils.locking import FolderLock
from ..utils.threads import apply_num_threads, read_recorded_threads
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
from .recipe import Recipe, check_output_dir, parse_recipe, validate_run
from .training_args import (
    DataArguments,
    ModelArguments,
    RespiraTrainingArguments,
    RunArguments,
    build_model,
    encoder_checkpoint,
    json_option,
    model_sampling_rate,
    parse_seeds,
)

if TYPE_CHECKING:
    import datasets

    from ..models import RespiraForAudioClassification
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
        _disable_progress_bars()
    resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)
    validate_run(model_args, data_args, run_args, args, resuming=resume is not None)
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
            folds = _load_folds(data, data_args, kfold=kfold)
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
    _log_written(target, summary, kfold=kfold, log=log)  # the other processes' log says nothing
    return TrainedRun(target)


def _disable_progress_bars() -> None:
    """Silence the progress bars of the Trainer, transformers and the dataset build."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()


def _load_folds(data: DataRecord, data_args: DataArguments, *, kfold: bool) -> dict[int | None, Any]:
    """The splits of each fold of ``data`` (``{None: splits}`` without cross-validation)."""
    return {
        fold: load_splits(
            replace(data, fold=fold) if kfold else data,
            cache_dir=data_args.dataset_cache_dir,
            num_proc=data_args.num_proc,
        )
        for fold in (range(data.num_folds) if kfold else [None])
    }


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


_LAST_VALUES = ("last", "true", "True")  # resume_from_checkpoint: the run's latest checkpoints
STAGING_SUFFIX = ".incomplete"
_SEED_FOLDER = re.compile(r"^seed_(-?\d+)$")
_FOLD_FOLDER = re.compile(r"^fold_(\d+)$")  # cross-validated runs: RUN/fold_<i>/seed_<n>
_CHECKPOINT_FOLDER = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"


def staging_folder(output_dir: str | Path) -> Path:
    """``.<name>.incomplete`` beside ``output_dir`` (absolute)."""
    output_dir = Path(output_dir).expanduser().absolute()
    return output_dir.with_name(f".{output_dir.name}{STAGING_SUFFIX}")


def last_checkpoint(seed_folder: Path) -> Path | None:
    """The checkpoint with the highest step in a seed folder."""
    if not seed_folder.is_dir():
        return None
    steps = [
        (int(match[1]), path)
        for path in seed_folder.iterdir()
        if (match := _CHECKPOINT_FOLDER.match(path.name)) and (path / TRAINER_STATE).is_file()
    ]
    return max(steps)[1] if steps else None


@dataclass(frozen=True)
class ResumePoint:
    """What ``resume_from_checkpoint`` resumes: the ``target`` folder, the ``source`` of the checkpoints
    and a checkpoint given by path (the other seeds resume their latest)."""

    target: Path
    source: Path
    checkpoints: dict[int, Path] = field(default_factory=dict)

    def checkpoint_for(self, seed: int, folder: Path, seed_folder: Path) -> Path | None:
        """The checkpoint ``seed`` resumes in ``folder``: the one given by path when it belongs to
        ``seed_folder`` (a k-fold run has one per fold), else ``seed_folder``'s latest."""
        given = self.checkpoints.get(seed)
        if given is not None and folder / given.relative_to(self.source).parent == seed_folder:
            return folder / given.relative_to(self.source)
        return last_checkpoint(seed_folder)


def resolve_resume(value: str | None, output_dir: str | Path) -> ResumePoint | None:
    """The run that ``resume_from_checkpoint`` (``last`` or a checkpoint) resumes; ``None`` if unset."""
    if value is None or value == "" or value in ("false", "False"):
        return None
    output_dir = Path(output_dir).expanduser().absolute()
    if value in _LAST_VALUES:
        staging = staging_folder(output_dir)
        for folder in (staging, output_dir):
            if any(last_checkpoint(seed) for seed in _seed_folders(folder)):
                return ResumePoint(target=output_dir, source=folder)
        raise ValueError(
            f"resume_from_checkpoint last: no checkpoint to resume for {output_dir} (no interrupted run "
            f"and no checkpoint-* folder in {output_dir}/seed_* or {output_dir}/fold_*/seed_*)"
        )
    checkpoint = Path(value).expanduser().absolute()
    if not checkpoint.is_dir():
        raise ValueError(f"resume_from_checkpoint {value}: no such checkpoint folder")
    if not (checkpoint / TRAINER_STATE).is_file():
        raise ValueError(f"resume_from_checkpoint {value}: not a checkpoint (it has no {TRAINER_STATE})")
    seed = _SEED_FOLDER.match(checkpoint.parent.name)
    if seed is None or not _CHECKPOINT_FOLDER.match(checkpoint.name):
        raise ValueError(
            f"resume_from_checkpoint {value}: not a checkpoint of a respira train run "
            "(expected RUN/seed_<n>/checkpoint-<step>)"
        )
    run = checkpoint.parent.parent
    if _FOLD_FOLDER.match(run.name):
        run = run.parent
    name = run.name  # an interrupted run's checkpoint: the run goes where its staging folder was to go
    staged = name.startswith(".") and name.endswith(STAGING_SUFFIX) and len(name) > len(STAGING_SUFFIX) + 1
    target = run.with_name(name[1 : -len(STAGING_SUFFIX)]) if staged else run
    return ResumePoint(target=target, source=run, checkpoints={int(seed[1]): checkpoint})


THREADS_FILE = "threads.json"  # the torch thread count a run trained with, kept when it resumes


def record_num_threads(folder: Path, num_threads: int, source: str) -> None:
    """Record the thread count a run trains with in its folder (unless already recorded)."""
    path = folder / THREADS_FILE
    recorded = (read_json_object(path) or {}).get("num_threads")
    if recorded != num_threads or isinstance(recorded, bool):
        write_json_atomic(path, {"num_threads": num_threads, "source": source})


def _seed_folders(run: Path) -> list[Path]:
    if not run.is_dir():
        return []
    folders = [path for path in run.iterdir() if _SEED_FOLDER.match(path.name) and path.is_dir()]
    for fold in run.iterdir():
        if _FOLD_FOLDER.match(fold.name) and fold.is_dir():
            folders += _seed_folders(fold)
    return folders


def _retarget_states(folder: Path, old: Path, new: Path) -> None:
    """Point ``best_model_checkpoint`` paths under ``old`` to ``new`` in each trainer state of ``folder``."""
    for state_file in folder.rglob(TRAINER_STATE):
        state = read_json_object(state_file) or {}
        best = state.get("best_model_checkpoint")
        if isinstance(best, str) and Path(best).is_relative_to(old):
            state["best_model_checkpoint"] = str(new / Path(best).relative_to(old))
            write_json_atomic(state_file, state)


@contextmanager
def run_output(
    output_dir: str | Path, *, overwrite: bool, resume: ResumePoint | None = None, log=print
) -> Iterator[Path]:
    """Lock the run folder, yield the staging folder to train in, and move it into place on success."""
    target = resume.target if resume is not None else Path(output_dir).expanduser().absolute()
    staging = staging_folder(target)
    created = [parent for parent in reversed(target.parents) if not parent.exists()]  # outermost first
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(target, what="respira run")
    try:
        lock.acquire()
    except BaseException:
        _remove_empty(created)
        raise
    keep_staging = False
    try:
        if lock.took_over is not None:
            log(f"took over the lock of {target} left by a run that is gone ({lock.took_over})")
        if resume is None:
            if staging.exists():
                log(
                    f"discarding the interrupted run in {staging} (resume it instead with "
                    "--resume_from_checkpoint last)"
                )
                shutil.rmtree(staging)
            check_output_dir(target, overwrite=overwrite)  # again, now that we hold the lock
            staging.mkdir()
        elif resume.source != resume.target:  # interrupted: its checkpoints stay resumable, come what may
            keep_staging = True
        else:  # more training for a finished run: a copy trains, the run is replaced only on success
            if staging.exists():
                shutil.rmtree(staging)
            shutil.copytree(target, staging, symlinks=True)
            _retarget_states(staging, target, staging)
        try:
            yield staging
        except KeyboardInterrupt:
            keep_staging = True
            log(interrupted_message(staging))
            raise
        _retarget_states(staging, staging, target)
        swap_into_place(staging, target, overwrite=overwrite or resume is not None)
    except BaseException:
        if not keep_staging:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.exists():
                lock.release()
                _remove_empty(created)
        raise
    finally:
        lock.release()


def interrupted_message(staging: Path) -> str:
    """Where an interrupted run is, its last checkpoint, and how to continue it."""
    checkpoints = [point for seed in _seed_folders(staging) if (point := last_checkpoint(seed)) is not None]
    if not checkpoints:
        return (
            f"interrupted before the first checkpoint: the run so far is in {staging}; "
            "--resume_from_checkpoint last starts its seeds over"
        )
    latest = max(checkpoints, key=lambda path: path.stat().st_mtime)
    return (
        f"interrupted: the run so far is in {staging} (last checkpoint {latest}); "
        "continue it with --resume_from_checkpoint last"
    )


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders that are still empty, innermost first."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            break


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
