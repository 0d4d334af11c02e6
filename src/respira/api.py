"""respira from Python: :func:`train` and :func:`evaluate` do what ``respira train`` and ``respira
evaluate`` do, through the same code.

Each call's keyword arguments are the command's options (``respira.train("recipe.yaml", max_steps=2)``
is ``respira train recipe.yaml --max_steps 2``), converted and checked by the command's own parser's
options (:func:`respira.cli.parse_options`: an option is refused exactly as on the command line, before
any work, with no command line in between) and run by the command's own handler. To predict
recordings, :class:`respira.Detector` serves.

Example::

    import respira

    run = respira.train("recipes/cnn_ce.yaml", data_dir="~/data/ICBHI", output_dir="runs/cnn_ce")
    run.metrics["test_icbhi_score"]
    validation = respira.evaluate(run, split="validation")
    detector = respira.Detector.from_pretrained(run.output_dir)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sites.fit_site import SiteFitResult
from .training.run.trained import TrainedRun

if TYPE_CHECKING:
    from .training.recipe.recipe import Recipe

__all__ = ["Evaluation", "OptionError", "SiteFitResult", "TrainedRun", "evaluate", "fit_site", "train"]

RESUME_HINT = "respira.train(the same recipe and overrides, resume_from_checkpoint='last')"
"""What an interrupted :func:`train` says to continue the run (its checkpoints are kept)."""


class OptionError(ValueError):
    """An option the command refuses (an unknown name, with the closest known ones, or a value of the
    wrong type), raised before any work; the message is the one ``respira`` prints after ``error:``."""


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` scored: the report folder it wrote and the scores it holds."""

    output_dir: Path
    """The report folder (absolute): ``metrics.json``, predictions and plots."""
    metrics: dict[str, Any]
    """The folder's ``metrics.json`` (undefined values as ``None``)."""


def train(
    recipe: str | os.PathLike[str] | Mapping[str, Any] | Recipe | None = None, **overrides: Any
) -> TrainedRun:
    """Train as ``respira train RECIPE --field value ...`` does; return the run folder it wrote.

    Args:
        recipe: a YAML recipe's path (e.g. ``recipes/cnn_ce.yaml``), a mapping of the same
            ``field: value`` pairs, or a :class:`~respira.training.recipe.recipe.Recipe`; ``None``:
            the fields' defaults and ``overrides`` only.
        **overrides: recipe fields, as ``respira train --field value`` takes them (``respira train
            --help`` lists them): ``max_steps=2``, ``overwrite=True``, ``seeds=[0, 1, 2]`` (``0,1,2``),
            ``aux_loss_options={"margin": 0.5}`` (JSON text). A value of ``None`` is not given.

    Everything ``respira train`` does happens here too: the whole recipe is checked first; the run
    trains in a staging folder beside ``output_dir`` and is moved into place only when it succeeds;
    ``overwrite`` and ``resume_from_checkpoint`` (``"last"``, or a checkpoint's path) work as on the
    command line; every seed (and, with ``split_strategy="patient_kfold"``, every fold) trains and the
    model with the best validation score is kept.

    Returns:
        The :class:`~respira.training.run.trained.TrainedRun`: ``output_dir``, ``metrics`` (its
        ``metrics.json``: the kept model's test metrics, with the mean and spread over seeds and folds),
        ``record`` (its ``respira_run.json``) and ``model`` (the kept model, loaded on first use).

    Raises:
        OptionError: an unknown field (with the closest ones) or a value the field does not take, as
            ``respira train`` refuses them, before anything is read or written.
        ValueError: the recipe or the options together are refused (one line, naming the recipe's
            file and line where it has one), before any folder is written.

    Example::

        run = respira.train("recipes/cnn_ce.yaml", data_dir="~/data/ICBHI", seeds=[0, 1, 2])
        print(run.output_dir, run.metrics["test_icbhi_score"])
    """
    from .cli import run_command

    if isinstance(recipe, os.PathLike):
        recipe = os.fspath(recipe)
    args = _parsed("train", overrides, recipe=recipe)  # a mapping or a Recipe is checked as a file is
    args.resume_hint = RESUME_HINT
    return run_command(args)


def evaluate(model: str | os.PathLike[str] | TrainedRun, **options: Any) -> Evaluation:
    """Score a model as ``respira evaluate MODEL --option value ...`` does; return what it wrote.

    Args:
        model: a run folder, an exported model folder, a Hugging Face Hub id, or a
            :class:`~respira.training.run.trained.TrainedRun`.
        **options: ``respira evaluate``'s options (``respira evaluate --help`` lists them):
            ``split="validation"``, ``dataset="kauh"``, ``data_dir=...``, ``thresholds=(0.4, 0.6)``,
            ``adapt=True``, ``output_dir=...``. A value of ``None`` is not given. A run folder's own data
            and split are used unless they are given.

    Returns:
        The :class:`Evaluation`: ``output_dir`` (by default ``MODEL/evaluation_<split>`` for a local
        folder) and ``metrics`` (its ``metrics.json``).

    Raises:
        OptionError: an unknown option or a value it does not take, as ``respira evaluate`` refuses them.
        ValueError: options that do not go together, or data that is not there (one line), before any
            scoring.

    Example::

        report = respira.evaluate("runs/cnn_ce", split="validation")
        report.metrics["icbhi_score"], report.output_dir
    """
    from .cli import run_command
    from .training.trainer.trainer import METRICS_FILE

    source = model.output_dir if isinstance(model, TrainedRun) else model
    folder = Path(run_command(_parsed("evaluate", options, model=os.fspath(source)))).absolute()
    return Evaluation(folder, json.loads((folder / METRICS_FILE).read_text(encoding="utf-8")))


def fit_site(model: str | os.PathLike[str] | TrainedRun | None = None, **options: Any) -> SiteFitResult:
    """Fit a model to a site as ``respira fit-site [MODEL] --option value ...`` does; return the result.

    Args:
        model: a model folder, an exported folder, a Hub id or a
            :class:`~respira.training.run.trained.TrainedRun`; ``None``: respira's shipped detector.
        **options: ``respira fit-site``'s options (``respira fit-site --help``): ``data_dir=...`` and
            ``output_dir=...`` (required), ``dataset="kauh"``, ``candidates=["as_is", "thresholds"]``,
            ``outer_folds=5``, ``seed=0``, ``apply_anyway=True``, ``overwrite=True``, ``batch_size=8``.

    Returns:
        The :class:`~respira.sites.fit_site.SiteFitResult`: ``output_dir`` (``None`` when nothing was
        written: the fit did not beat the model as is and all-normal out of sample, and ``apply_anyway``
        was not given), ``written``, ``chosen`` per label, ``thresholds`` and ``scores`` (the nested
        cross-validation's out-of-sample rows; ``score("chosen")``, ``score("as_is")``...).

    Raises:
        OptionError: an unknown option or a value it does not take, as ``respira fit-site`` refuses them.
        ValueError: a sample or model fit-site cannot fit (one line), before any audio is read.

    Example::

        result = respira.fit_site(data_dir="my_site", output_dir="models/my_site")
        result.written, result.chosen, result.score("chosen")
    """
    from .commands.fit_site import fit_from_args

    source = model.output_dir if isinstance(model, TrainedRun) else model
    return fit_from_args(_parsed("fit-site", options, model=None if source is None else os.fspath(source)))


def _parsed(command: str, options: Mapping[str, Any], **positionals: Any) -> argparse.Namespace:
    """``respira COMMAND``'s ``options`` and ``positionals`` as its parser reads them
    (:func:`respira.cli.parse_options`); its refusals as :class:`OptionError`."""
    from .cli import CommandLineError, parse_options

    try:
        return parse_options(command, options, positionals)
    except CommandLineError as error:
        raise OptionError(error.reason) from None
