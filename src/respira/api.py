"""respira from Python: :func:`train` and :func:`evaluate` do what ``respira train`` and ``respira
evaluate`` do, through the same code.

Each call's keyword arguments are the command's options (``respira.train("recipe.yaml", max_steps=2)``
is ``respira train recipe.yaml --max_steps 2``), converted and checked by the command's own parser's
options (:func:`parse_options`: an option is refused exactly as on the command line, before
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
import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers.hf_argparser import string_to_bool

from .cli import CommandLineError, build_parser, unknown_options_error
from .sites.fit_site import SiteFitResult
from .sites.suggest import SuggestResult
from .training.run.trained import TrainedRun

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
            ``output_dir=...``. A value of ``None`` is not given. A run folder's own data
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
    from .commands.options import model_or_default

    source = model.output_dir if isinstance(model, TrainedRun) else model
    args = _parsed("fit-site", options, model=None if source is None else os.fspath(source))
    model_or_default(args)  # what the command line does for every optional MODEL: the model named once
    return fit_from_args(args)


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
        OptionError: an unknown option or a value it does not take.
        ValueError, OSError: a labels file, events file or address the page cannot use (one line), before
            the model loads.

    Example::

        server = respira.label("my_site", port=0)
        print(server.url)  # open it in a browser; each answer is in my_site/labels.csv at once
        server.close()
    """
    from .commands.label import server_from_args
    from .commands.options import model_or_default

    args = _parsed(
        "label", options, model=None if model is None else os.fspath(model), archive=os.fspath(archive)
    )
    model_or_default(args)
    return server_from_args(args).start()


def suggest(model: str | os.PathLike[str] | TrainedRun | None = None, **options: Any) -> SuggestResult:
    """Choose what a site should label next as ``respira suggest [MODEL] --option value ...`` does.

    Args:
        model: a model folder, an exported folder, a Hub id or a
            :class:`~respira.training.run.trained.TrainedRun`; ``None``: respira's shipped detector.
        **options: ``respira suggest``'s options (``respira suggest --help``): ``data_dir=...``,
            ``budget=20`` and ``output=...`` (required), ``unit="recording"``, ``overwrite=True``,
            ``seed=0``, ``batch_size=8``.

    Returns:
        The :class:`~respira.sites.suggest.SuggestResult`: ``output`` (the labels.csv written),
        ``suggestions`` (the units to label next, in order, each with its ``reason``), ``recordings``
        (unit → its files), ``embedded`` and ``cached`` (recordings the model ran on, and read from the
        cache).

    Raises:
        OptionError: an unknown option or a value it does not take, as ``respira suggest`` refuses them.
        ValueError: an archive, ``labels.csv``, budget or output it cannot take (one line), before any
            audio is read.

    Example::

        result = respira.suggest(data_dir="archive", budget=20, output="archive/labels.csv")
        [(s.unit, s.reason) for s in result.suggestions]
    """
    from .commands.options import model_or_default
    from .commands.suggest import suggest_from_args

    source = model.output_dir if isinstance(model, TrainedRun) else model
    args = _parsed("suggest", options, model=None if source is None else os.fspath(source))
    model_or_default(args)
    return suggest_from_args(args)


def parse_options(
    command: str,
    options: Mapping[str, Any],
    positionals: Mapping[str, Any] | None = None,
    parser: argparse.ArgumentParser | None = None,
) -> argparse.Namespace:
    """``respira COMMAND``'s options given as Python values (``{"split": "validation", "thresholds": (0.4,
    0.6)}``) and its positional arguments by name (``{"model": "runs/x"}``), as the namespace parsing its
    command line gives, with no command line: each value converted and checked by its option's own type
    and choices (a switch takes ``True`` / ``False``; a list or tuple fills an option taking several
    values, or else is comma-separated text, ``seeds=[0, 1]`` → ``"0,1"``; a mapping is JSON text);
    ``None`` leaves an option out. Raises :class:`CommandLineError` with the line ``respira`` prints for
    the same mistake on the command line: an unknown name (with the closest known ones), a value the
    option does not take, a required option left out."""
    from .training.recipe.recipe_keys import field_suggestions

    subcommand = (parser or build_parser()).commands[command]
    given = {name: value for name, value in options.items() if value is not None}
    unknown = [f"--{name}" for name in given if f"--{name}" not in subcommand.options]
    if unknown:
        suggest = field_suggestions if subcommand.field_names else None
        raise unknown_options_error(
            subcommand, unknown, fields=subcommand.field_names, suggest_fields=suggest
        )
    actions = {action.dest: action for action in subcommand.options.values()}
    missing = [
        "/".join(action.option_strings)
        for action in actions.values()
        if action.required and not any(f"--{name}" in action.option_strings for name in given)
    ]
    if missing:
        raise CommandLineError(subcommand.prog, f"the following arguments are required: {', '.join(missing)}")
    names = [*actions, *subcommand.positionals, "handler", "accepts_overrides"]
    model = subcommand.positionals.get("model")
    if model is not None and model.nargs == "?":  # add_model_argument's optional MODEL
        names.append("model_files")
    defaults = {name: subcommand.get_default(name) for name in names}
    values = {name: value for name, value in defaults.items() if value is not argparse.SUPPRESS}
    values.pop("help", None)
    for name, value in given.items():
        action = subcommand.options[f"--{name}"]
        values[action.dest] = _option_value(subcommand, action, value)
    return argparse.Namespace(
        **{"command": command, "debug": False, "overrides": [], **values, **(positionals or {})}
    )


def _option_value(command: argparse.ArgumentParser, action: argparse.Action, value: Any) -> Any:
    """``value`` as ``action`` parses its text (a switch: as its presence or absence)."""
    name = "/".join(action.option_strings)
    if action.nargs == 0 or action.type is string_to_bool:
        if not isinstance(value, bool):
            raise CommandLineError(command.prog, f"argument {name}: expected True or False, got {value!r}")
        return value if action.nargs != 0 else (action.const if value else action.default)
    if isinstance(value, (list, tuple)) and action.nargs not in (None, "?"):
        return [_typed(command, action, item) for item in value]
    if isinstance(value, (list, tuple)):
        value = ",".join(map(_option_text, value))
    return _typed(command, action, value)


def _typed(command: argparse.ArgumentParser, action: argparse.Action, value: Any) -> Any:
    """One value's text converted by ``action``'s type and checked against its choices, as argparse
    does and with its words."""
    name, text = "/".join(action.option_strings), _option_text(value)
    try:
        converted = text if action.type is None else action.type(text)
    except argparse.ArgumentTypeError as error:
        raise CommandLineError(command.prog, f"argument {name}: {error}") from None
    except (TypeError, ValueError):
        kind = getattr(action.type, "__name__", repr(action.type))
        raise CommandLineError(command.prog, f"argument {name}: invalid {kind} value: {text!r}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(repr, action.choices))
        raise CommandLineError(
            command.prog, f"argument {name}: invalid choice: {converted!r} (choose from {choices})"
        )
    return converted


def _option_text(value: Any) -> str:
    """A Python value as the text a flag reads (``True`` → ``true``, a mapping → JSON, a path → its text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Mapping):
        return json.dumps(value)
    return str(value)


def _parsed(command: str, options: Mapping[str, Any], **positionals: Any) -> argparse.Namespace:
    """``respira COMMAND``'s ``options`` and ``positionals`` as its parser reads them
    (:func:`parse_options`); its refusals as :class:`OptionError`."""
    try:
        return parse_options(command, options, positionals)
    except CommandLineError as error:
        raise OptionError(error.reason) from None
