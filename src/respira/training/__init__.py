"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Flat modules, each importing only those below it (an import-linter contract), lowest first:
``augment``, ``training_args`` (the options and the model they describe), ``recipe`` (YAML files and
flags), ``collator``, ``samplers``, ``run_folder``, ``data`` (the data options a run records),
``embedding_cache``, ``trainer``, ``cross_fit``, ``recipe_checks``, ``seeds``, ``cross_validation``,
``run``. Names are imported on first use.
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
__all__ = [
    "AudioCollator",
    "ContrastiveTupleBatchSampler",
    "FlattenedBatchSampler",
    "RandomOrderSampler",
    "RespiraTrainer",
    "RespiraTrainingArguments",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
