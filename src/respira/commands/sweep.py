"""``respira sweep RECIPE --grid key=v1,v2 ...``: a grid of runs (or an Optuna search), with a summary.

Every option is checked before the first run trains. The sweep's folder (the recipe's ``output_dir``)
records its configuration and, for an Optuna search, its study on disk
(:mod:`~respira.training.run.sweep_folder`): rerunning the same command resumes it. It ends (and, when
resuming, starts) by writing ``sweep_summary.csv`` / ``.md`` / ``.png``
(:mod:`~respira.reports.sweep_summary`).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..utils.tables import format_number, format_table

if TYPE_CHECKING:
    from ..reports.sweep_summary import SweepTrial

AUX_OPTION_KEYS = ("num_negatives", "temperature", "lambda_mean_pos", "lambda_std_pos")
SEARCH_SPACE: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (1e-5, 1e-2, True),
    "weight_decay": (1e-6, 1e-2, True),
    "aux_loss_weight": (0.0, 2.0, False),
}
"""What an Optuna search varies: (low, high, log scale); ``aux_loss_weight`` only with an auxiliary loss."""


@dataclass(kw_only=True)
class SweepOptions:
    """``respira sweep``'s own option (``--grid`` is repeatable, appended: not a dataclass list, whose
    values one flag replaces; the recipe fields are the training flags)."""

    optuna_trials: int = field(
        default=0, metadata={"metavar": "N", "help": "run an Optuna search of N trials instead"}
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..training.recipe.flags import FlagHelpFormatter, flag_parser
    from ..training.recipe.recipe_keys import DATACLASSES

    parser = subparsers.add_parser(
        "sweep",
        parents=[flag_parser()],
        recipe_fields=DATACLASSES,
        dataclass_types=[SweepOptions],
        help="train a grid of recipe variations (or an Optuna search)",
        description="Train one run per combination of --grid values (or an Optuna search), from a recipe\n"
        "and/or --field value flags as for respira train.",
        usage="respira sweep [RECIPE.yaml] --grid KEY=V1,V2 [...] [--field value ...]",
        formatter_class=FlagHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("recipe", nargs="?", metavar="RECIPE.yaml", help="a recipe (optional)")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a recipe field and its values (repeatable)",
    )
    parser.set_defaults(handler=run, accepts_overrides=True)


SWEEP_OWNED: tuple[str, ...] = ("output_dir", "overwrite", "resume_from_checkpoint")
"""Fields a sweep sets for each trial: a grid over them would only rename or replace the same run."""


def parse_grid(specs: list[str]) -> dict[str, list[str]]:
    """``--grid KEY=V1,V2`` options as ``{KEY: [V1, V2]}``; one-line ``ValueError`` for a malformed one."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, separator, values = spec.partition("=")
        if not separator or not key or not values:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got {spec!r}")
        if key in grid:
            raise ValueError(f"--grid {spec}: {key} is already given by another --grid; list its values once")
        if key in SWEEP_OWNED:
            raise ValueError(f"--grid {spec}: the sweep sets {key} itself (one folder per trial)")
        grid[key] = values.split(",")
        if "" in grid[key] or len(set(grid[key])) < len(grid[key]):
            raise ValueError(f"--grid {spec}: every value must be given once and be non-empty")
    return grid


def _overrides(combination: dict[str, str], aux_options: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    flags: list[str] = []
    options = dict(aux_options)
    for key, value in combination.items():
        if key in AUX_OPTION_KEYS:
            try:
                options[key] = json.loads(value)
            except ValueError:
                raise ValueError(f"--grid {key}: {value!r} is not a number") from None
        else:
            flags += [f"--{key}", value]
    return flags, options


def run(args: argparse.Namespace) -> None:
    import datasets

    if args.optuna_trials < 0:
        raise ValueError(f"--optuna_trials must be a positive number of trials, got {args.optuna_trials}")
    if args.optuna_trials and args.grid:
        raise ValueError("give either --grid KEY=V1,V2 or --optuna_trials N, not both")
    datasets.disable_progress_bars()
    if args.optuna_trials:
        _optuna(args)
    else:
        _grid(args)


def _interrupted(output_dir: Path) -> bool:
    """Whether ``output_dir``'s run was interrupted after a checkpoint (its staging folder resumes)."""
    from ..training.run.output import LAST, resolve_resume

    try:
        resume = resolve_resume(LAST, output_dir)
    except ValueError:
        return False
    return resume is not None and resume.interrupted


def _grid(args: argparse.Namespace) -> None:
    from ..reports.sweep_summary import write_sweep_summary
    from ..training.recipe.flags import command_line_options
    from ..training.recipe.recipe import json_option, parse_recipe
    from ..training.run.output import resolve_resume
    from ..training.run.recipe_checks import validate_run
    from ..training.run.sweep_folder import check_sweep_folder, grid_trial, sweep_configuration
    from ..training.run.training_run import run_training

    grid = parse_grid(args.grid)
    if not grid:
        raise ValueError("give at least one --grid KEY=V1,V2 (or --optuna_trials N)")
    given = command_line_options(args)
    base = parse_recipe(args.recipe, args.overrides, given=given)
    root, overwrite = Path(base[3].output_dir).expanduser().absolute(), base[2].overwrite
    configuration = sweep_configuration("grid", {"grid": list(grid)}, base)
    check_sweep_folder(root, configuration, overwrite=overwrite)
    combinations, runs = [], []
    for values in itertools.product(*grid.values()):
        combination = dict(zip(grid, values, strict=True))
        name = ",".join(f"{key}={value}" for key, value in combination.items())
        combinations.append((name, combination))
        if not overwrite and grid_trial(name, 0, combination, root / name).state == "complete":
            continue  # finished by an earlier call of this sweep
        flags, aux = _overrides(combination, json_option(base[3].aux_loss_options, "aux_loss_options"))
        flags += ["--output_dir", str(root / name)]
        if aux:
            flags += ["--aux_loss_options", json.dumps(aux)]
        if not overwrite and _interrupted(root / name):
            flags += ["--resume_from_checkpoint", "last"]  # continue its last checkpoint
        try:  # every combination is checked before the first one trains
            parsed = parse_recipe(args.recipe, [*args.overrides, *flags], given=given)
            resume = resolve_resume(parsed[3].resume_from_checkpoint, parsed[3].output_dir)
            validate_run(*parsed, resume=resume)
        except (ValueError, OSError) as error:
            raise (OSError if isinstance(error, OSError) else ValueError)(f"{name}: {error}") from None
        runs.append((name, parsed))

    def summary() -> list[SweepTrial]:
        trials = [grid_trial(name, n, combo, root / name) for n, (name, combo) in enumerate(combinations)]
        write_sweep_summary(trials, root, title=f"respira sweep {root.name}: grid of {len(trials)} runs")
        return trials

    with _sweep_lock(root, configuration):
        done = len(combinations) - len(runs)
        if done:
            print(f"resuming the sweep in {root}: {done} of {len(combinations)} runs already complete")
            summary()
        for name, parsed in runs:
            print(f"### {name}")
            run_training(*parsed)
            summary()  # after every run, so a killed sweep has it too
        trials = summary()
    print(_table(trials))
    print(f"summary (best validation score first): {root / 'sweep_summary.md'}, .csv and .png")


@contextmanager
def _sweep_lock(root: Path, configuration: dict[str, Any]) -> Iterator[None]:
    """Hold the sweep folder's lock (one process writes a sweep) and record its configuration."""
    from ..training.run.sweep_folder import write_sweep_configuration
    from ..utils.locking import FolderLock

    with FolderLock(root, what="respira sweep"):
        write_sweep_configuration(root, configuration)
        yield


def _table(trials: list[SweepTrial]) -> str:
    from ..reports.sweep_summary import summary_rows

    keys = ("test_specificity", "test_sensitivity", "test_icbhi_score", "validation_icbhi_score")
    cells = [[row["trial"], *(format_number(row.get(key)) for key in keys)] for row in summary_rows(trials)]
    header = ["run", "test Sp", "test Se", "test score", "validation score"]
    return format_table(cells, header, align="<>>>>", rule=False)


def _search_space(aux_loss: str | None) -> dict[str, tuple[float, float, bool]]:
    return {name: bounds for name, bounds in SEARCH_SPACE.items() if aux_loss or name != "aux_loss_weight"}


def _optuna(args: argparse.Namespace) -> None:
    """``Trainer.hyperparameter_search`` with Optuna, maximising the validation ICBHI score, its study
    kept in the sweep folder (:mod:`~respira.training.run.sweep_folder`)."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ImportError("--optuna_trials needs Optuna: pip install optuna") from None
    from dataclasses import replace

    from optuna.trial import TrialState

    from ..reports.sweep_summary import write_sweep_summary
    from ..training.recipe.flags import command_line_options
    from ..training.recipe.recipe import parse_recipe
    from ..training.run.recipe_checks import validate_run
    from ..training.run.sweep_folder import (
        check_sweep_folder,
        open_study,
        study_options,
        study_trials,
        sweep_configuration,
    )

    given = command_line_options(args)
    parsed = parse_recipe(args.recipe, args.overrides, given=given)
    model_args, data_args, run_args, training_args = parsed
    root = Path(training_args.output_dir).expanduser().absolute()
    if run_args.overwrite:
        raise ValueError(
            "--overwrite does not apply to an Optuna sweep (rerunning it resumes its study); "
            "choose another --output_dir for a new one"
        )
    space = _search_space(training_args.aux_loss)
    validate_run(model_args, data_args, replace(run_args, overwrite=True), training_args)  # folder: below
    configuration = sweep_configuration("optuna", {"search": space}, parsed)
    check_sweep_folder(root, configuration)
    title = f"respira sweep {root.name}: Optuna search"
    with _sweep_lock(root, configuration):
        study, interrupted = open_study(root, training_args.seed)
        for number in interrupted:
            print(f"trial {number} was interrupted: it runs again with the same parameters")
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if finished:
            print(f"resuming the study in {root}: {len(finished)} of {args.optuna_trials} trials finished")
            write_sweep_summary(study_trials(study), root, title=title)
        remaining = args.optuna_trials - len(finished)
        if remaining > 0:
            _search(parsed, space, remaining, study_options(root, training_args.seed))
            study, _ = open_study(root, training_args.seed)
        write_sweep_summary(study_trials(study), root, title=title)
    best = study.best_trial
    print(f"summary (best validation score first): {root / 'sweep_summary.md'}, .csv and .png")
    print(f"best validation ICBHI score {best.value:.4f} with {best.params}")


def _search(parsed: tuple, space: dict[str, tuple[float, float, bool]], trials: int, options: dict) -> None:
    """Run ``trials`` trials of the study ``options`` names with ``Trainer.hyperparameter_search``."""
    from ..training.recipe.model_factory import build_model, model_sampling_rate
    from ..training.splits.datasets import build_datasets
    from ..training.trainer.trainer import RespiraTrainer

    model_args, data_args, _, training_args = parsed
    splits = build_datasets(data_args, model_sampling_rate(model_args))
    if "validation" not in splits:
        raise ValueError(
            "an Optuna search selects on validation: set validation_size > 0 or split_strategy=patient"
        )
    lowpass = data_args.lowpass_cutoff

    def hp_space(trial) -> dict[str, Any]:
        return {
            name: trial.suggest_float(name, low, high, log=log) for name, (low, high, log) in space.items()
        }

    trainer = RespiraTrainer(
        None,
        training_args,
        splits["train"],
        eval_dataset=splits["validation"],
        model_init=lambda trial=None: build_model(model_args, lowpass_cutoff=lowpass),
        model_config=build_model(model_args, lowpass_cutoff=lowpass).config,
    )
    trainer.hyperparameter_search(
        hp_space=hp_space, backend="optuna", n_trials=trials, direction="maximize",
        compute_objective=lambda metrics: metrics["eval_icbhi_score"], **options,
    )  # fmt: skip
