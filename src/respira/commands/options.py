"""Options several ``respira`` commands take, defined once: the same name, type and help everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..data.corpora import CORPORA, CorpusSpec

__all__ = ["add_device_option", "add_flag_pair", "add_model_argument", "corpus_list"]

MODEL_HELP = "model folder or Hugging Face Hub id"


def add_model_argument(parser: argparse.ArgumentParser, help: str = MODEL_HELP) -> None:
    """The positional ``MODEL`` a command runs (``help``: what it accepts, when more than the default)."""
    parser.add_argument("model", metavar="MODEL", help=help)


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``: the torch device the model runs on."""
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")


def add_flag_pair(parser: argparse.ArgumentParser | argparse._ArgumentGroup, option: str, help: str) -> None:
    """An option taking one number for crackles and one for wheezes (``--thresholds 0.4 0.6``)."""
    parser.add_argument(option, type=float, nargs=2, metavar=("CRACKLE", "WHEEZE"), help=help)


def corpus_list(
    describe: Callable[[CorpusSpec], str] = lambda spec: spec.label,
    keep: Callable[[CorpusSpec], bool] = lambda spec: True,
) -> str:
    """The registered corpora that ``keep`` admits, each as ``describe`` words it, as ``a, b or c``: a
    help text that lists the corpora reads them here, so a plug-in corpus appears in it."""
    words = [describe(spec) for spec in CORPORA.values() if keep(spec)]
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"
