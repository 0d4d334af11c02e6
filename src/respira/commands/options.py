"""Options several ``respira`` commands take, defined once: the same name, type and help everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..data.corpora import CORPORA, CorpusSpec
from ..pretrained import DEFAULT_DETECTOR_NAME
from ..windows import AGGREGATIONS, DEFAULT_AGGREGATION, DEFAULT_TOP_K

__all__ = [
    "add_aggregation_options",
    "add_device_option",
    "add_flag_pair",
    "add_model_argument",
    "aggregation_options",
    "corpus_list",
    "model_or_default",
]

MODEL_HELP = "model folder or Hugging Face Hub id"


def add_model_argument(
    parser: argparse.ArgumentParser, help: str = MODEL_HELP, *, optional: bool = False
) -> None:
    """The positional ``MODEL`` a command runs (``help``: what it accepts, when more than the default).

    ``optional``: it may be left out, and then respira's shipped detector runs (:func:`model_or_default`).
    """
    if optional:
        help = f"{help} (default: respira's shipped detector, {DEFAULT_DETECTOR_NAME})"
        parser.add_argument("model", metavar="MODEL", nargs="?", help=help)
    else:
        parser.add_argument("model", metavar="MODEL", help=help)


def model_or_default(args: argparse.Namespace, files: str | None = None) -> str:
    """The model a command with an optional ``MODEL`` runs, saying so on stderr when it is the default,
    with the sites it serves (:func:`respira.pretrained.sites_line`), which it also says of a named model
    folder that records them (a copy or an export of the shipped detector).

    ``files``: the name of the command's positional list of recordings. argparse gives ``MODEL`` the
    first positional whenever there are two or more; an existing file there is a recording (a model is a
    folder or a Hub id), so it goes back to the front of the recordings and the default runs (any other
    file stays the model, and loading it says it is no model folder).
    """
    import sys
    from pathlib import Path

    from ..pretrained import default_detector_dir, sites_line
    from ..screening.sources import AUDIO_SUFFIXES

    given = Path(args.model).expanduser() if args.model is not None else None
    if given is not None and files is not None and given.suffix.lower() in AUDIO_SUFFIXES and given.is_file():
        setattr(args, files, [args.model, *getattr(args, files)])
        args.model = None
    if args.model is not None:
        named = Path(args.model).expanduser()
        sites = sites_line(named) if named.is_dir() else ""
        if sites:  # a folder that records where it was scored (a copy of the shipped one, an export...)
            print(f"model: {args.model}; it {sites}", file=sys.stderr)
        return args.model
    folder = default_detector_dir()
    sites = sites_line(folder)
    print(
        f"model: respira's shipped detector {DEFAULT_DETECTOR_NAME}{f'; it {sites}' if sites else ''}",
        file=sys.stderr,
    )
    args.model = str(folder)
    return args.model


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``: the torch device the model runs on."""
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")


def add_flag_pair(parser: argparse.ArgumentParser | argparse._ArgumentGroup, option: str, help: str) -> None:
    """An option taking one number for crackles and one for wheezes (``--thresholds 0.4 0.6``)."""
    parser.add_argument(option, type=float, nargs=2, metavar=("CRACKLE", "WHEEZE"), help=help)


def add_aggregation_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--aggregation`` / ``--top_k``: how a recording's window probabilities become its own (read them
    with :func:`aggregation_options`)."""
    parser.add_argument(
        "--aggregation",
        choices=AGGREGATIONS,
        help=f"window probabilities → recording: {DEFAULT_AGGREGATION} (default), or topk_mean (mean of the "
        "--top_k largest)",
    )
    parser.add_argument(
        "--top_k", type=int, help=f"windows averaged by --aggregation topk_mean (default: {DEFAULT_TOP_K})"
    )


def aggregation_options(args: argparse.Namespace) -> tuple[str, int | None]:
    """The ``(rule, top_k)`` that ``--aggregation`` / ``--top_k`` ask for; one-line ``ValueError`` for a
    ``--top_k`` without ``topk_mean`` or under 1."""
    rule = args.aggregation or DEFAULT_AGGREGATION
    if rule != "topk_mean":
        if args.top_k is not None:
            raise ValueError("--top_k applies to --aggregation topk_mean only")
        return rule, None
    top_k = DEFAULT_TOP_K if args.top_k is None else args.top_k
    if top_k < 1:
        raise ValueError(f"--top_k must be a whole number >= 1, got {top_k}")
    return rule, top_k


def corpus_list(
    describe: Callable[[CorpusSpec], str] = lambda spec: spec.label,
    keep: Callable[[CorpusSpec], bool] = lambda spec: True,
) -> str:
    """The registered corpora that ``keep`` admits, each as ``describe`` words it, as ``a, b or c``: a
    help text that lists the corpora reads them here, so a plug-in corpus appears in it."""
    words = [describe(spec) for spec in CORPORA.values() if keep(spec)]
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"
