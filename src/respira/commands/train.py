"""``respira train [RECIPE.yaml] [--field value ...]``: train from a recipe, from flags (the recipe fields,
:mod:`respira.training.recipe`), or both; flags override the recipe."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..training.run import TrainedRun

USAGE = "respira train [RECIPE.yaml] [--field value ...]"
EPILOG = """\
Precedence: field defaults < the recipe < flags. Every transformers.TrainingArguments field is also
accepted (--field value), listed here or not; dict options (aux_loss_options, augmentation, ...) take
JSON text; a [BOOL] flag alone means true (--overwrite), so give the recipe first. Examples:

  respira train recipes/cnn_ce.yaml --data_dir ~/data/ICBHI --seeds 0,1,2
  respira train --data_dir ~/data/ICBHI --encoder cnn --target_seconds 5.12 --aux_loss add \\
      --num_train_epochs 30 --output_dir runs/cnn_add
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    from ..training.recipe import DATACLASSES, flag_parser

    parser = subparsers.add_parser(
        "train",
        parents=[flag_parser()],
        recipe_fields=DATACLASSES,
        help=line,
        description="Train a model: the options come from a YAML recipe, from --field value flags, or both.",
        usage=USAGE,
        epilog=EPILOG,
        allow_abbrev=False,
    )
    parser.add_argument(
        "recipe", nargs="?", metavar="RECIPE.yaml", help="a recipe (optional), e.g. recipes/*.yaml"
    )
    parser.set_defaults(accepts_overrides=True)


def run(args: argparse.Namespace) -> TrainedRun:
    from ..training.recipe import command_line_options
    from ..training.run import train_recipe

    hint = resume_command(getattr(args, "argv", None) or sys.argv[1:])
    return train_recipe(args.recipe, command_line_options(args), args.overrides, resume_hint=hint)


def resume_command(argv: Sequence[str]) -> str:
    """The ``respira train`` command line that resumes the run of ``argv`` (``--resume_from_checkpoint
    last``, without ``--overwrite`` or ``--debug``)."""
    kept, tokens = [], list(argv)
    while tokens:
        token = tokens.pop(0)
        name = token.split("=", 1)[0]
        if name not in ("--resume_from_checkpoint", "--overwrite", "--debug"):
            kept.append(token)
        elif (
            "=" not in token
            and tokens
            and (
                name == "--resume_from_checkpoint" or (name == "--overwrite" and tokens[0].lower() in _BOOLS)
            )
        ):
            tokens.pop(0)  # its value: a checkpoint, or --overwrite's optional bool
    return shlex.join(["respira", *kept, "--resume_from_checkpoint", "last"])


_BOOLS = {"true", "false", "yes", "no", "t", "f", "y", "n", "1", "0"}
