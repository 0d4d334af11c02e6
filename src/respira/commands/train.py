"""``respira train RECIPE.yaml [--field value ...]``: train from a recipe; every field overridable."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train from a YAML recipe (any recipe field can be overridden with --field value)",
        description="Train from a YAML recipe. Every recipe field (model, data, run and TrainingArguments "
        "options) can be overridden on the command line with --field value; unknown fields are errors.",
    )
    parser.add_argument("recipe", nargs="?", help="recipes/*.yaml (optional: flags alone also work)")
    parser.set_defaults(handler=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> None:
    import datasets

    from ..training.recipe import parse_recipe
    from ..training.run import run_training

    model_args, data_args, run_args, training_args = parse_recipe(args.recipe, args.overrides)
    if training_args.disable_tqdm:  # one switch for the Trainer's bars and the dataset build's
        datasets.disable_progress_bars()
    run_training(model_args, data_args, run_args, training_args)
