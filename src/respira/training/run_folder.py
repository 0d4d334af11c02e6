"""The run folder: what the kept seed writes into it (its model, the run's record, reports and card), and
its staging folder, lock and resume point."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..models.respira.decision import has_tuned_thresholds, thresholds_of
from ..records.run import DataRecord, MetricsRecord, ModelRecord, RunRecord, TrainingRecord
from ..utils.files import read_json_object, swap_into_place, write_json_atomic
from ..utils.locking import FolderLock
from ..utils.threads import ThreadChoice, apply_num_threads, read_recorded_threads
from .run_checks import check_output_dir
from .training_args import (
    ModelArguments,
    RespiraTrainingArguments,
    RunArguments,
    encoder_checkpoint,
    json_option,
)

if TYPE_CHECKING:
    import datasets

    from .cross_validation import SeedOutcome
    from .trainer import RespiraTrainer

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
    from ..hub.card_render import card_data_from_run_dir
    from ..hub.card_template import render_model_card
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


def apply_run_threads(dataloader_workers: int, resume: ResumePoint | None) -> ThreadChoice:
    """Set torch's threads for a run beside its DataLoader's workers; a resumed run keeps its recorded
    count."""
    recorded = read_recorded_threads(resume.source / THREADS_FILE) if resume is not None else None
    return apply_num_threads(dataloader_workers=dataloader_workers, resumed=recorded)


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
