"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Names are imported lazily (PEP 562), so a submodule such as :mod:`respira.training.recipe.flags` (the
command line's flags) imports without loading the trainer, ``datasets`` and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "RespiraTrainingArguments": "recipe.arguments",
    "AudioCollator": "batches.collator",
    "ClassBalancedSampler": "batches.samplers",
    "ContrastiveTupleBatchSampler": "batches.samplers",
    "FlattenedBatchSampler": "batches.samplers",
    "GroupedBatchSampler": "batches.samplers",
    "RandomOrderSampler": "batches.samplers",
    "RespiraTrainer": "trainer.trainer",
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
    from .batches.collator import AudioCollator
    from .batches.samplers import (
        ClassBalancedSampler,
        ContrastiveTupleBatchSampler,
        FlattenedBatchSampler,
        GroupedBatchSampler,
        RandomOrderSampler,
    )
    from .recipe.arguments import RespiraTrainingArguments
    from .trainer.trainer import RespiraTrainer


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
