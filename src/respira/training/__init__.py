"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Rooms, each importing only those listed before it (an import-linter contract): ``augment``, ``recipe``,
``splits``, ``batches``, ``embeddings``, ``trainer``, ``run``. Names are imported on first use.
"""

from __future__ import annotations

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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
