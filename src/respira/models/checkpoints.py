"""What the converters of original checkpoints share (read with ``torch.load(weights_only=True)`` only)."""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..utils.files import check_output_folder, staged_folder
from ..utils.messages import one_line

__all__ = ["check_output_dir", "load_checked", "load_original_checkpoint", "save_converted", "summarise_keys"]

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


def load_checked(
    model: torch.nn.Module,
    mapped: Mapping[str, torch.Tensor],
    problem: str,
    name: Callable[[str], str] = str,
) -> None:
    """Load ``mapped`` into ``model`` strictly, after one ``ValueError`` listing every key that misfits."""
    expected = model.state_dict()
    missing = [name(key) for key in set(expected) - set(mapped)]
    unexpected = [name(key) for key in set(mapped) - set(expected)]
    mismatched = [
        f"{name(key)}: checkpoint {tuple(mapped[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in set(mapped) & set(expected)
        if mapped[key].shape != expected[key].shape
    ]
    problems = [
        f"{what} ({len(keys)}): {summarise_keys(keys, limit)}"
        for what, keys, limit in (
            ("missing keys", missing, 12),
            ("unexpected keys", unexpected, 12),
            ("shape mismatches", mismatched, 6),
        )
        if keys
    ]
    if problems:
        raise ValueError(f"{problem}: " + "; ".join(problems))
    model.load_state_dict(mapped, strict=True)


def check_output_dir(output_dir: Path, overwrite: bool) -> str:
    """Refuse an occupied ``output_dir`` without ``overwrite``, before any work; return the message."""
    occupied = f"{output_dir} exists and is not empty; pass overwrite=True (--overwrite) to replace it"
    check_output_folder(output_dir, overwrite=overwrite, exists_message=occupied)
    return occupied


def save_converted(model: Any, output_dir: Path, overwrite: bool, occupied: str) -> Path:
    """``model.save_pretrained`` into a staging folder swapped into ``output_dir`` once complete."""
    with staged_folder(output_dir, overwrite=overwrite, exists_message=occupied) as staging:
        model.save_pretrained(staging)
    return output_dir
