"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Names are imported lazily (PEP 562), so a submodule such as :mod:`respira.training.flags` (the
command line's flags) imports without loading the trainer, ``datasets`` and pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "RespiraTrainingArguments": "arguments",
    "AudioCollator": "collator",
    "ClassBalancedSampler": "samplers",
    "ContrastiveTupleBatchSampler": "samplers",
    "FlattenedBatchSampler": "samplers",
    "GroupedBatchSampler": "samplers",
    "RandomOrderSampler": "samplers",
    "RespiraTrainer": "trainer",
}
__all__ = [
    "AudioCollator",
    "ClassBalancedSampler",
    "ContrastiveTupleBatchSampler",
    "FlattenedBatchSampler",
    "GroupedBatchSampler",
    "RandomOrderSampler",
    "RespiraTrainer",
    "RespiraTrainingArguments",
]

if TYPE_CHECKING:
    from .arguments import RespiraTrainingArguments
    from .collator import AudioCollator
    from .samplers import (
        ClassBalancedSampler,
        ContrastiveTupleBatchSampler,
        FlattenedBatchSampler,
        GroupedBatchSampler,
        RandomOrderSampler,
    )
    from .trainer import RespiraTrainer


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
