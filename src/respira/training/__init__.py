"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Names are imported lazily (PEP 562), so a submodule such as :mod:`respira.training.recipe.flags` (the
command line's flags) imports without loading the trainer, ``datasets`` and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "RespiraTrainingArguments": "recipe.arguments",
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
    from .collator import AudioCollator
    from .recipe.arguments import RespiraTrainingArguments
    from .samplers import (
        ClassBalancedSampler,
        ContrastiveTupleBatchSampler,
        FlattenedBatchSampler,
        GroupedBatchSampler,
        RandomOrderSampler,
    )
    from .trainer import RespiraTrainer


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
