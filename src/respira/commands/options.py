"""The command line's side of options several ``respira`` commands take: the positional ``MODEL`` and the
model it names (the options' fields themselves: :mod:`respira.options`)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..options import SWITCH
from ..pretrained import DEFAULT_DETECTOR_NAME

__all__ = ["add_model_argument", "model_or_default", "onnx_export_option", "options_of"]


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
    parser: argparse.ArgumentParser, help: str = MODEL_HELP, *, files: str | None = None
) -> None:
    """The positional ``MODEL`` a command runs (``help``: what it accepts, when more than the default); left
    out, the shipped detector runs (:func:`model_or_default`). ``files``: the destination of the
    command's recordings after ``MODEL`` (``predict``'s), where a recording argparse gave to ``MODEL``
    goes back."""
    help = f"{help} (default: respira's shipped detector, {DEFAULT_DETECTOR_NAME})"
    parser.add_argument("model", metavar="MODEL", nargs="?", help=help)
    parser.set_defaults(model_files=files)


def _is_recording(text: str) -> bool:
    """Whether a ``MODEL`` argument names a recording: an audio file name (a model is a folder, a
    shipped detector's name or a Hub id, never ``x.wav``), existing or not."""
    from pathlib import Path

    from ..screening.sources import AUDIO_SUFFIXES

    path = Path(text).expanduser()
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.is_dir()


def model_or_default(args: argparse.Namespace, files: str | None = None) -> str:
    """The model a command with an optional ``MODEL`` runs (:func:`respira.pretrained.shipped.chosen_model`),
    set as ``args.model``. argparse gives ``MODEL`` the first of two or more positionals: a recording
    there (:func:`_is_recording`) goes back to the front of ``files`` (the recordings' destination)."""
    from ..pretrained.shipped import chosen_model

    if args.model is not None and files is not None and _is_recording(args.model):
        setattr(args, files, [args.model, *getattr(args, files)])
        args.model = None
    args.model = chosen_model(args.model)
    return args.model


def options_of(args: argparse.Namespace, dataclass_type: type) -> Any:
    """The instance of the options dataclass ``dataclass_type`` that parsing gave (its fields of ``args``),
    as ``HfArgumentParser.parse_args_into_dataclasses`` makes it."""
    return dataclass_type(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(dataclass_type) if f.init}
    )
