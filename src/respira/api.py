"""respira from Python: :func:`train`, :func:`evaluate`, :func:`fit_site`, :func:`suggest` and :func:`label`
do what their commands do, through the same functions.

Each call's keyword arguments are the command's options (``respira.train("recipe.yaml", max_steps=2)``
is ``respira train recipe.yaml --max_steps 2``; ``None``: not given), checked as their flags are: an unknown
name (with the closest ones), a value its flag does not take or a required option left out raises
:class:`OptionError`, with the line ``respira`` prints, before any work. To predict recordings,
:class:`respira.Detector` serves.

Example::

    import respira

    run = respira.train("recipes/cnn_ce.yaml", data_dir="~/data/ICBHI", output_dir="runs/cnn_ce")
    run.metrics["test_icbhi_score"]
    validation = respira.evaluate(run, split="validation")
    detector = respira.Detector.from_pretrained(run.output_dir)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import OptionError, options_from
from .pretrained import check_not_shipped
from .pretrained.shipped import chosen_model
from .sites.fit_site import SiteFitResult
from .sites.suggest import SuggestResult
from .training.run.trained import TrainedRun
from .utils.messages import run_warnings

if TYPE_CHECKING:
    from .training.recipe.recipe import Recipe

__all__ = [
    "Evaluation",
    "OptionError",
    "SiteFitResult",
    "SuggestResult",
    "TrainedRun",
    "evaluate",
    "fit_site",
    "label",
    "suggest",
    "train",
]

RESUME_HINT = "respira.train(the same recipe and overrides, resume_from_checkpoint='last')"


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` scored: the report folder it wrote and the scores it holds."""

    output_dir: Path  # absolute: metrics.json, predictions and plots
    metrics: dict[str, Any]  # its metrics.json (undefined values as None)


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
            ``aux_loss_options={"margin": 0.5}`` (JSON text).

    As on the command line, the recipe is checked first, the run trains in a staging folder moved into place
    only when it succeeds, and the model with the best validation score over seeds (and folds) is kept.

    Returns:
        The :class:`~respira.training.run.trained.TrainedRun` (``output_dir``, ``metrics``, ``model``).

    Raises:
        ValueError: the recipe or the options together are refused (one line, naming the recipe's
            file and line where it has one), before any folder is written.

    Example::

        run = respira.train("recipes/cnn_ce.yaml", data_dir="~/data/ICBHI", seeds=[0, 1, 2])
        print(run.output_dir, run.metrics["test_icbhi_score"])
    """
    from .training.recipe.flags import override_values
    from .training.run.training_run import train_recipe

    given = override_values(overrides)
    _not_shipped(given.get("output_dir"))
    with run_warnings():
        return train_recipe(
            os.fspath(recipe) if isinstance(recipe, os.PathLike) else recipe, given, resume_hint=RESUME_HINT
        )


def evaluate(model: str | os.PathLike[str] | TrainedRun, **options: Any) -> Evaluation:
    """Score a model as ``respira evaluate MODEL --option value ...`` does; return what it wrote.

    Args:
        model: a run folder, an exported model folder, a Hugging Face Hub id, or a
            :class:`~respira.training.run.trained.TrainedRun`.
        **options: ``respira evaluate``'s options (``respira evaluate --help`` lists them):
            ``split="validation"``, ``dataset="kauh"``, ``data_dir=...``, ``thresholds=(0.4, 0.6)``,
            ``output_dir=...``. A run folder's own data and split are used unless given.

    Returns:
        The :class:`Evaluation`: ``output_dir`` (by default ``MODEL/evaluation_<split>`` for a local
        folder) and ``metrics`` (its ``metrics.json``).

    Raises:
        ValueError: options that do not go together, or data that is not there (one line), before any
            scoring.

    Example::

        report = respira.evaluate("runs/cnn_ce", split="validation")
        report.metrics["icbhi_score"], report.output_dir
    """
    from .scoring.evaluate import evaluate_options_type, score_model
    from .training.trainer.trainer import METRICS_FILE

    source = model.output_dir if isinstance(model, TrainedRun) else model
    checked = options_from(evaluate_options_type(), {**options, "model": os.fspath(source)})
    _not_shipped(checked.output_dir)
    with run_warnings():
        folder = score_model(checked).absolute()
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
        The :class:`~respira.sites.fit_site.SiteFitResult` (``output_dir`` ``None`` when nothing was
        written: the fit did not beat the model as is and all-normal out of sample).

    Raises:
        ValueError: a sample or model fit-site cannot fit (one line), before any audio is read.

    Example::

        result = respira.fit_site(data_dir="my_site", output_dir="models/my_site")
        result.written, result.chosen, result.score("chosen")
    """
    from .sites.fit_site import fit_site_folder
    from .sites.options import fit_site_options

    checked = options_from(fit_site_options(), options)
    return fit_site_folder(_model(model), **asdict(checked), say=_note)


def label(
    archive: str | os.PathLike[str], model: str | os.PathLike[str] | None = None, **options: Any
) -> Any:
    """Serve the labelling page as ``respira label [MODEL] ARCHIVE --option value ...`` does, in a background
    thread; return the server (its ``url``; ``close()`` stops it).

    Args:
        archive: the folder of the recordings and their ``labels.csv``.
        model: a model folder, an exported folder or a Hub id; ``None``: respira's shipped detector.
        **options: ``respira label``'s options: ``labels=...`` (another labels file), ``port=0`` (a free
            port), ``host``, ``onnx=True``, ``device``.

    Raises:
        ValueError, OSError: a labels file, events file or address the page cannot use (one line), before
            the model loads.

    Example::

        server = respira.label("my_site", port=0)
        print(server.url)  # open it in a browser; each answer is in my_site/labels.csv at once
        server.close()
    """
    from .app.label_server import LabelOptions, label_server
    from .sites.sample import MIN_UNITS

    checked = options_from(LabelOptions, options)
    return label_server(_model(model), archive, checked, minimum_units=MIN_UNITS).start()


def suggest(model: str | os.PathLike[str] | TrainedRun | None = None, **options: Any) -> SuggestResult:
    """Choose what a site should label next as ``respira suggest [MODEL] --option value ...`` does.

    Args:
        model: a model folder, an exported folder, a Hub id or a
            :class:`~respira.training.run.trained.TrainedRun`; ``None``: respira's shipped detector.
        **options: ``respira suggest``'s options (``respira suggest --help``): ``data_dir=...``,
            ``budget=20`` and ``output=...`` (required), ``unit="recording"``, ``overwrite=True``,
            ``batch_size=8``.

    Returns:
        The :class:`~respira.sites.suggest.SuggestResult`: ``output`` (the labels.csv written) and
        ``suggestions`` (the units to label next, in order, each with its ``reason``).

    Raises:
        ValueError: an archive, ``labels.csv``, budget or output it cannot take (one line), before any
            audio is read.

    Example::

        result = respira.suggest(data_dir="archive", budget=20, output="archive/labels.csv")
        [(s.unit, s.reason) for s in result.suggestions]
    """
    from .sites.options import SuggestOptions
    from .sites.suggest import suggest_labels

    checked = options_from(SuggestOptions, options)
    return suggest_labels(_model(model), **asdict(checked))


def _model(model: str | os.PathLike[str] | TrainedRun | None) -> str:  # None: the shipped detector
    source = model.output_dir if isinstance(model, TrainedRun) else model
    return chosen_model(None if source is None else os.fspath(source))


def _not_shipped(output_dir: str | None) -> None:
    if output_dir:
        check_not_shipped(output_dir, "write --output_dir there: give another folder")


def _note(line: str) -> None:
    print(line, file=sys.stderr)
