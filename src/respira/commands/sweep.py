"""``respira sweep RECIPE --grid key=v1,v2 ...``: a grid of runs (or an Optuna search), with a table."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

from ..utils.tables import format_number, format_table

AUX_OPTION_KEYS = ("num_negatives", "temperature", "lambda_mean_pos", "lambda_std_pos")


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..training.flags import FlagHelpFormatter, flag_parser

    parser = subparsers.add_parser(
        "sweep",
        parents=[flag_parser()],
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
    parser.add_argument(
        "--optuna_trials", type=int, default=0, metavar="N", help="run an Optuna search of N trials instead"
    )
    parser.set_defaults(handler=run, accepts_overrides=True)


def parse_grid(specs: list[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, separator, values = spec.partition("=")
        if not separator or not key or not values:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got {spec!r}")
        grid[key] = values.split(",")
    return grid


def _overrides(combination: dict[str, str], aux_options: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    flags: list[str] = []
    options = dict(aux_options)
    for key, value in combination.items():
        if key in AUX_OPTION_KEYS:
            options[key] = json.loads(value)
        else:
            flags += [f"--{key}", value]
    return flags, options


def run(args: argparse.Namespace) -> None:
    import datasets

    from ..training.flags import command_line_options
    from ..training.output import resolve_resume
    from ..training.recipe import json_option, parse_recipe
    from ..training.run import run_training
    from ..training.validation import validate_run

    datasets.disable_progress_bars()
    if args.optuna_trials:
        _optuna(args)
        return
    grid = parse_grid(args.grid)
    if not grid:
        raise ValueError("give at least one --grid KEY=V1,V2 (or --optuna_trials N)")
    given = command_line_options(args)
    _, _, _, base = parse_recipe(args.recipe, args.overrides, given=given)
    root = Path(base.output_dir)
    runs = []
    for values in itertools.product(*grid.values()):
        combination = dict(zip(grid, values, strict=True))
        name = ",".join(f"{key}={value}" for key, value in combination.items())
        flags, aux = _overrides(combination, json_option(base.aux_loss_options, "aux_loss_options"))
        flags += ["--output_dir", str(root / name)]
        if aux:
            flags += ["--aux_loss_options", json.dumps(aux)]
        try:  # every combination is checked before the first one trains
            parsed = parse_recipe(args.recipe, [*args.overrides, *flags], given=given)
            resume = resolve_resume(parsed[3].resume_from_checkpoint, parsed[3].output_dir)
            validate_run(*parsed, resume=resume)
        except (ValueError, OSError) as error:
            raise (OSError if isinstance(error, OSError) else ValueError)(f"{name}: {error}") from None
        runs.append((name, parsed))
    rows = []
    for name, parsed in runs:
        print(f"### {name}")
        rows.append((name, run_training(*parsed)))
    print(_table(rows))


def _table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    keys = ("specificity", "sensitivity", "icbhi_score")
    cells = [[name, *(format_number(summary.get(f"test_{key}")) for key in keys)] for name, summary in rows]
    return format_table(cells, ["run", "test Sp", "test Se", "test score"], align="<>>>", rule=False)


def _optuna(args: argparse.Namespace) -> None:
    """``Trainer.hyperparameter_search`` with Optuna, maximising the validation ICBHI score."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ImportError("--optuna_trials needs Optuna: pip install optuna") from None
    from ..training.datasets import build_datasets
    from ..training.flags import command_line_options
    from ..training.model_factory import build_model, model_sampling_rate
    from ..training.recipe import parse_recipe
    from ..training.trainer import RespiraTrainer

    given = command_line_options(args)
    model_args, data_args, _, training_args = parse_recipe(args.recipe, args.overrides, given=given)
    splits = build_datasets(data_args, model_sampling_rate(model_args))
    if "validation" not in splits:
        raise ValueError(
            "an Optuna search selects on validation: set validation_size > 0 or split_strategy=patient"
        )
    labels, lowpass = splits["train"]["label"], data_args.lowpass_cutoff

    def space(trial) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            "aux_loss_weight": trial.suggest_float("aux_loss_weight", 0.0, 2.0),
        }

    trainer = RespiraTrainer(
        None,
        training_args,
        splits["train"],
        eval_dataset=splits["validation"],
        model_init=lambda trial=None: build_model(model_args, labels, lowpass_cutoff=lowpass),
        model_config=build_model(model_args, labels, lowpass_cutoff=lowpass).config,
    )
    best = trainer.hyperparameter_search(
        hp_space=space, backend="optuna", n_trials=args.optuna_trials, direction="maximize",
        compute_objective=lambda metrics: metrics["eval_icbhi_score"],
    )  # fmt: skip
    print(f"best validation ICBHI score {best.objective:.4f} with {best.hyperparameters}")
