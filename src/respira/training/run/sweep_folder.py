"""A sweep's output folder: what it is a sweep of, its Optuna study on disk, and what is already done.

``OUTPUT_DIR/sweep.json`` records the configuration; a folder holding another configuration's sweep is
refused. An Optuna search keeps its study in ``OUTPUT_DIR/optuna_journal.log`` (a ``JournalFileBackend``).
Rerunning resumes: an interrupted trial is marked failed and requeued; a finished grid run is skipped.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...reports.sweep_summary import SweepTrial
from ...run_record import RunRecord
from ...utils.files import is_occupied, write_json_atomic

if TYPE_CHECKING:
    import optuna

__all__ = [
    "JOURNAL_FILE",
    "STUDY_NAME",
    "SWEEP_FILE",
    "check_sweep_folder",
    "grid_trial",
    "open_study",
    "study_options",
    "study_trials",
    "sweep_configuration",
    "write_sweep_configuration",
]

SWEEP_FILE = "sweep.json"
JOURNAL_FILE = "optuna_journal.log"
STUDY_NAME = "respira-sweep"
_NOT_CONFIGURATION = (
    "output_dir",
    "logging_dir",
    "overwrite",
    "resume_from_checkpoint",
    "dataset_cache_dir",
    "disable_tqdm",
    "report_to",
    "dataloader_num_workers",
    "num_proc",
)
"""Options that do not change a sweep's results: a rerun may change them."""


def _options(arguments: Any) -> dict[str, Any]:
    values = arguments.to_dict() if hasattr(arguments, "to_dict") else asdict(arguments)
    return {key: value for key, value in values.items() if key not in _NOT_CONFIGURATION}


def sweep_configuration(mode: str, space: dict[str, Any], parsed: tuple) -> dict[str, Any]:
    """What identifies a sweep: its ``mode`` (``grid`` or ``optuna``), its ``space`` (the grid's keys,
    or the searched ranges) and the resolved options of its base recipe (``parsed``, as
    :func:`~respira.training.recipe.recipe.parse_recipe` returns), as JSON values."""
    options: dict[str, Any] = {}
    for arguments in parsed:
        options.update(_options(arguments))
    return json.loads(json.dumps({"mode": mode, "space": space, "options": options}, default=str))


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if old.get("mode") != new["mode"]:
        return [f"it is a {old.get('mode')} sweep, this is a {new['mode']} sweep"]
    if old.get("space") != new["space"]:
        return [f"searched {json.dumps(old.get('space'))}, this searches {json.dumps(new['space'])}"]
    before, now = old.get("options", {}), new["options"]
    keys = sorted(key for key in {*before, *now} if before.get(key) != now.get(key))
    return [f"{key}={json.dumps(before.get(key))} there, {json.dumps(now.get(key))} here" for key in keys]


def check_sweep_folder(folder: str | Path, configuration: dict[str, Any], *, overwrite: bool = False) -> bool:
    """Check, before any training, that ``folder`` can take the sweep ``configuration``: it is new or
    empty (return ``False``), or it holds a sweep of the same configuration (return ``True``: resume)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output_dir {folder} is a file, not a folder")
    record = folder / SWEEP_FILE
    if not record.is_file():
        if is_occupied(folder):
            raise FileExistsError(
                f"output_dir {folder} is not empty and holds no {SWEEP_FILE}: it is not a respira sweep; "
                "choose another --output_dir"
            )
        return False
    try:
        old = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{record}: cannot be read ({error}); choose another --output_dir") from None
    differences = _differences(old if isinstance(old, dict) else {}, configuration)
    if differences and not (overwrite and configuration["mode"] == "grid"):
        shown = "; ".join(differences[:4]) + (
            f"; and {len(differences) - 4} more" if len(differences) > 4 else ""
        )
        raise ValueError(
            f"output_dir {folder} holds a sweep of another configuration ({shown}); rerun it with the "
            "same options to resume it, or choose another --output_dir"
        )
    return True


def write_sweep_configuration(folder: str | Path, configuration: dict[str, Any]) -> None:
    """Record ``configuration`` as ``folder``/sweep.json (atomically; the folder is created)."""
    write_json_atomic(Path(folder) / SWEEP_FILE, configuration)


# -------------------------------------------------------------------------------------------- Optuna
def study_options(folder: str | Path, seed: int) -> dict[str, Any]:
    """``optuna.create_study`` options of the sweep's study in ``folder``/optuna_journal.log (what
    ``Trainer.hyperparameter_search`` passes on): storage, name, TPE sampler seeded, loaded if it exists."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return {
        "storage": JournalStorage(JournalFileBackend(str(Path(folder) / JOURNAL_FILE))),
        "study_name": STUDY_NAME,
        "sampler": optuna.samplers.TPESampler(seed=seed),
        "load_if_exists": True,
    }


def open_study(folder: str | Path, seed: int) -> tuple[optuna.Study, list[int]]:
    """The sweep's study (:func:`study_options`, maximising), and the numbers of its interrupted trials,
    requeued."""
    import optuna
    from optuna.trial import TrialState

    options = study_options(folder, seed)
    storage = options["storage"]
    study = optuna.create_study(direction="maximize", **options)
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    trials = study.get_trials(deepcopy=False)
    rerun = {trial.user_attrs.get("rerun_of") for trial in trials}
    interrupted = []
    for trial in trials:
        if trial.state not in (TrialState.RUNNING, TrialState.FAIL) or trial.number in rerun:
            continue
        if trial.state == TrialState.RUNNING:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
        shutil.rmtree(Path(folder) / f"run-{trial.number}", ignore_errors=True)
        interrupted.append(trial.number)
    return study, interrupted


def study_trials(study: optuna.Study) -> list[SweepTrial]:
    """The study's trials (waiting ones left out) for the summary."""
    from optuna.trial import TrialState

    trials = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.WAITING:
            continue
        state = trial.state.name.lower()
        if trial.state == TrialState.FAIL and any(
            other.user_attrs.get("rerun_of") == trial.number for other in study.get_trials(deepcopy=False)
        ):
            state = "interrupted, rerun"
        trials.append(SweepTrial(f"trial {trial.number}", trial.number, trial.params, trial.value, state))
    return trials


# ---------------------------------------------------------------------------------------------- grid
def grid_trial(name: str, number: int, combination: dict[str, str], folder: str | Path) -> SweepTrial:
    """The grid run ``name`` for the summary: its validation and test scores when its folder is complete."""
    record = RunRecord.load_if_present(folder)
    if record is None:
        return SweepTrial(name, number, combination, None, "not run")
    selected = record.selected_result()
    score = selected.validation.get("icbhi_score") if selected is not None else None
    extra = {
        f"test_{key}": record.metrics.test.get(key) for key in ("specificity", "sensitivity", "icbhi_score")
    }
    return SweepTrial(name, number, combination, score, "complete", extra)
