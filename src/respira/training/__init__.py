"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Flat modules, each importing only those below it (an import-linter contract); names imported on first use.
"""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "RespiraTrainingArguments": "training_args",
    "AudioCollator": "collator",
    "ContrastiveTupleBatchSampler": "samplers",
    "FlattenedBatchSampler": "samplers",
    "RandomOrderSampler": "samplers",
    "RespiraTrainer": "trainer",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
