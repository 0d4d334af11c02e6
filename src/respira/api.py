"""respira from Python: :func:`train`, :func:`evaluate`, :func:`fit_site`, :func:`suggest`, :func:`bench` and
:func:`label`
do what their commands do. Keyword arguments are the command's options (``None``: not given), checked as
their flags are (:class:`OptionError`, before any work). Example::

    import respira

    run = respira.train("recipes/cnn_ce.yaml", data_dir="~/data/ICBHI", output_dir="runs/cnn_ce")
    run.metrics["test_icbhi_score"]
    validation = respira.evaluate(run, split="validation")
    detector = respira.Detector.from_pretrained(run.output_dir)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .encoder_bench.run import BenchResult
from .options import OptionError, options_from  # noqa: F401 (respira.api.OptionError)
from .pretrained import check_not_shipped
from .pretrained.shipped import chosen_model
from .sites.fit_site import SiteFitResult
from .sites.suggest import SuggestResult
from .utils.messages import run_warnings

if TYPE_CHECKING:
    from .training.recipe import Recipe
    from .training.run import TrainedRun

RESUME_HINT = "respira.train(the same recipe and overrides, resume_from_checkpoint='last')"


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` wrote: the report folder (absolute) and its metrics.json (NaN as None)."""

    output_dir: Path
    metrics: dict[str, Any]


def train(
    recipe: str | os.PathLike[str] | Mapping[str, Any] | Recipe | None = None, **overrides: Any
) -> TrainedRun:
    """Train as ``respira train RECIPE --field value ...`` does; return the run folder it wrote.

    ``recipe``: a YAML path, a ``field: value`` mapping, a :class:`~respira.training.recipe.Recipe`
    or ``None`` (the defaults); ``overrides``: recipe fields (``max_steps=2``). Refusals raise a one-line
    ``ValueError`` before any folder is written.
    """
    from .training.recipe import override_values
    from .training.run import train_recipe

    given = override_values(overrides)
    _not_shipped(given.get("output_dir"))
    with run_warnings():
        return train_recipe(
            os.fspath(recipe) if isinstance(recipe, os.PathLike) else recipe, given, resume_hint=RESUME_HINT
        )


def evaluate(model: str | os.PathLike[str] | TrainedRun, **options: Any) -> Evaluation:
    """Score a model as ``respira evaluate MODEL --option value ...`` does; return what it wrote.

    ``model``: a run or exported folder, a Hub id or a :class:`~respira.training.run.TrainedRun`;
    ``options``: ``respira evaluate``'s (``split="validation"``); a run's own data and split by default.
    """
    from .evaluation.evaluate import evaluate_options_type, score_model
    from .records.run import METRICS_FILE

    checked = options_from(evaluate_options_type(), {**options, "model": os.fspath(model)})
    _not_shipped(checked.output_dir)
    with run_warnings():
        folder = score_model(checked).absolute()
    return Evaluation(folder, json.loads((folder / METRICS_FILE).read_text(encoding="utf-8")))


def fit_site(model: str | os.PathLike[str] | TrainedRun | None = None, **options: Any) -> SiteFitResult:
    """Fit a model to a site as ``respira fit-site [MODEL] --option value ...`` does; return the result.

    ``model``: as :func:`evaluate` takes it (``None``: the shipped detector); ``options``: ``respira
    fit-site``'s. The result's ``output_dir`` is ``None`` when the fit did not beat the model out of sample.
    """
    from .sites.fit_site import fit_site_folder
    from .sites.options import fit_site_options

    checked = options_from(fit_site_options(), options)
    return fit_site_folder(_model(model), **asdict(checked))


def bench(*models: str | os.PathLike[str], **options: Any) -> BenchResult:
    """Compare models as ``respira bench MODEL [MODEL ...] --option value ...`` does; return the result.

    ``models``: what ``respira bench`` takes (model folders, shipped detectors' names, encoder families,
    EfficientAT checkpoints, Hub ids); ``options``: its options (``data=["kauh=~/KAUH"]``,
    ``output_dir=...``). The leaderboard is ``result.table()``; every row ``result.rows``.
    """
    from .encoder_bench.options import BenchOptions
    from .encoder_bench.run import run_bench

    checked = options_from(BenchOptions, options)
    return run_bench([os.fspath(m) for m in models], checked)


def label(
    archive: str | os.PathLike[str], model: str | os.PathLike[str] | None = None, **options: Any
) -> Any:
    """Serve the labelling page as ``respira label [MODEL] ARCHIVE`` does, in a background thread; return
    the server (``url``, ``close()``)."""
    from .app.label_server import LabelOptions, label_server
    from .sites.site_sample import MIN_UNITS

    checked = options_from(LabelOptions, options)
    return label_server(_model(model), archive, checked, minimum_units=MIN_UNITS).start()


def suggest(model: str | os.PathLike[str] | TrainedRun | None = None, **options: Any) -> SuggestResult:
    """Choose what a site should label next as ``respira suggest [MODEL] --option value ...`` does; the
    result holds the labels.csv written and the units to label next, each with its ``reason``."""
    from .sites.options import SuggestOptions
    from .sites.suggest import suggest_labels

    checked = options_from(SuggestOptions, options)
    return suggest_labels(_model(model), **asdict(checked))


def _model(model: str | os.PathLike[str] | TrainedRun | None) -> str:
    return chosen_model(None if model is None else os.fspath(model))


def _not_shipped(output_dir: str | None) -> None:
    if output_dir:
        check_not_shipped(output_dir, "write --output_dir there: give another folder")
