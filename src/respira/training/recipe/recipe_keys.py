"""A recipe's keys, shared by recipe files (:mod:`respira.training.recipe.recipe`) and command-line flags
(:mod:`respira.training.recipe.flags`): the four dataclasses whose fields they are (:data:`DATACLASSES`), an
unknown key named with the fields it may mean (:func:`field_suggestions`), and the parser both build,
whose errors are one line."""

from __future__ import annotations

import difflib
from dataclasses import fields
from typing import NoReturn

from transformers import HfArgumentParser

from .arguments import RespiraTrainingArguments
from .recipe_fields import DataArguments, ModelArguments, RunArguments

__all__ = ["DATACLASSES", "field_suggestions"]

DATACLASSES = (ModelArguments, DataArguments, RunArguments, RespiraTrainingArguments)


def _field_names() -> set[str]:
    return {f.name for cls in DATACLASSES for f in fields(cls) if f.init}


_ALIASES: dict[str, str] = {
    "epochs": "num_train_epochs",
    "max_epochs": "num_train_epochs",
    "lr": "learning_rate",
    "batch_size": "per_device_train_batch_size",
    "train_batch_size": "per_device_train_batch_size",
    "eval_batch_size": "per_device_eval_batch_size",
}
"""Names other tools use for an option, and respira's name for it (suggested before close spellings)."""


def _closest(key: str, valid: set[str]) -> list[str]:
    """Up to three suggestions for ``key``: close spellings (the second only if about as close as the
    first), then options whose name contains it."""
    close = difflib.get_close_matches(key, valid, n=2)
    ratios = [difflib.SequenceMatcher(None, key, name).ratio() for name in close]
    close = [name for name, ratio in zip(close, ratios, strict=True) if ratio >= ratios[0] - 0.1]
    return close + [name for name in sorted(valid) if key in name and name not in close][: 3 - len(close)]


def field_suggestions(key: str) -> list[str]:
    """The recipe fields an unknown option ``key`` may mean: respira's name for another tool's name
    (``lr`` → ``learning_rate``), else up to three close spellings or fields containing it."""
    alias = _ALIASES.get(key.replace("-", "_"))
    return [alias] if alias else _closest(key, _field_names())


def _check_keys(keys: list[str], source: str) -> None:
    valid = _field_names()
    unknown = [key for key in keys if key not in valid]
    if unknown:
        hints = []
        for key in unknown:
            close = field_suggestions(key)
            hints.append(f"{key!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        raise ValueError(f"unknown option(s) in {source}: {', '.join(hints)}")


class _RecipeParser(HfArgumentParser):
    """``HfArgumentParser`` whose errors are exceptions (one line), not a usage text and an exit."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(f"command line: {message}")
