"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Rooms, each importing only those listed before it (an import-linter contract): ``augment``, ``recipe``,
``splits``, ``batches``, ``embeddings``, ``trainer``, ``run``.
Names are imported lazily (PEP 562), so :mod:`respira.training.recipe.flags` imports without the trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "RespiraTrainingArguments": "recipe.arguments",
    "AudioCollator": "batches.collator",
    "ContrastiveTupleBatchSampler": "batches.samplers",
    "FlattenedBatchSampler": "batches.samplers",
    "RandomOrderSampler": "batches.samplers",
    "RespiraTrainer": "trainer.trainer",
}
__all__ = [
    "AudioCollator",
    "ContrastiveTupleBatchSampler",
    "FlattenedBatchSampler",
    "RandomOrderSampler",
    "RespiraTrainer",
    "RespiraTrainingArguments",
]

if TYPE_CHECKING:
    from .batches.collator import AudioCollator
    from .batches.samplers import (
        ContrastiveTupleBatchSampler,
        FlattenedBatchSampler,
        RandomOrderSampler,
    )
    from .recipe.arguments import RespiraTrainingArguments
    from .trainer.trainer import RespiraTrainer


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
