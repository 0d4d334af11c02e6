"""Reading an original (non-respira) checkpoint for a converter, in one place.

Checkpoints are only unpickled with ``torch.load(weights_only=True)``; :func:`load_original_checkpoint`
says in one line why a file is refused, and :func:`summarise_keys` shortens a list of state-dict keys.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ..utils.messages import one_line

__all__ = ["load_original_checkpoint", "summarise_keys"]

_PICKLE_PROTOCOL_2_OR_LATER = b"\x80"  # the first byte of a pickle written with protocol >= 2
_UNSAFE_REASON = re.compile(r"WeightsUnpickler error:\s*(.*?)(?:\s*Check the documentation|$)", re.DOTALL)


def summarise_keys(keys: Iterable[str], limit: int = 12) -> str:
    """The first ``limit`` of ``keys`` sorted, comma-separated, and how many more there are."""
    ordered = sorted(keys)
    shown = ", ".join(ordered[:limit])
    return shown + (f", … ({len(ordered) - limit} more)" if len(ordered) > limit else "")


def load_original_checkpoint(path: str | Path, expected: str) -> Any:
    """What ``torch.load(path, weights_only=True)`` returns, on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{expected} not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns of old pickle protocols before refusing them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come as several exception types
        raise ValueError(f"{path} is not {expected}: {_refusal(path, error)}") from None


def _refusal(path: Path, error: BaseException) -> str:
    with path.open("rb") as handle:
        first = handle.read(1)
    if not (zipfile.is_zipfile(path) or first == _PICKLE_PROTOCOL_2_OR_LATER):
        return "it is neither a torch.save file nor a pickle"
    found = _UNSAFE_REASON.search(str(error))
    reason = one_line(found.group(1) if found else error)
    first_sentence = reason.split(". ")[0].rstrip(".")  # torch goes on to explain how to allow it
    return f"torch.load(weights_only=True) refuses what it holds ({first_sentence})"
