"""Training: ``RespiraTrainer`` (task loss + λ·auxiliary loss), its arguments, samplers and collator.

Its rooms, each importing only rooms listed above it (an import-linter contract in ``pyproject.toml``):

* :mod:`~respira.training.augment`: waveform augmentations, same-label concatenation, Patch-Mix;
* :mod:`~respira.training.recipe`: the recipe (training arguments; model, data and run fields), read
  from YAML and flags, and the classifier it describes;
* :mod:`~respira.training.splits`: the dataset splits a recipe builds, other corpora mixed in;
* :mod:`~respira.training.batches`: samplers and the collator;
* :mod:`~respira.training.embeddings`: the embedding store of frozen-encoder runs;
* :mod:`~respira.training.trainer`: ``RespiraTrainer``, its loss terms, decision rule, log lines and
  schedules;
* :mod:`~respira.training.run`: ``respira train`` (seeds, folds, cross-fitted thresholds, the run
  folder) and the sweep folder.

Names are imported lazily (PEP 562), so a submodule such as :mod:`respira.training.recipe.flags` (the
command line's flags) imports without loading the trainer, ``datasets`` and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "RespiraTrainingArguments": "recipe.arguments",
    "AudioCollator": "batches.collator",
    "ContrastiveTupleBatchSampler": "batches.samplers",
    "FlattenedBatchSampler": "batches.samplers",
    "GroupedBatchSampler": "batches.samplers",
    "RandomOrderSampler": "batches.samplers",
    "RespiraTrainer": "trainer.trainer",
}
__all__ = [
    "AudioCollator",
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
        ContrastiveTupleBatchSampler,
        FlattenedBatchSampler,
        GroupedBatchSampler,
        RandomOrderSampler,
    )
    from .recipe.arguments import RespiraTrainingArguments
    from .trainer.trainer import RespiraTrainer


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
