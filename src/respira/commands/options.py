"""Options several ``respira`` commands take, defined once: the same name, type and help everywhere."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

from ..core.windows import AGGREGATIONS, DEFAULT_AGGREGATION, DEFAULT_BATCH_SIZE, DEFAULT_TOP_K
from ..data.corpora import CORPORA, PRIMARY_CORPUS, CorpusSpec
from ..pretrained import DEFAULT_DETECTOR_NAME

__all__ = [
    "SHARED_OPTIONS",
    "SWITCH",
    "AggregationOptions",
    "SharedOption",
    "add_flag_pair",
    "add_model_argument",
    "aggregation_options",
    "corpus_list",
    "embedding_batch_size",
    "model_aggregation",
    "model_or_default",
    "onnx_export_option",
    "option",
]


@dataclasses.dataclass(frozen=True)
class SharedOption:
    """An option several commands take: its one default and the help a command may word for itself."""

    default: Any
    help: str


SHARED_OPTIONS: dict[str, SharedOption] = {
    "data_dir": SharedOption(None, "the corpus folder"),
    "dataset": SharedOption(PRIMARY_CORPUS, f"which corpus (default: {PRIMARY_CORPUS})"),
    "output_dir": SharedOption(None, "folder to create"),
    "overwrite": SharedOption(False, "replace an existing output folder"),
    "batch_size": SharedOption(DEFAULT_BATCH_SIZE, "windows per forward pass"),
    "device": SharedOption(None, "torch device (default: cuda if available, else cpu)"),
    "threads": SharedOption(
        None,
        "torch intra-op threads (default: the usable cores other processes leave idle; RESPIRA_NUM_THREADS "
        "or OMP_NUM_THREADS when set)",
    ),
}
"""The options every command that takes them takes with the same name, type and default (``MODEL`` is
:func:`add_model_argument`'s positional). ``batch_size``: the windows'
:data:`~respira.core.windows.DEFAULT_BATCH_SIZE`."""


def option(name: str, help: str | None = None, *, required: bool = False, **metadata: Any) -> Any:
    """The dataclass field of shared option ``name`` (:data:`SHARED_OPTIONS`): its default, or none when
    ``required``; ``help``: the command's wording (default: the shared one); ``metadata``: more of
    ``add_argument``'s keywords (``choices``, ``metavar``). A bool switch reads ``--overwrite`` alone as
    true, as ``HfArgumentParser`` makes every bool field."""
    shared = SHARED_OPTIONS[name]
    metadata = {"help": shared.help if help is None else help, **metadata}
    if isinstance(shared.default, bool):
        metadata.setdefault("metavar", "BOOL")
    if required:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=shared.default, metadata=metadata)


SWITCH: dict[str, Any] = {"nargs": "?", "const": True, "metavar": "BOOL"}
"""The ``metadata`` that makes a ``bool | None = None`` field a switch too (``--onnx`` alone is true, left
out it is ``None``: "the folder decides"), as ``HfArgumentParser`` makes a ``bool`` field."""


def embedding_batch_size() -> Any:
    """``--batch_size`` of the commands that embed a site's recordings (``fit-site``, ``suggest``): by
    device, as screening batches (a small batch stays in the CPU's cache)."""
    return dataclasses.field(
        default=None, metadata={"help": "windows per forward pass (default: 8 CPU, 64 GPU)"}
    )


def onnx_export_option() -> Any:
    """``--onnx`` of the commands that write a model folder (``export``, ``push``): also write
    ``model.onnx``, by default when the folder already holds one. (``predict``'s ``--onnx`` runs a model's
    ``model.onnx`` instead: another option of the same name.)"""
    return dataclasses.field(
        default=None,
        metadata={
            "help": "also write model.onnx: waveforms → probabilities, runs with onnxruntime alone "
            "(needs pip install 'respira[onnx]'; default: when the folder already holds one)",
            **SWITCH,
        },
    )


MODEL_HELP = "model folder, a shipped detector's name (`respira detectors`) or Hugging Face Hub id"


def add_model_argument(
    parser: argparse.ArgumentParser,
    help: str = MODEL_HELP,
    *,
    files: str | None = None,
    optional: bool = True,
) -> None:
    """The positional ``MODEL`` a command runs (``help``: what it accepts, when more than the default).

    It may be left out: respira's shipped detector then runs, and ``respira`` says so before the command
    does (:func:`model_or_default`, called for every command that has a ``MODEL``). ``files``: the
    destination of the command's list of recordings that follows ``MODEL`` (``predict``'s ``files``),
    where a recording argparse gave to ``MODEL`` goes back. ``optional=False`` is left for a command
    that must be told which model.
    """
    if optional:
        help = f"{help} (default: respira's shipped detector, {DEFAULT_DETECTOR_NAME})"
        parser.add_argument("model", metavar="MODEL", nargs="?", help=help)
        parser.set_defaults(model_files=files)
    else:
        parser.add_argument("model", metavar="MODEL", help=help)


def _is_folder(text: str) -> bool:
    from pathlib import Path

    return Path(text).expanduser().is_dir()


def _is_recording(text: str) -> bool:
    """Whether a ``MODEL`` argument names a recording: an audio file name (a model is a folder, a
    shipped detector's name or a Hub id, never ``x.wav``), existing or not."""
    from pathlib import Path

    from ..screening.sources import AUDIO_SUFFIXES

    path = Path(text).expanduser()
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.is_dir()


def model_or_default(args: argparse.Namespace, files: str | None = None) -> str:
    """The model a command with an optional ``MODEL`` runs, saying so on stderr when it is a shipped
    detector (the default, or one named by its name), with the sites it serves.

    ``files``: the name of the command's positional list of recordings. argparse gives ``MODEL`` the
    first positional whenever there are two or more; a recording there (:func:`_is_recording`) goes
    back to the front of the recordings and the default runs (a folder, a shipped detector's name or a
    Hub id stays the model). A shipped detector's name becomes its folder.
    """
    import sys
    from pathlib import Path

    from ..pretrained import default_detector_dir, sites_line
    from ..pretrained.shipped import shipped_detector

    if args.model is not None and files is not None and _is_recording(args.model):
        setattr(args, files, [args.model, *getattr(args, files)])
        args.model = None
    if args.model is None:
        name, folder = DEFAULT_DETECTOR_NAME, default_detector_dir()
    elif not _is_folder(args.model) and (found := shipped_detector(args.model)) is not None:
        name, folder = args.model, found
    else:
        named = Path(args.model).expanduser()
        sites = sites_line(named) if named.is_dir() else ""
        if sites:  # a folder that records where it was scored (a copy of the shipped one, an export...)
            print(f"model: {args.model}; it {sites}", file=sys.stderr)
        return args.model
    sites = sites_line(folder)
    print(f"model: respira's shipped detector {name}{f'; it {sites}' if sites else ''}", file=sys.stderr)
    args.model = str(folder)
    return args.model


def add_flag_pair(parser: argparse.ArgumentParser | argparse._ArgumentGroup, option: str, help: str) -> None:
    """An option taking one number for crackles and one for wheezes (``--thresholds 0.4 0.6``)."""
    parser.add_argument(option, type=float, nargs=2, metavar=("CRACKLE", "WHEEZE"), help=help)


@dataclasses.dataclass
class AggregationOptions:
    """``--aggregation`` / ``--top_k`` of the commands that turn a recording's window probabilities into its
    own (read them with :func:`aggregation_options`); none given: the model's own rule."""

    aggregation: str | None = dataclasses.field(
        default=None,
        metadata={
            "choices": AGGREGATIONS,
            "help": "window probabilities → recording: max, mean, or topk_mean (mean of the --top_k "
            "largest); default: the model's own rule (its config's recording_aggregation, else "
            f"{DEFAULT_AGGREGATION})",
        },
    )
    top_k: int | None = dataclasses.field(
        default=None,
        metadata={"help": f"windows averaged by --aggregation topk_mean (default: {DEFAULT_TOP_K})"},
    )


def aggregation_options(args: argparse.Namespace) -> tuple[str | None, int | None]:
    """The ``(rule, top_k)`` that ``--aggregation`` / ``--top_k`` ask for, ``(None, None)`` when neither
    is given (the model's own rule: :func:`model_aggregation`); one-line ``ValueError`` for a ``--top_k``
    without ``topk_mean`` or under 1."""
    rule = args.aggregation
    if rule != "topk_mean":
        if args.top_k is not None:
            raise ValueError("--top_k applies to --aggregation topk_mean only")
        return rule, None
    top_k = DEFAULT_TOP_K if args.top_k is None else args.top_k
    if top_k < 1:
        raise ValueError(f"--top_k must be a whole number >= 1, got {top_k}")
    return rule, top_k


def model_aggregation(rule: str | None, top_k: int | None, config: Any) -> tuple[str, int | None]:
    """:func:`aggregation_options`' ``(rule, top_k)``, or the model's own rule
    (:func:`respira.core.decision.aggregation_of` its ``config``) when no flag asked for one."""
    from ..core.decision import aggregation_of

    return (rule, top_k) if rule is not None else aggregation_of(config)


def corpus_list(
    describe: Callable[[CorpusSpec], str] = lambda spec: spec.label,
    keep: Callable[[CorpusSpec], bool] = lambda spec: True,
) -> str:
    """The registered corpora that ``keep`` admits, each as ``describe`` words it, as ``a, b or c``: a
    help text that lists the corpora reads them here, so a plug-in corpus appears in it."""
    words = [describe(spec) for spec in CORPORA.values() if keep(spec)]
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"
