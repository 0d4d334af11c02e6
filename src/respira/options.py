"""Commands' options as dataclasses: ``HfArgumentParser`` makes their fields flags, :func:`options_from`
makes them of Python keyword arguments, checked as the flags are; the options commands share."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

from transformers import HfArgumentParser
from transformers.hf_argparser import string_to_bool

from .data.corpus_files import PRIMARY_CORPUS
from .models.respira.audio_decoding import check_whole, is_real
from .models.respira.decision import FRAME_HOP_SECONDS
from .models.respira.windows import (
    AGGREGATIONS,
    DEFAULT_AGGREGATION,
    DEFAULT_BATCH_SIZE,
    DEFAULT_HOP_SECONDS,
    DEFAULT_TOP_K,
    DEFAULT_WINDOW_SECONDS,
)
from .pretrained import DEFAULT_DETECTOR_NAME
from .utils.messages import unknown_names

if TYPE_CHECKING:
    from .data.corpora import CorpusSpec

HYPHEN_ALIAS = re.compile(r"(--\w+)/--\w*-[\w-]*")  # "--learning_rate/--learning-rate" → "--learning_rate"


class OptionError(ValueError):
    """An option refused before any work, in the words ``respira`` prints after ``error:``."""


class _Folders(argparse.Action):
    """``--data_dir A [B ...]``: one folder as its path, several as the list of them."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


FOLDERS: dict[str, Any] = {"nargs": "+", "action": _Folders, "metavar": "FOLDER"}
"""The ``metadata`` of a corpus's ``--data_dir``: one folder, or the several one corpus spans."""

SHARED_OPTIONS: dict[str, tuple[Any, str]] = {
    "data_dir": (None, "the corpus folder"),
    "dataset": (PRIMARY_CORPUS, f"which corpus (default: {PRIMARY_CORPUS})"),
    "output_dir": (None, "folder to create"),
    "overwrite": (False, "replace an existing output folder"),
    "batch_size": (DEFAULT_BATCH_SIZE, "windows per forward pass"),
    "device": (None, "torch device (default: cuda if available, else cpu; on cuda: full float32, no TF32)"),
    "threads": (
        None,
        "torch intra-op threads (default: the usable cores other processes leave idle; RESPIRA_NUM_THREADS "
        "or OMP_NUM_THREADS when set)",
    ),
}
"""The options every command that takes them takes with the same name, type, ``(default, help)``."""


def option(name: str, help: str | None = None, *, required: bool = False, **metadata: Any) -> Any:
    """The dataclass field of shared option ``name`` (no default when ``required``); ``help``: the
    command's wording; ``metadata``: more ``add_argument`` keywords (``choices``, ``metavar``)."""
    default, shared_help = SHARED_OPTIONS[name]
    if isinstance(default, bool):
        metadata.setdefault("metavar", "BOOL")
    help = shared_help if help is None else help
    return flag(dataclasses.MISSING if required else default, help, **metadata)


def flag(default: Any = dataclasses.MISSING, help: str = "", **metadata: Any) -> Any:
    """A dataclass field ``HfArgumentParser`` makes a flag (no ``default``: required)."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


SWITCH: dict[str, Any] = {"nargs": "?", "const": True, "metavar": "BOOL"}
"""The ``metadata`` that makes a ``bool | None`` field a switch (``--onnx`` alone is true)."""


def onnx_export_option() -> Any:
    """``--onnx`` of ``export`` and ``push``: also write ``model.onnx`` (default: if the folder has one)."""
    return flag(
        None,
        "also write model.onnx: waveforms → probabilities, runs with onnxruntime alone "
        "(needs pip install 'respira[onnx]'; default: when the folder already holds one)",
        **SWITCH,
    )


def with_code_option(default: str) -> Any:
    """``--with_code`` of ``export`` and ``push`` (``None`` unless given); ``default``: when the code ships
    unasked."""
    return flag(
        None,
        "ship the model's code (auto_map), so transformers loads it with trust_remote_code=True "
        f"where respira is not installed; false: only `import respira` loads it (default: {default})",
        **SWITCH,
    )


RUN_DIR_HELP = (
    "model folder (config.json + model.safetensors: `respira train`, `respira fit-site`) or the name of a "
    "detector respira ships (`respira detectors`)"
)
MODEL_HELP = "model folder, a shipped detector's name (`respira detectors`) or Hugging Face Hub id"


def add_model_argument(
    parser: argparse.ArgumentParser, help: str = MODEL_HELP, *, files: str | None = None
) -> None:
    """The optional positional ``MODEL`` (:func:`respira.cli.model_or_default`); ``files``: where a
    recording given as ``MODEL`` goes back."""
    help = f"{help} (default: respira's shipped detector, {DEFAULT_DETECTOR_NAME})"
    parser.add_argument("model", metavar="MODEL", nargs="?", help=help)
    parser.set_defaults(model_files=files)


def options_of(args: argparse.Namespace, dataclass_type: type) -> Any:
    """The options dataclass ``dataclass_type`` made of its fields in ``args``."""
    return dataclass_type(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(dataclass_type) if f.init}
    )


def embedding_batch_size() -> Any:
    """``--batch_size`` of ``fit-site`` and ``suggest``: by device, as screening batches."""
    return flag(None, "windows per forward pass (default: 8 CPU, 64 GPU)")


def corpus_list(
    describe: Callable[[CorpusSpec], str] = lambda spec: spec.label,
    keep: Callable[[CorpusSpec], bool] = lambda spec: True,
) -> str:
    """The registered corpora ``keep`` admits, as ``describe`` words each, listed ``a, b or c``."""
    from .data.corpora import CORPORA

    words = [describe(spec) for spec in CORPORA.values() if keep(spec)]
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


class _Recorder(HfArgumentParser):
    def __init__(self, dataclass_types: Iterable[type]) -> None:
        self.calls: list[tuple[str | None, tuple[str, ...], dict[str, Any]]] = []
        super().__init__(list(dataclass_types), add_help=False)

    def add_argument_group(self, title: str | None = None, *args: Any, **kwargs: Any) -> Any:
        return SimpleNamespace(
            add_argument=lambda *names, **options: self.calls.append((title, names, options))
        )

    def add_argument(self, *names: str, **options: Any) -> None:
        self.calls.append((None, names, options))


def option_specs(dataclass_types: Iterable[type]) -> list[tuple[str | None, tuple[str, ...], dict[str, Any]]]:
    """The ``(group, names, add_argument keywords)`` ``HfArgumentParser`` makes of each field, in order."""
    return _Recorder(dataclass_types).calls


def unrecognized(
    names: Iterable[str], known: Iterable[str], suggest: Callable[[str], list[str]] | None
) -> str:
    """``unrecognized arguments: --x (did you mean --y?)``: the closest ``known`` flags, else the fields
    ``suggest`` offers for ``x``."""
    fields = None if suggest is None else lambda name: [f"--{field}" for field in suggest(name[2:])]
    return f"unrecognized arguments: {unknown_names(names, list(known), fields, shown=str, cutoff=0.7)}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return json.dumps(value) if isinstance(value, Mapping) else str(value)


class OptionParser(HfArgumentParser):
    """``HfArgumentParser`` raising its errors as one-line :class:`OptionError`, not usage and an exit."""

    def error(self, message: str) -> NoReturn:
        raise OptionError(HYPHEN_ALIAS.sub(r"\1", message))


def checked_values(
    values: Mapping[str, Any],
    dataclass_types: Iterable[type],
    suggest: Callable[[str], list[str]] | None = None,
) -> dict[str, Any]:
    """``values`` (name → Python value; ``None``: not given) parsed as their flags (of ``dataclass_types``'
    fields) are; :class:`OptionError` with the line ``respira`` prints for that mistake."""
    dataclass_types = list(dataclass_types)
    flags = {}  # each spelling without hyphens → (dest, its spellings, add_argument keywords)
    for _, names, options in option_specs(dataclass_types):
        dest, shown = options.get("dest") or names[0][2:], [name for name in names if "-" not in name[2:]]
        if names[0] == f"--{dest}":  # not a --no_field complement
            flags.update({name[2:]: (dest, "/".join(shown), options) for name in shown})
    given = {name: value for name, value in values.items() if value is not None}
    if unknown := [f"--{name}" for name in given if name not in flags]:
        raise OptionError(unrecognized(unknown, [f"--{name}" for name in flags], suggest))
    argv = []
    for name, value in given.items():
        _, shown, options = flags[name]
        if options.get("type") is string_to_bool and not isinstance(value, bool):
            raise OptionError(f"argument {shown}: expected True or False, got {value!r}")
        many = options.get("nargs") not in (None, "?")
        listed = isinstance(value, (list, tuple)) and (many or options.get("type") is str)
        texts = [_text(item) for item in value] if listed else [_text(value)]  # else refused as "[1, 2]"
        argv += [f"--{name}", *texts] if many else [f"--{name}={','.join(texts)}"]
    parsed = vars(OptionParser(dataclass_types, add_help=False).parse_args(argv))
    return {flags[name][0]: parsed[flags[name][0]] for name in given}


def options_from(dataclass_type: type, values: Mapping[str, Any]) -> Any:
    """``dataclass_type`` made of keyword ``values``, each checked as its flag is (:func:`checked_values`)."""
    return dataclass_type(**checked_values(values, [dataclass_type]))


def check_fields(options: Any, ranges: dict[str, str], choices: dict[str, tuple[str, ...]]) -> None:
    """One-line ``ValueError`` for a field of ``options`` outside its interval in ``ranges`` (``"[0, 1)"``;
    an ``int`` field takes whole numbers only, ``None`` passes where its type takes it) or its ``choices``."""
    hints = typing.get_type_hints(type(options))
    for name, interval in ranges.items():
        value, kinds = getattr(options, name), typing.get_args(hints[name]) or (hints[name],)
        if value is None and type(None) in kinds:
            continue
        low, high = interval[1:-1].split(", ")
        if int in kinds:  # whole numbers: the closed range of the interval
            highest = None if high == "inf" else int(high) - (interval[-1] == ")")
            setattr(options, name, check_whole(value, name, int(low) + (interval[0] == "("), highest))
            continue
        if is_real(value) and math.isfinite(value):
            above = value > float(low) if interval[0] == "(" else value >= float(low)
            if above and (value < float(high) if interval[-1] == ")" else value <= float(high)):
                continue
        bounds = f"{'>' if interval[0] == '(' else '>='} {low}" if high == "inf" else f"in {interval}"
        raise ValueError(f"{name} must be a number {bounds}, got {value!r}")
    for name, allowed in choices.items():
        if getattr(options, name) not in allowed:
            raise ValueError(f"{name}={getattr(options, name)!r} is not one of {', '.join(allowed)}")


WINDOW_OPTIONS: dict[str, tuple[Any, str]] = {
    "window": (DEFAULT_WINDOW_SECONDS, f"window length in seconds (default {DEFAULT_WINDOW_SECONDS:g})"),
    "hop": (DEFAULT_HOP_SECONDS, f"hop between windows in seconds (default {DEFAULT_HOP_SECONDS:g})"),
    "smoothing": (1, "moving average of the probabilities over k windows"),
    "frame_hop": (
        FRAME_HOP_SECONDS,
        f"with --events: frame hop in seconds (default {FRAME_HOP_SECONDS}, at most 0.1)",
    ),
    "aggregation": (
        None,
        "window probabilities → recording: max, mean, or topk_mean (mean of the --top_k "
        "largest); default: the model's own rule (its config's recording_aggregation, else "
        f"{DEFAULT_AGGREGATION})",
    ),
    "top_k": (None, f"windows averaged by --aggregation topk_mean (default: {DEFAULT_TOP_K})"),
}
"""``(default, help)`` of the options that cut a recording into windows and aggregate them (``predict``,
``screen``; ``--aggregation`` and ``--top_k`` also ``evaluate``'s)."""


def window_option(name: str) -> Any:
    """The dataclass field of window option ``name`` (:data:`WINDOW_OPTIONS`)."""
    default, help = WINDOW_OPTIONS[name]
    return flag(default, help, **({"choices": AGGREGATIONS} if name == "aggregation" else {}))


def check_frame_hop(args: Any) -> None:
    """One-line ``ValueError`` for a ``--frame_hop`` without ``--events`` or outside (0, 0.1]."""
    if not args.events and args.frame_hop != FRAME_HOP_SECONDS:
        raise ValueError("--frame_hop applies to --events: add --events")
    if not 0 < args.frame_hop <= 0.1:
        raise ValueError(f"--frame_hop must be in (0, 0.1] seconds, got {args.frame_hop}")


@dataclasses.dataclass
class AggregationOptions:
    """``evaluate``'s ``--aggregation`` / ``--top_k`` (:func:`aggregation_options`); none given: the model's
    rule."""

    aggregation: str | None = window_option("aggregation")
    top_k: int | None = window_option("top_k")


def aggregation_options(args: Any) -> tuple[str | None, int | None]:
    """The ``(rule, top_k)`` ``args.aggregation`` / ``args.top_k`` ask for, ``(None, None)`` for neither;
    one-line ``ValueError`` for a ``--top_k`` without ``topk_mean`` or under 1."""
    rule = args.aggregation
    if rule != "topk_mean":
        if args.top_k is not None:
            raise ValueError("--top_k applies to --aggregation topk_mean only")
        return rule, None
    top_k = DEFAULT_TOP_K if args.top_k is None else args.top_k
    return rule, check_whole(top_k, "--top_k")
